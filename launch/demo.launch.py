# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The demo: anyrecon.launch.py with config/demo.yaml, plus the synthetic camera.

Usage: ros2 launch anyrecon_ros demo.launch.py [rviz:=true]

The same nodes, parameter files and remappings as ``anyrecon demo`` (which
runs them in one process where ros2 launch is not installed). Then plan and
generate: ``ros2 service call /planner_node/plan std_srvs/srv/Trigger``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from anyrecon_ros.ros.graph import dds_environment
from anyrecon_ros.ros.graph import REMAPPINGS
from anyrecon_ros.ros.graph import SOURCE_NODES


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('anyrecon_ros')
    config = os.path.join(share, 'config')
    loop = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'anyrecon.launch.py')),
        launch_arguments={'params_file': os.path.join(config, 'demo.yaml'),
                          'rviz': LaunchConfiguration('rviz')}.items())
    # The camera stands in for a robot's: anyrecon.launch.py starts every other node.
    sources = [Node(package='anyrecon_ros', executable=name, name=name, output='screen',
                    parameters=[os.path.join(config, 'anyrecon.yaml'),
                                os.path.join(config, 'demo.yaml')],
                    remappings=REMAPPINGS[name], additional_env=dds_environment(config))
               for name in SOURCE_NODES]
    return LaunchDescription([
        DeclareLaunchArgument('rviz', default_value='false',
                              description='Start RViz with config/anyrecon.rviz'),
        loop, *sources])
