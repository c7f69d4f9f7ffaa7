# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert between nav_msgs/Path and (N, 4, 4) camera-to-world poses.

A trajectory is a Path in one fixed frame; every PoseStamped in it carries
that frame (or leaves it empty, which means the path's frame).
"""

from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path
import numpy as np

from anyrecon_ros.ros.conversions._common import ConversionError
from anyrecon_ros.ros.conversions.pose import matrix_to_pose
from anyrecon_ros.ros.conversions.pose import pose_to_matrix


class InvalidPath(ConversionError):
    """A Path that is not a usable trajectory; the message says which pose and why."""


def poses_to_path(poses, frame_id: str, stamp=None) -> Path:
    """Return the Path of rigid camera-to-world poses (N, 4, 4) in ``frame_id``.

    ``stamp`` (a builtin_interfaces/Time or an rclpy Time; zero when None) is
    the stamp of the path and of every pose in it.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise InvalidPath(f'poses must have shape (N, 4, 4), got {poses.shape}')
    if not frame_id:
        raise InvalidPath('a path needs a frame_id')
    msg = Path()
    msg.header.frame_id = frame_id
    msg.header.stamp = _time_msg(stamp)
    for index, pose in enumerate(poses):
        try:
            stamped = PoseStamped(pose=matrix_to_pose(pose))
        except ConversionError as error:
            raise InvalidPath(f'pose {index}: {error}') from error
        # A header of its own: one shared object would change with the path's.
        stamped.header.frame_id = frame_id
        stamped.header.stamp = msg.header.stamp
        msg.poses.append(stamped)
    return msg


def path_to_poses(msg: Path, frame_id: str | None = None) -> np.ndarray:
    """Return the poses of a Path as (N, 4, 4) rigid camera-to-world transforms.

    Raises InvalidPath when the path has no frame, is not in ``frame_id``
    (when given), holds a pose in another frame, or a pose that is not
    finite or whose quaternion is not of unit length.
    """
    path_frame = msg.header.frame_id
    if not path_frame:
        raise InvalidPath('path header.frame_id is empty; a trajectory needs a fixed frame')
    if frame_id is not None and path_frame != frame_id:
        raise InvalidPath(f'path is in frame {path_frame!r}, expected {frame_id!r}')
    poses = np.empty((len(msg.poses), 4, 4))
    for index, stamped in enumerate(msg.poses):
        pose_frame = stamped.header.frame_id
        if pose_frame not in ('', path_frame):
            raise InvalidPath(f'pose {index} is in frame {pose_frame!r}, the path in '
                              f'{path_frame!r}')
        poses[index] = _pose_matrix(index, stamped.pose)
    return poses


def _pose_matrix(index, pose) -> np.ndarray:
    try:
        return pose_to_matrix(pose)
    except ConversionError as error:
        raise InvalidPath(f'pose {index}: {error}') from error


def _time_msg(stamp) -> Time:
    if stamp is None:
        return Time()
    return stamp.to_msg() if hasattr(stamp, 'to_msg') else stamp
