# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Conversions through real DDS: numpy -> message -> publisher -> subscriber -> numpy."""

import inspect

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose, PoseStamped, TransformStamped
from nav_msgs.msg import Odometry
import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from anyrecon_ros.core.camera import PinholeCamera
from anyrecon_ros.core.transforms import transform_from_quaternion
from anyrecon_ros.ros.conversions import (array_to_image, camera_info_to_camera,
                                          camera_to_camera_info, cloud_to_points,
                                          image_to_array, matrix_to_pose,
                                          matrix_to_transform_stamped, odometry_to_matrix,
                                          points_to_cloud, pose_stamped_to_matrix,
                                          pose_to_matrix, transform_to_matrix)
from anyrecon_ros.ros.conversions.image import ENCODINGS

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
TIMEOUT = 8.0


def round_trip(ros, msg_type, msg, topic, qos=RELIABLE):
    """Publish ``msg`` from one node until another node receives it; return what arrived."""
    publisher_node = ros.node('publisher')
    received = ros.collect(msg_type, topic, qos)
    publisher = publisher_node.create_publisher(msg_type, topic, qos)
    assert ros.spin_until(lambda: received, TIMEOUT, action=lambda: publisher.publish(msg)), \
        f'no {msg_type.__name__} arrived on {topic}'
    return received[0]


def rgb_pattern():
    """Return a deterministic 480x640 rgb8 test image that differs in every channel."""
    rows, columns = np.mgrid[0:480, 0:640]
    return np.stack([rows % 256, columns % 256, (rows * 7 + columns * 3) % 256],
                    axis=-1).astype(np.uint8)


def test_pattern_is_not_trivial():
    """Make sure the cross-process pattern would reveal swapped or shifted bytes."""
    pattern = rgb_pattern()
    assert pattern.shape == (480, 640, 3) and len(np.unique(pattern[..., 2])) == 256


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_image_over_dds(ros, encoding):
    """Send a 640x480 image of every encoding over DDS, bit-exact."""
    dtype, channels = ENCODINGS[encoding]
    shape = (480, 640) if channels == 1 else (480, 640, channels)
    pixels = np.random.default_rng(0).integers(0, 256, shape).astype(dtype)
    if encoding == '32FC1':
        pixels = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        pixels[0, :3] = [np.nan, np.inf, -np.inf]
    header = Header(frame_id='camera')
    received = round_trip(ros, Image, array_to_image(pixels, encoding, header), 'image')
    assert (received.encoding, received.header.frame_id) == (encoding, 'camera')
    restored = image_to_array(received)
    assert restored.dtype == pixels.dtype
    np.testing.assert_array_equal(restored, pixels)


def test_rgb8_image_best_effort_over_dds(ros):
    """Send a 640x480 rgb8 image with sensor-data (best-effort) QoS."""
    pixels = rgb_pattern()
    received = round_trip(ros, Image, array_to_image(pixels, 'rgb8'), 'image_best_effort',
                          qos=qos_profile_sensor_data)
    np.testing.assert_array_equal(image_to_array(received), pixels)


def test_camera_info_over_dds(ros):
    """Send a camera with distortion over DDS."""
    camera = PinholeCamera(640, 480, 525.5, 524.25, 319.75, 241.5,
                           distortion=[0.1, -0.25, 0.001, -0.002, 0.05])
    received = round_trip(ros, CameraInfo, camera_to_camera_info(camera), 'camera_info')
    assert camera_info_to_camera(received) == camera


def random_transform(seed):
    """Return a random rigid transform."""
    rng = np.random.default_rng(seed)
    return transform_from_quaternion(rng.uniform(-10, 10, 3), rng.normal(size=4))


def test_pose_over_dds(ros):
    """Send a Pose over DDS."""
    transform = random_transform(1)
    received = round_trip(ros, Pose, matrix_to_pose(transform), 'pose')
    np.testing.assert_allclose(pose_to_matrix(received), transform, atol=1e-12)


def test_pose_stamped_over_dds(ros):
    """Send a PoseStamped over DDS."""
    transform = random_transform(2)
    msg = PoseStamped(header=Header(frame_id='world'), pose=matrix_to_pose(transform))
    received = round_trip(ros, PoseStamped, msg, 'pose_stamped')
    assert received.header.frame_id == 'world'
    np.testing.assert_allclose(pose_stamped_to_matrix(received), transform, atol=1e-12)


def test_transform_stamped_over_dds(ros):
    """Send a TransformStamped, frames and stamp included, over DDS."""
    transform = random_transform(3)
    stamp = Time(sec=1_700_000_000, nanosec=123)
    msg = matrix_to_transform_stamped(transform, 'world', 'camera', stamp)
    received = round_trip(ros, TransformStamped, msg, 'transform')
    assert (received.header.frame_id, received.child_frame_id) == ('world', 'camera')
    assert received.header.stamp == stamp
    np.testing.assert_allclose(transform_to_matrix(received), transform, atol=1e-12)


def test_odometry_over_dds(ros):
    """Send an Odometry pose over DDS."""
    transform = random_transform(4)
    msg = Odometry(header=Header(frame_id='odom'), child_frame_id='base_link')
    msg.pose.pose = matrix_to_pose(transform)
    received = round_trip(ros, Odometry, msg, 'odometry')
    np.testing.assert_allclose(odometry_to_matrix(received), transform, atol=1e-12)


def test_point_cloud_over_dds(ros):
    """Send 100k points with rgb, an extra field and NaN points over DDS."""
    rng = np.random.default_rng(5)
    xyz = rng.normal(size=(100_000, 3)).astype(np.float32)
    xyz[::1000] = np.nan
    rgb = rng.integers(0, 256, (100_000, 3), dtype=np.uint8)
    intensity = rng.uniform(0, 1, 100_000).astype(np.float32)
    msg = points_to_cloud(xyz, rgb, {'intensity': intensity}, Header(frame_id='map'))
    received = round_trip(ros, PointCloud2, msg, 'cloud')
    assert (received.width, received.point_step, received.is_dense) == (100_000, 20, False)
    read_xyz, read_rgb, extras = cloud_to_points(received, skip_nans=False)
    np.testing.assert_array_equal(read_xyz, xyz)
    np.testing.assert_array_equal(read_rgb, rgb)
    np.testing.assert_array_equal(extras['intensity'], intensity)


# The process runs rgb_pattern's source (prepended) and publishes its image until stopped.
PUBLISHER_PROCESS = """
from anyrecon_ros.ros.middleware import configure_dds_environment
configure_dds_environment()

import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from anyrecon_ros.ros.conversions import array_to_image

rclpy.init()
node = rclpy.create_node('pattern_publisher')
publisher = node.create_publisher(
    Image, 'pattern', QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
msg = array_to_image(rgb_pattern(), 'rgb8')
deadline = time.monotonic() + 30.0
while rclpy.ok() and time.monotonic() < deadline:
    publisher.publish(msg)
    time.sleep(0.1)
"""


def test_image_from_another_process(ros):
    """Receive bit-exact an rgb8 image published by another process."""
    received = ros.collect(Image, 'pattern', RELIABLE)
    code = 'import numpy as np\n\n' + inspect.getsource(rgb_pattern) + PUBLISHER_PROCESS
    process = ros.start_process('-c', code)
    arrived = ros.spin_until(lambda: received or process.poll() is not None, timeout=15.0)
    if not (arrived and received):
        output = process.communicate()[0] if process.poll() is not None else '(still running)'
        pytest.fail(f'no image from the publisher process; its output:\n{output}')
    np.testing.assert_array_equal(image_to_array(received[0]), rgb_pattern())
