# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""keyframe_player publishes the procedural scene's path as Keyframes."""

import numpy as np
import pytest
from rclpy.parameter import Parameter

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions import keyframe_to_view
from anyrecon_ros.ros.keyframe_player import KeyframePlayer
from anyrecon_ros.ros.keyframe_player import parse_scene
from anyrecon_ros.ros.qos import keyframe_qos


def test_player_publishes_the_scene_path(ros):
    player = KeyframePlayer(context=ros.context, parameter_overrides=[
        Parameter('scene', value='synthetic:5'), Parameter('frames', value=3),
        Parameter('rate', value=20.0)])
    ros.executor.add_node(player)
    ros.nodes.append(player)
    received = ros.collect(Keyframe, 'keyframe', keyframe_qos())
    assert ros.spin_until(lambda: len(received) >= 3, timeout=30)
    # frames=3 and loop=false: nothing after the third.
    ros.spin_until(lambda: len(received) > 3, timeout=1.0)
    assert [msg.id for msg in received] == [0, 1, 2]

    scene, camera = ProceduralScene(seed=5), default_camera()
    for msg, pose in zip(received, scene.camera_path(3)):
        view = keyframe_to_view(msg)
        assert msg.header.frame_id == 'map'
        assert np.allclose(view.camera_to_world, pose, atol=1e-9)
        rgb, depth = scene.render(camera, pose)
        assert np.array_equal(view.rgb, rgb)
        assert np.array_equal(view.depth, depth)


@pytest.mark.parametrize('spec', ['kitchen', 'synthetic:', 'synthetic:-1', 'synthetic:x'])
def test_unknown_scene_is_a_clear_error(spec):
    with pytest.raises(ValueError, match='synthetic:SEED'):
        parse_scene(spec)
