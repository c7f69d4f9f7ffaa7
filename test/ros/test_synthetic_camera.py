# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""synthetic_camera publishes a scene's frames as camera topics, over real DDS."""

from pathlib import Path
import sys

import cv2
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Odometry
import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo
from sensor_msgs.msg import Image

from anyrecon_ros.core.procedural_scene import default_camera
from anyrecon_ros.core.procedural_scene import ProceduralScene
from anyrecon_ros.core.scene_io import open_scene
from anyrecon_ros.core.scene_io import write_transforms_json
from anyrecon_ros.ros.conversions import camera_info_to_camera
from anyrecon_ros.ros.conversions import depth_to_metres
from anyrecon_ros.ros.conversions import image_to_rgb8
from anyrecon_ros.ros.conversions import odometry_to_matrix
from anyrecon_ros.ros.conversions import pose_stamped_to_matrix
from anyrecon_ros.ros.qos import sensor_qos
from anyrecon_ros.ros.synthetic_camera import SyntheticCamera

ANYRECON = Path(sys.executable).with_name('anyrecon')
TOPICS = {'camera_info': CameraInfo, 'depth': Image, 'pose': PoseStamped, 'odom': Odometry}


def stamp_of(msg):
    """Return a message's header stamp as (sec, nanosec)."""
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def subscribe_all(ros, topics=TOPICS):
    """Subscribe to every camera topic; ``image`` last, once the others see a publisher.

    The camera holds its first frame until ``image`` has a subscriber, so
    subscribing to it last means no topic misses the first frame to discovery.
    """
    node = ros.node('camera_listener')
    qos = sensor_qos(reliable=True)
    received = {topic: ros.collect(msg_type, topic, qos, node)
                for topic, msg_type in topics.items()}
    assert ros.spin_until(lambda: all(node.count_publishers(topic) for topic in topics),
                          timeout=30)
    received['image'] = ros.collect(Image, 'image', qos, node)
    return received


def start_camera_process(ros, *parameters):
    """Start ``anyrecon node synthetic_camera`` with ``name:=value`` parameters."""
    args = [str(ANYRECON), 'node', 'synthetic_camera', '--ros-args']
    for parameter in parameters:
        args += ['-p', parameter]
    return ros.start_process(*args)


def camera_node(ros, **parameters):
    """Create a SyntheticCamera in the test's context, publishing reliably."""
    overrides = [Parameter(name, value=value) for name, value in
                 {'sensor_reliable': True, 'rate': 50.0, **parameters}.items()]
    node = SyntheticCamera(context=ros.context, parameter_overrides=overrides)
    ros.executor.add_node(node)
    ros.nodes.append(node)
    return node


def test_process_publishes_matching_frames_on_every_topic(ros):
    frames = 3
    process = start_camera_process(ros, 'scene:=synthetic:4', f'frames:={frames}',
                                   'rate:=20.0', 'sensor_reliable:=true')
    received = subscribe_all(ros)
    assert ros.spin_until(lambda: all(len(msgs) >= frames for msgs in received.values()),
                          timeout=40), {topic: len(msgs) for topic, msgs in received.items()}
    # loop is false: nothing after the last frame.
    ros.spin_until(lambda: len(received['image']) > frames, timeout=1.0)
    assert process.poll() is None
    assert {topic: len(msgs) for topic, msgs in received.items()} == dict.fromkeys(
        received, frames)

    scene, camera = ProceduralScene(seed=4), default_camera()
    for index, pose in enumerate(scene.camera_path(frames)):
        image, depth = received['image'][index], received['depth'][index]
        info, pose_msg = received['camera_info'][index], received['pose'][index]
        odom = received['odom'][index]
        assert len({stamp_of(received[topic][index]) for topic in received}) == 1
        assert image.header.frame_id == depth.header.frame_id == 'camera_optical_frame'
        assert pose_msg.header.frame_id == odom.header.frame_id == 'map'
        assert odom.child_frame_id == 'camera_optical_frame'
        assert camera_info_to_camera(info) == camera
        np.testing.assert_allclose(pose_stamped_to_matrix(pose_msg), pose, atol=1e-12)
        np.testing.assert_allclose(odometry_to_matrix(odom), pose, atol=1e-12)
        rgb, metres = scene.render(camera, pose)
        assert (image.encoding, depth.encoding) == ('rgb8', '32FC1')
        assert np.array_equal(image_to_rgb8(image), rgb)
        assert np.array_equal(depth_to_metres(depth), metres, equal_nan=True)


@pytest.mark.parametrize('with_depth', [True, False])
def test_folder_scene_plays_its_views_resized(ros, tmp_path, with_depth):
    scene, camera = ProceduralScene(seed=2), default_camera().scaled(96, 72)
    views = [scene.capture_view(camera, pose, index)
             for index, pose in enumerate(scene.camera_path(4))]
    for view in views if not with_depth else ():
        view.depth = None
    write_transforms_json(tmp_path, camera, views)
    node = camera_node(ros, scene=str(tmp_path), frames=3, width=48)
    assert (node.camera.width, node.camera.height) == (48, 36)
    received = subscribe_all(ros, {'pose': PoseStamped})
    depths = ros.collect(Image, 'depth', sensor_qos(reliable=True))
    assert ros.spin_until(lambda: node.finished, timeout=20)
    ros.spin_until(lambda: min(map(len, received.values())) >= 3
                   and len(depths) >= 3 * with_depth, timeout=5)
    assert node.published == len(received['image']) == len(received['pose']) == 3

    stored = open_scene(tmp_path)
    assert (node.depth_pub is not None) == with_depth
    assert len(depths) == (3 if with_depth else 0)
    for index, view in enumerate(stored.view(i) for i in range(3)):
        np.testing.assert_allclose(pose_stamped_to_matrix(received['pose'][index]),
                                   view.camera_to_world, atol=1e-12)
        expected = cv2.resize(view.rgb, (48, 36), interpolation=cv2.INTER_AREA)
        assert np.array_equal(image_to_rgb8(received['image'][index]), expected)
        if with_depth:
            expected = cv2.resize(view.depth, (48, 36), interpolation=cv2.INTER_NEAREST)
            assert np.array_equal(depth_to_metres(depths[index]), expected, equal_nan=True)


def test_loop_starts_the_path_again(ros):
    node = camera_node(ros, scene='synthetic:1', frames=2, loop=True, width=32)
    received = subscribe_all(ros, {'pose': PoseStamped})
    assert ros.spin_until(lambda: len(received['pose']) >= 5, timeout=20)
    assert not node.finished
    path = ProceduralScene(seed=1).camera_path(2)
    for index, msg in enumerate(received['pose'][:5]):
        np.testing.assert_allclose(pose_stamped_to_matrix(msg), path[index % 2], atol=1e-12)
    assert image_to_rgb8(received['image'][0]).shape == (24, 32, 3)


@pytest.mark.parametrize('spec, message', [
    ('kitchen', "scene 'kitchen' is neither synthetic:SEED nor a readable scene: kitchen: "
                'no such file or folder'),
    ('synthetic:x', "scene 'synthetic:x': the seed must be a non-negative integer"),
])
def test_bad_scene_exits_with_2_and_says_why(ros, spec, message):
    process = start_camera_process(ros, f'scene:={spec}')
    output, _ = process.communicate(timeout=40)
    assert process.returncode == 2, output
    assert message in output
    assert 'Traceback' not in output
