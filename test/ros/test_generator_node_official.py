# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""generator_node with ``checkpoint:=FOLDER``, a tiny checkpoint prepared from official files.

The node runs in its own process as a user starts it (``anyrecon node
generator_node --ros-args -p checkpoint:=FOLDER``), over real DDS: it loads
the official-layout checkpoint (``tiny_official.prepare_official``: the I2V
transformer with its image branch, CLIP encoder, stored empty prompt, the
official sampling settings) and generates along a trajectory.
"""

from nav_msgs.msg import Path
import pytest
from test_generator_node import _keyframes
from test_generator_node import _output
from test_generator_node import _turn
from test_generator_node import generator_pose
from tiny_official import prepare_official

from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.msg import GenerationProgress
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions.generated_view import generated_view_to_frame
from anyrecon_ros.ros.conversions.path import poses_to_path
from anyrecon_ros.ros.qos import keyframe_history_qos
from anyrecon_ros.ros.qos import keyframe_qos
from anyrecon_ros.ros.qos import latched_qos
from anyrecon_ros.ros.qos import status_qos

VIEWS = 3


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    return prepare_official(tmp_path_factory.mktemp('official'))


def test_generator_node_runs_a_prepared_official_checkpoint(ros, official):
    # generation_width 0: the checkpoint's working width (32). Random weights
    # reproduce no render, so the fusion gate is opened to see views published.
    parameters = {'checkpoint': str(official / 'checkpoint'), 'generation_width': 0,
                  'segment_length': 4, 'capture_views': 2, 'voxel_size': 0.04,
                  'min_render_psnr': 0.0, 'min_render_correlation': -1.0}
    node = ros.start_process(
        '-m', 'anyrecon_ros.cli.main', 'node', 'generator_node', '--ros-args',
        *[item for name, value in parameters.items() for item in ('-p', f'{name}:={value}')])
    talker = ros.node('talker')
    keyframe_pub = talker.create_publisher(Keyframe, '/keyframes', keyframe_history_qos())
    path_pub = talker.create_publisher(Path, '/trajectory', latched_qos())
    progress = ros.collect(GenerationProgress, '/generator_node/progress', status_qos(),
                           node=talker)
    generated = ros.collect(GeneratedView, '/generator_node/generated', keyframe_qos(),
                            node=talker)
    # Up once it has loaded the checkpoint and subscribed.
    assert ros.spin_until(lambda: keyframe_pub.get_subscription_count() > 0
                          and path_pub.get_subscription_count() > 0,
                          timeout=90), _output(node)
    keyframes = _keyframes()
    for msg in keyframes:
        keyframe_pub.publish(msg)
    path_pub.publish(poses_to_path(_turn(generator_pose(keyframes[-1]), VIEWS), 'map'))
    assert ros.spin_until(lambda: progress and progress[-1].stage in ('done', 'failed'),
                          timeout=90), _output(node)
    assert progress[-1].stage == 'done', (progress[-1].message, _output(node))
    assert progress[-1].generated_views == VIEWS
    assert any(msg.stage == 'generate' for msg in progress)
    published = VIEWS - progress[-1].rejected_views
    assert published > 0
    assert ros.spin_until(lambda: len(generated) == published, timeout=20), _output(node)
    frame = generated_view_to_frame(generated[0])
    assert frame.rgb.shape == (32, 32, 3)   # the prepared checkpoint's working width
