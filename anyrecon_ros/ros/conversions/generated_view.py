# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""anyrecon_ros/GeneratedView messages <-> core generated frames."""

import numpy as np

from anyrecon_ros.core.view_bank import GeneratedFrame
from anyrecon_ros.msg import GeneratedView
from anyrecon_ros.ros.conversions._common import check_frame_id
from anyrecon_ros.ros.conversions._common import ConversionError
from anyrecon_ros.ros.conversions._common import converted
from anyrecon_ros.ros.conversions._common import InvalidKeyframe
from anyrecon_ros.ros.conversions.camera_info import camera_info_to_camera
from anyrecon_ros.ros.conversions.camera_info import camera_to_camera_info
from anyrecon_ros.ros.conversions.image import array_to_image
from anyrecon_ros.ros.conversions.image import depth_to_metres
from anyrecon_ros.ros.conversions.image import image_to_array
from anyrecon_ros.ros.conversions.image import image_to_rgb8
from anyrecon_ros.ros.conversions.pose import matrix_to_pose
from anyrecon_ros.ros.conversions.pose import pose_to_matrix

MASK_ENCODING = 'mono8'
# mono8 masks hold 255 (memory visible) and 0; anything from 128 up counts as visible.
MASK_THRESHOLD = 128


class InvalidGeneratedView(InvalidKeyframe):
    """A generated view that cannot be used; ``reason`` is the drop counter's key.

    A subclass of InvalidKeyframe, so one ``except`` handles both inputs.
    """


def _mask(image) -> np.ndarray:
    if image.encoding != MASK_ENCODING:
        raise ConversionError(f'the mask must be {MASK_ENCODING}, got {image.encoding!r}')
    return image_to_array(image) >= MASK_THRESHOLD


def generated_view_to_frame(msg: GeneratedView, frame_id: str = None) -> GeneratedFrame:
    """Convert and validate a GeneratedView; raise InvalidGeneratedView naming what is wrong.

    With ``frame_id``, a view in another frame is refused (``unknown_frame``).
    """
    check_frame_id(msg.header, frame_id, InvalidGeneratedView)
    rgb = converted('bad_image', image_to_rgb8, msg.image, InvalidGeneratedView)
    camera = converted('bad_camera_info', camera_info_to_camera, msg.camera_info,
                       InvalidGeneratedView)
    size = (camera.height, camera.width)
    mask = converted('bad_mask', _mask, msg.mask, InvalidGeneratedView)
    depth = (converted('bad_depth', depth_to_metres, msg.depth, InvalidGeneratedView)
             if msg.has_depth else None)
    for name, array in (('image', rgb), ('mask', mask), ('depth', depth)):
        if array is not None and array.shape[:2] != size:
            raise InvalidGeneratedView('size_mismatch', f'{name} is {array.shape[1]}x'
                                       f'{array.shape[0]} but camera_info is '
                                       f'{camera.width}x{camera.height}')
    camera_to_world = converted('bad_pose', pose_to_matrix, msg.pose, InvalidGeneratedView)
    return GeneratedFrame(segment_id=msg.segment_id, index=msg.index, rgb=rgb, mask=mask,
                          camera=camera, camera_to_world=camera_to_world,
                          reference_ids=tuple(int(i) for i in msg.reference_keyframe_ids),
                          depth=depth)


def generated_frame_to_msg(frame: GeneratedFrame, frame_id: str, stamp=None) -> GeneratedView:
    """Convert a generated frame to a GeneratedView (rgb8, mono8 mask, 32FC1 depth in metres).

    ``stamp`` is a builtin_interfaces/Time; zero when None.
    """
    msg = GeneratedView()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.segment_id = int(frame.segment_id)
    msg.index = int(frame.index)
    msg.image = array_to_image(frame.rgb, 'rgb8', msg.header)
    msg.mask = array_to_image(np.where(frame.mask, 255, 0).astype(np.uint8), MASK_ENCODING,
                              msg.header)
    msg.has_depth = frame.depth is not None
    if msg.has_depth:
        msg.depth = array_to_image(frame.depth.astype(np.float32), '32FC1', msg.header)
    msg.camera_info = camera_to_camera_info(frame.camera, msg.header)
    msg.pose = matrix_to_pose(frame.camera_to_world)
    msg.reference_keyframe_ids = [int(i) for i in frame.reference_ids]
    return msg
