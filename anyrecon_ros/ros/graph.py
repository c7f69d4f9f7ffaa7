# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""How the nodes are wired: which start where, and the remappings launch files and demo share.

Names are relative, so a launch namespace moves the whole graph: under
``/robot1`` the memory node takes ``/robot1/generator_node/generated``.
"""

import os

from anyrecon_ros.ros.nodes import NODES

# The demo starts every node, in the list's order.
DEMO_NODES = NODES
# Nodes that stand in for a robot's sensors: demo.launch.py starts them,
# anyrecon.launch.py (for a real robot) starts the others, LOOP_NODES.
SOURCE_NODES = ('synthetic_camera',)
LOOP_NODES = tuple(name for name in NODES if name not in SOURCE_NODES)

# Every node of NODES, with its remappings (test_launch_config checks the keys).
REMAPPINGS = {
    'synthetic_camera': [],
    'memory_node': [('generated', 'generator_node/generated')],
    'planner_node': [('memory', 'memory_node/memory'), ('keyframes', 'memory_node/keyframes')],
    'generator_node': [('keyframes', 'memory_node/keyframes'),
                       ('trajectory', 'planner_node/trajectory')],
}


def remap_arguments(node: str) -> list:
    """Return ``--ros-args`` remapping arguments (``-r from:=to`` pairs) for ``node``."""
    arguments = []
    for source, target in REMAPPINGS[node]:
        arguments += ['-r', f'{source}:={target}']
    return arguments


def dds_environment(config_directory: str) -> dict:
    """Return the environment a launched node needs for large messages between processes.

    Fast DDS drops large best-effort samples without the shared-memory
    profile, so it is set unless the user chose a profile of their own.
    """
    return {'FASTDDS_DEFAULT_PROFILES_FILE': os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')
            or os.path.join(config_directory, 'fastdds_shm.xml')}
