# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""anyrecon_ros/Keyframe messages <-> core capture views."""

import numpy as np

from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.msg import Keyframe
from anyrecon_ros.ros.conversions._common import ConversionError
from anyrecon_ros.ros.conversions.camera_info import camera_info_to_camera
from anyrecon_ros.ros.conversions.camera_info import camera_to_camera_info
from anyrecon_ros.ros.conversions.image import array_to_image
from anyrecon_ros.ros.conversions.image import depth_to_metres
from anyrecon_ros.ros.conversions.image import image_to_rgb8
from anyrecon_ros.ros.conversions.pose import matrix_to_pose
from anyrecon_ros.ros.conversions.pose import pose_to_matrix


class InvalidKeyframe(ConversionError):
    """A keyframe that cannot be used; ``reason`` is the drop counter's key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _converted(reason, convert, value):
    try:
        return convert(value)
    except ValueError as error:
        raise InvalidKeyframe(reason, str(error)) from error


def keyframe_to_view(msg: Keyframe) -> CaptureView:
    """Convert and validate a Keyframe; raise InvalidKeyframe naming what is wrong."""
    rgb = _converted('bad_image', image_to_rgb8, msg.image)
    camera = _converted('bad_camera_info', camera_info_to_camera, msg.camera_info)
    if rgb.shape[:2] != (camera.height, camera.width):
        raise InvalidKeyframe('size_mismatch', f'image is {rgb.shape[1]}x{rgb.shape[0]} but '
                              f'camera_info is {camera.width}x{camera.height}')
    depth = _converted('bad_depth', depth_to_metres, msg.depth) if msg.has_depth else None
    if depth is not None and depth.shape != rgb.shape[:2]:
        raise InvalidKeyframe('size_mismatch', f'depth is {depth.shape[1]}x{depth.shape[0]} '
                              f'but image is {rgb.shape[1]}x{rgb.shape[0]}')
    camera_to_world = _converted('bad_pose', pose_to_matrix, msg.pose)
    stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
    return CaptureView(view_id=msg.id, rgb=rgb, camera=camera, camera_to_world=camera_to_world,
                       depth=depth, stamp_ns=stamp_ns)


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
