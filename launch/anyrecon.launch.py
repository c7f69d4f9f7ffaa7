# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start the closed loop: memory, planner and generator nodes, and optionally RViz.

Usage: ros2 launch anyrecon_ros anyrecon.launch.py [namespace:=robot1]
    [params_file:=my.yaml] [pose_source:=pose|odom|tf] [use_depth:=true]
    [backend:=auto] [device:=cpu] [rviz:=false]

``params_file`` is applied on top of the installed config/anyrecon.yaml, so it
only needs the parameters it changes. The camera topics (``image``,
``camera_info``, ``depth``, ``pose`` or ``odom``) are expected in the namespace.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.actions import GroupAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.actions import PushRosNamespace

from anyrecon_ros.ros.graph import dds_environment
from anyrecon_ros.ros.graph import LOOP_NODES
from anyrecon_ros.ros.graph import REMAPPINGS

# Launch arguments, their defaults (those of config/anyrecon.yaml) and help.
ARGUMENTS = {
    'namespace': ('', 'Namespace of every node and topic'),
    'params_file': (None, 'Parameter file applied on top of config/anyrecon.yaml '
                    '(default: that file itself)'),
    'pose_source': ('pose', 'Where the memory node takes poses from: pose, odom or tf'),
    'use_depth': ('true', 'Use the depth topic (else depth is estimated from images)'),
    'backend': ('auto', 'Generator backend: auto, torch, onnxruntime or tensorrt'),
    'device': ('cpu', 'Generator device: cpu, cuda, cuda:1, ...'),
    'rviz': ('false', 'Start RViz with config/anyrecon.rviz'),
}
# Launch arguments that set a node parameter of the same name (nodes of LOOP_NODES).
NODE_ARGUMENTS = {'memory_node': ('pose_source', 'use_depth'),
                  'generator_node': ('backend', 'device')}


def generate_launch_description():
    """Return the launch description."""
    share = get_package_share_directory('anyrecon_ros')
    defaults = os.path.join(share, 'config', 'anyrecon.yaml')
    env = dds_environment(os.path.join(share, 'config'))
    params_file = LaunchConfiguration('params_file')
    nodes = [Node(package='anyrecon_ros', executable=name, name=name, output='screen',
                  parameters=[defaults, params_file,
                              {argument: LaunchConfiguration(argument)
                               for argument in NODE_ARGUMENTS.get(name, ())}],
                  remappings=REMAPPINGS[name], additional_env=env)
             for name in LOOP_NODES]
    rviz = Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
                arguments=['-d', os.path.join(share, 'config', 'anyrecon.rviz')],
                condition=IfCondition(LaunchConfiguration('rviz')))
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=defaults if default is None else default,
                               description=description)
         for name, (default, description) in ARGUMENTS.items()]
        + [GroupAction([PushRosNamespace(LaunchConfiguration('namespace')), *nodes, rviz])])
