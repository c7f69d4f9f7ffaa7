# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""memory_node in a process of its own exchanges Keyframes with this one over DDS."""

import copy

import numpy as np
import pytest

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.msg import MemoryStatus
from anyrecon_ros.ros.conversions import keyframe_to_view
from anyrecon_ros.ros.conversions import view_to_keyframe
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import status_qos


@pytest.fixture(scope='module')
def views():
    scene = ProceduralScene(seed=2)
    return [scene.capture_view(default_camera(), pose, view_id)
            for view_id, pose in enumerate(scene.camera_path(3))]


def corrupted(msg: Keyframe, **changes) -> Keyframe:
    """Return a deep copy of ``msg`` with nested attributes (``image__encoding``) changed."""
    changed = copy.deepcopy(msg)
    for path, value in changes.items():
        *parents, leaf = path.split('__')
        target = changed
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, leaf, value)
    return changed


def test_memory_node_stores_valid_keyframes_and_counts_bad_ones(ros, views):
    ros.start_process('-m', 'anyrecon_ros.ros.memory_node', '--ros-args',
                      '-p', 'status_period:=0.2')
    node = ros.node('keyframe_source')
    publisher = node.create_publisher(Keyframe, 'keyframe', keyframe_qos())
    echoed = ros.collect(Keyframe, '/memory_node/keyframes', keyframe_qos(), node)
    statuses = ros.collect(MemoryStatus, '/memory_node/status', status_qos(), node)
    assert ros.spin_until(lambda: publisher.get_subscription_count() > 0, timeout=30)
    assert ros.spin_until(lambda: statuses, timeout=30), 'no status from memory_node'

    good = [view_to_keyframe(view, 'map') for view in views]
    bad = [
        corrupted(good[0], id=100, image__encoding='yuv422'),
        corrupted(good[0], id=101, pose__orientation__x=0.0, pose__orientation__y=0.0,
                  pose__orientation__z=0.0, pose__orientation__w=0.0),
        corrupted(good[0], id=105, pose__position__x=float('nan')),
        corrupted(good[0], id=102, camera_info__k=np.zeros(9)),
        corrupted(good[0], id=103, header__frame_id='odom'),
        corrupted(good[0], id=104, image__step=10),
        good[0],  # the same id again
    ]
    for msg in good[:1] + bad + good[1:]:
        publisher.publish(msg)

    def settled():
        return statuses and statuses[-1].keyframe_count == len(good) and sum(
            statuses[-1].drop_counts) == len(bad)
    assert ros.spin_until(settled, timeout=30), statuses[-1] if statuses else 'no status'

    drops = dict(zip(statuses[-1].drop_reasons, statuses[-1].drop_counts))
    assert drops == {'bad_image': 2, 'bad_pose': 2, 'bad_camera_info': 1,
                     'unknown_frame': 1, 'duplicate_id': 1}
    # Accepted keyframes come back on ~/keyframes bit-exact, in order.
    assert ros.spin_until(lambda: len(echoed) == len(good), timeout=10)
    assert [msg.id for msg in echoed] == [view.view_id for view in views]
    for msg, view in zip(echoed, views):
        back = keyframe_to_view(msg)
        assert np.array_equal(back.rgb, view.rgb)
        assert np.array_equal(back.depth, view.depth)
        assert np.allclose(back.camera_to_world, view.camera_to_world, atol=1e-9)
