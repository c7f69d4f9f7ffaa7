# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convert ROS 2 messages to numpy arrays and core types, and back.

Every function raises ConversionError (a ValueError) for a message or array
it cannot convert, with a message that says why.
"""

from anyrecon_ros.ros.conversions._common import check_frame_id
from anyrecon_ros.ros.conversions._common import ConversionError
from anyrecon_ros.ros.conversions.camera_info import camera_info_to_camera
from anyrecon_ros.ros.conversions.camera_info import camera_to_camera_info
from anyrecon_ros.ros.conversions.image import array_to_image
from anyrecon_ros.ros.conversions.image import depth_to_metres
from anyrecon_ros.ros.conversions.image import image_to_array
from anyrecon_ros.ros.conversions.image import image_to_rgb8
from anyrecon_ros.ros.conversions.keyframe import InvalidKeyframe
from anyrecon_ros.ros.conversions.keyframe import keyframe_to_view
from anyrecon_ros.ros.conversions.keyframe import view_to_keyframe
from anyrecon_ros.ros.conversions.point_cloud import cloud_to_points
from anyrecon_ros.ros.conversions.point_cloud import points_to_cloud
from anyrecon_ros.ros.conversions.pose import matrix_to_pose
from anyrecon_ros.ros.conversions.pose import matrix_to_transform_stamped
from anyrecon_ros.ros.conversions.pose import odometry_to_matrix
from anyrecon_ros.ros.conversions.pose import pose_stamped_to_matrix
from anyrecon_ros.ros.conversions.pose import pose_to_matrix
from anyrecon_ros.ros.conversions.pose import transform_to_matrix

__all__ = [
    'ConversionError',
    'InvalidKeyframe',
    'array_to_image',
    'camera_info_to_camera',
    'check_frame_id',
    'camera_to_camera_info',
    'cloud_to_points',
    'depth_to_metres',
    'image_to_array',
    'image_to_rgb8',
    'keyframe_to_view',
    'matrix_to_pose',
    'matrix_to_transform_stamped',
    'odometry_to_matrix',
    'points_to_cloud',
    'pose_stamped_to_matrix',
    'pose_to_matrix',
    'transform_to_matrix',
    'view_to_keyframe',
]
