# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch file, config and node executables agree with each other."""

import ast
from pathlib import Path
import re

import pytest
import rclpy
import yaml

from anyrecon_ros.ros.keyframe_player import KeyframePlayer
from anyrecon_ros.ros.memory_node import MemoryNode

ROOT = Path(__file__).resolve().parents[1]
NODES = {'memory_node': MemoryNode, 'keyframe_player': KeyframePlayer}


def launch_executables():
    """Return the executables the launch file starts (read from its source)."""
    tree = ast.parse((ROOT / 'launch' / 'anyrecon.launch.py').read_text())
    return {node.value.value for node in ast.walk(tree)
            if isinstance(node, ast.keyword) and node.arg == 'executable'}


def test_every_node_is_installed_both_ways():
    cmake_nodes = re.search(r'set\(ANYRECON_NODES ([^)]*)\)',
                            (ROOT / 'CMakeLists.txt').read_text()).group(1).split()
    setup_py = (ROOT / 'setup.py').read_text()
    assert set(cmake_nodes) == set(NODES) == launch_executables()
    for name in NODES:
        assert f"'{name} = anyrecon_ros.ros.{name}:main'" in setup_py


@pytest.mark.parametrize('name', sorted(NODES))
def test_config_parameters_are_declared_by_the_node(name):
    config = yaml.safe_load((ROOT / 'config' / 'anyrecon.yaml').read_text())
    parameters = config[name]['ros__parameters']
    context = rclpy.Context()
    rclpy.init(context=context, args=['--ros-args', '--params-file',
                                      str(ROOT / 'config' / 'anyrecon.yaml')])
    try:
        node = NODES[name](context=context)
        declared = set(node._parameters)
        assert set(parameters) <= declared, set(parameters) - declared
        for key, value in parameters.items():
            assert node.get_parameter(key).value == value
        for key in declared - {'use_sim_time', 'start_type_description_service'}:
            assert node.describe_parameter(key).description, f'{key} has no description'
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
