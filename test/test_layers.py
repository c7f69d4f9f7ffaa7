# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The core layer never imports ROS, so it runs (and is tested) without it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROS_MODULES = ('rclpy', 'rosidl', 'sensor_msgs', 'geometry_msgs', 'nav_msgs', 'std_msgs',
               'visualization_msgs', 'std_srvs', 'builtin_interfaces', 'ament_index_python',
               'anyrecon_ros.msg', 'anyrecon_ros.ros')


def imported_modules(path: Path):
    """Return every module name a Python file imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_imports_no_ros():
    core_files = sorted((ROOT / 'anyrecon_ros' / 'core').rglob('*.py'))
    assert core_files
    offending = [f'{path.relative_to(ROOT)}: {module}'
                 for path in core_files for module in imported_modules(path)
                 if module.startswith(ROS_MODULES)]
    assert not offending, 'core modules import ROS:\n' + '\n'.join(offending)
