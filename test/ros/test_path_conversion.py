# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""nav_msgs/Path <-> (N, 4, 4) poses: round trips and the errors for unusable paths."""

import math

from nav_msgs.msg import Path
import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rclpy.serialization import serialize_message
from rclpy.time import Time
from scipy.spatial.transform import Rotation

from anyrecon_ros.core.transforms import make_transform
from anyrecon_ros.ros.conversions import ConversionError
from anyrecon_ros.ros.conversions.path import InvalidPath
from anyrecon_ros.ros.conversions.path import path_to_poses
from anyrecon_ros.ros.conversions.path import poses_to_path


def random_poses(count, seed=0):
    """Return ``count`` random rigid transforms."""
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(count, random_state=seed).as_matrix()
    return np.array([make_transform(r, rng.uniform(-5, 5, 3)) for r in rotations])


def test_round_trip_through_serialised_message():
    poses = random_poses(25)
    msg = poses_to_path(poses, 'map', Time(seconds=12, nanoseconds=345))
    # The bytes DDS would carry, so every field survives the wire.
    received = deserialize_message(serialize_message(msg), Path)
    assert received.header.frame_id == 'map'
    assert (received.header.stamp.sec, received.header.stamp.nanosec) == (12, 345)
    assert all(p.header.frame_id == 'map' and p.header.stamp == received.header.stamp
               for p in received.poses)
    np.testing.assert_allclose(path_to_poses(received, 'map'), poses, atol=1e-12)


def test_pose_headers_are_independent_of_the_path_header():
    msg = poses_to_path(random_poses(2), 'map')
    msg.header.frame_id = 'odom'
    assert [p.header.frame_id for p in msg.poses] == ['map', 'map']


def test_empty_path_round_trips():
    assert path_to_poses(poses_to_path(np.empty((0, 4, 4)), 'map')).shape == (0, 4, 4)


def test_poses_with_empty_frame_take_the_paths_frame():
    msg = poses_to_path(random_poses(3), 'map')
    msg.poses[1].header.frame_id = ''
    assert path_to_poses(msg, 'map').shape == (3, 4, 4)


def test_slightly_unnormalised_quaternion_is_normalised():
    poses = random_poses(1)
    msg = poses_to_path(poses, 'map')
    q = msg.poses[0].pose.orientation
    q.x, q.y, q.z, q.w = (1.001 * value for value in (q.x, q.y, q.z, q.w))
    np.testing.assert_allclose(path_to_poses(msg), poses, atol=1e-9)


@pytest.mark.parametrize('poses, match', [
    (np.eye(4), r'shape \(N, 4, 4\)'),
    (np.zeros((2, 3, 4)), r'shape \(N, 4, 4\)'),
    (np.array([np.eye(4), np.diag([1.0, 1.0, -1.0, 1.0])]), 'pose 1: not a rigid'),
    (np.array([np.full((4, 4), np.nan)]), 'pose 0: not a rigid'),
])
def test_bad_poses_are_refused(poses, match):
    with pytest.raises(InvalidPath, match=match):
        poses_to_path(poses, 'map')


def test_a_path_needs_a_frame():
    with pytest.raises(InvalidPath, match='frame_id'):
        poses_to_path(random_poses(1), '')


def _path_with(change):
    msg = poses_to_path(random_poses(3), 'map')
    change(msg)
    return msg


def _set_orientation(msg, index, values):
    q = msg.poses[index].pose.orientation
    q.x, q.y, q.z, q.w = values


@pytest.mark.parametrize('change, match', [
    (lambda m: setattr(m.header, 'frame_id', ''), 'frame_id is empty'),
    (lambda m: setattr(m.header, 'frame_id', 'odom'), "in frame 'odom', expected 'map'"),
    (lambda m: setattr(m.poses[2].header, 'frame_id', 'base_link'),
     "pose 2 is in frame 'base_link'"),
    (lambda m: setattr(m.poses[1].pose.position, 'x', math.inf), 'pose 1: .*finite'),
    (lambda m: _set_orientation(m, 0, (0.0, 0.0, 0.0, 0.0)), 'pose 0: .*zero norm'),
    (lambda m: _set_orientation(m, 1, (0.0, 0.0, 0.0, 2.0)), 'pose 1: .*unit length'),
    (lambda m: _set_orientation(m, 2, (0.0, 0.0, math.nan, 1.0)), 'pose 2: .*finite'),
])
def test_bad_paths_are_refused_with_the_reason(change, match):
    with pytest.raises(InvalidPath, match=match) as raised:
        path_to_poses(_path_with(change), 'map')
    assert isinstance(raised.value, ConversionError)
