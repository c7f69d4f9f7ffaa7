# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""anyrecon_ros/Keyframe messages <-> core capture views."""

import numpy as np

from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions._common import check_frame_id
from anyrecon_ros.ros.conversions._common import converted
from anyrecon_ros.ros.conversions._common import InvalidKeyframe  # noqa: F401  (its home)
from anyrecon_ros.ros.conversions.camera_info import camera_to_camera_info
from anyrecon_ros.ros.conversions.frame import frame_to_view
from anyrecon_ros.ros.conversions.image import array_to_image
from anyrecon_ros.ros.conversions.pose import matrix_to_pose
from anyrecon_ros.ros.conversions.pose import pose_to_matrix


def keyframe_to_view(msg: Keyframe, frame_id: str = None) -> CaptureView:
    """Convert and validate a Keyframe; raise InvalidKeyframe naming what is wrong.

    With ``frame_id``, a keyframe in another frame is refused (``unknown_frame``).
    """
    check_frame_id(msg.header, frame_id)
    parts = {'image': msg.image, 'camera_info': msg.camera_info}
    if msg.has_depth:
        parts['depth'] = msg.depth
    stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
    return frame_to_view(parts, converted('bad_pose', pose_to_matrix, msg.pose), stamp_ns,
                         msg.id)


def view_to_keyframe(view: CaptureView, frame_id: str, stamp=None) -> Keyframe:
    """Convert a capture view to a Keyframe (rgb8 image, 32FC1 depth in metres)."""
    msg = Keyframe()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.id = view.view_id
    msg.image = array_to_image(view.rgb, 'rgb8', msg.header)
    msg.has_depth = view.depth is not None
    if msg.has_depth:
        msg.depth = array_to_image(view.depth.astype(np.float32), '32FC1', msg.header)
    msg.camera_info = camera_to_camera_info(view.camera, msg.header)
    msg.pose = matrix_to_pose(view.camera_to_world)
    return msg
