# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert between geometry_msgs / nav_msgs poses and 4x4 rigid transforms.

A pose of a child frame in ``header.frame_id`` becomes the transform that maps
child coordinates into the parent frame (camera-to-world for a camera pose).
"""

import math

from builtin_interfaces.msg import Time
from geometry_msgs.msg import (Point, Pose, PoseStamped, Quaternion, Transform,
                               TransformStamped, Vector3)
from nav_msgs.msg import Odometry
import numpy as np

from anyrecon_ros.core.transforms import transform_from_quaternion, transform_to_quaternion
from anyrecon_ros.ros.conversions._common import ConversionError

# tf2 refuses a quaternion whose squared norm is off 1 by more than this; a
# larger error is a bug upstream, not rounding, so it is not normalised away.
QUATERNION_NORM_TOLERANCE = 0.01


def pose_to_matrix(pose: Pose) -> np.ndarray:
    """Return the 4x4 transform of a Pose; its quaternion must be of unit length (1 %)."""
    return _to_matrix('Pose', pose.position, pose.orientation)


def pose_stamped_to_matrix(msg: PoseStamped) -> np.ndarray:
    """Return the 4x4 transform of a PoseStamped's pose."""
    return pose_to_matrix(msg.pose)


def odometry_to_matrix(msg: Odometry) -> np.ndarray:
    """Return the 4x4 transform of an Odometry's pose (child_frame_id in header.frame_id)."""
    return _to_matrix('Odometry pose', msg.pose.pose.position, msg.pose.pose.orientation)


def transform_to_matrix(msg: Transform | TransformStamped) -> np.ndarray:
    """Return the 4x4 transform of a Transform or TransformStamped."""
    transform = msg.transform if isinstance(msg, TransformStamped) else msg
    return _to_matrix('Transform', transform.translation, transform.rotation)


def matrix_to_pose(transform) -> Pose:
    """Return the Pose of a rigid 4x4 transform."""
    translation, q = _from_matrix(transform)
    return Pose(position=Point(**translation), orientation=Quaternion(**q))


def matrix_to_transform_stamped(transform, frame_id: str, child_frame_id: str,
                                stamp=None) -> TransformStamped:
    """Return the TransformStamped of ``child_frame_id`` in ``frame_id``.

    ``stamp`` is a builtin_interfaces/Time or an rclpy Time; zero when None.
    """
    translation, q = _from_matrix(transform)
    msg = TransformStamped(child_frame_id=child_frame_id,
                           transform=Transform(translation=Vector3(**translation),
                                               rotation=Quaternion(**q)))
    msg.header.frame_id = frame_id
    if stamp is None:
        stamp = Time()
    msg.header.stamp = stamp.to_msg() if hasattr(stamp, 'to_msg') else stamp
    return msg


def _to_matrix(what, translation, rotation) -> np.ndarray:
    q = rotation
    # hypot does not overflow where a sum of squares would (1e200 is not "infinite").
    norm = math.hypot(q.x, q.y, q.z, q.w)
    # A quaternion far from unit length is a bug upstream, not rounding: refuse
    # it rather than guess. Zero, NaN and infinite components fall through to
    # the checks below, which name them.
    if 0.0 < norm < math.inf and abs(norm * norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise ConversionError(f'invalid {what}: quaternion {[q.x, q.y, q.z, q.w]} is not of '
                              f'unit length (norm {norm:.4g})')
    try:
        return transform_from_quaternion((translation.x, translation.y, translation.z),
                                         (rotation.x, rotation.y, rotation.z, rotation.w))
    except ValueError as error:
        raise ConversionError(f'invalid {what}: {error}') from error


def _from_matrix(transform):
    """Return the translation and quaternion of a rigid transform as message keyword args."""
    try:
        translation, q = transform_to_quaternion(transform)
    except ValueError as error:
        raise ConversionError(f'not a rigid transform: {error}') from error
    return (dict(zip('xyz', translation.tolist())), dict(zip('xyzw', q.tolist())))
