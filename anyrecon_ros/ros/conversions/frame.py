# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Paired camera messages (image, camera_info, optional depth) + a pose -> a capture view.

Used for Keyframe messages, by the memory node on live topics, and by
``anyrecon offline`` on bag messages (rosbags' message classes have the same
fields as rclpy's).
"""

from anyrecon_ros.core.view_bank import CaptureView
from anyrecon_ros.ros.conversions._common import converted
from anyrecon_ros.ros.conversions._common import InvalidKeyframe
from anyrecon_ros.ros.conversions.camera_info import camera_info_to_camera
from anyrecon_ros.ros.conversions.image import depth_to_metres
from anyrecon_ros.ros.conversions.image import image_to_rgb8


def frame_to_view(parts: dict, camera_to_world, stamp_ns: int, view_id: int) -> CaptureView:
    """Convert ``parts`` ('image', 'camera_info', optional 'depth' messages) to a CaptureView.

    Raises InvalidKeyframe (with a drop reason) naming what is wrong.
    """
    rgb = converted('bad_image', image_to_rgb8, parts['image'])
    camera = converted('bad_camera_info', camera_info_to_camera, parts['camera_info'])
    depth = converted('bad_depth', depth_to_metres, parts['depth']) if 'depth' in parts \
        else None
    for name, array in (('image', rgb), ('depth', depth)):
        if array is not None and array.shape[:2] != (camera.height, camera.width):
            raise InvalidKeyframe('size_mismatch', f'{name} is {array.shape[1]}x'
                                  f'{array.shape[0]} but camera_info is '
                                  f'{camera.width}x{camera.height}')
    return CaptureView(view_id=view_id, rgb=rgb, camera=camera, camera_to_world=camera_to_world,
                       depth=depth, stamp_ns=stamp_ns)
