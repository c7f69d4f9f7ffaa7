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


# The only places that may import ROS: the ROS layer and the applications built on it.
ROS_PACKAGES = ('cli', 'bench', 'ros')


def ros_imports(files):
    return [f'{path.relative_to(ROOT)}: {module}'
            for path in files for module in imported_modules(path)
            if module.startswith(ROS_MODULES)]


def test_core_and_loop_import_no_ros():
    for layer in ('core', 'loop'):
        files = sorted((ROOT / 'anyrecon_ros' / layer).rglob('*.py'))
        assert files, layer
        offending = ros_imports(files)
        assert not offending, f'{layer} modules import ROS:\n' + '\n'.join(offending)


def test_only_cli_bench_and_ros_import_ros():
    package = ROOT / 'anyrecon_ros'
    files = [path for path in sorted(package.rglob('*.py'))
             if path.relative_to(package).parts[0] not in ROS_PACKAGES]
    assert len(files) > 40
    offending = ros_imports(files)
    assert not offending, 'modules outside cli/, bench/ and ros/ import ROS:\n' + '\n'.join(
        offending)


def test_the_layer_rule_sees_imports_inside_functions(tmp_path):
    module = tmp_path / 'sneaky.py'
    module.write_text('def f():\n    from anyrecon_ros.ros.qos import status_qos\n')
    assert list(imported_modules(module)) == ['anyrecon_ros.ros.qos']
    assert ROS_MODULES and 'anyrecon_ros.ros.qos'.startswith(ROS_MODULES)
