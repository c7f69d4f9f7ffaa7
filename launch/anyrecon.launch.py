# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start the memory node and, unless play:=false, the keyframe player on a scene.

Usage: ros2 launch anyrecon_ros anyrecon.launch.py [scene:=synthetic:0] [play:=true]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('anyrecon_ros')
    params = os.path.join(share, 'config', 'anyrecon.yaml')
    # Large images between processes need the shared-memory profile unless the
    # user chose a DDS profile of their own.
    dds_profile = os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE') or os.path.join(
        share, 'config', 'fastdds_shm.xml')
    env = {'FASTDDS_DEFAULT_PROFILES_FILE': dds_profile}
    return LaunchDescription([
        DeclareLaunchArgument('scene', default_value='synthetic:0',
                              description='Scene for the keyframe player (synthetic:SEED)'),
        DeclareLaunchArgument('play', default_value='true',
                              description='Start the keyframe player'),
        Node(package='anyrecon_ros', executable='memory_node', name='memory_node',
             parameters=[params], additional_env=env, output='screen'),
        Node(package='anyrecon_ros', executable='keyframe_player', name='keyframe_player',
             parameters=[params, {'scene': LaunchConfiguration('scene')}],
             additional_env=env, output='screen',
             condition=IfCondition(LaunchConfiguration('play'))),
    ])
