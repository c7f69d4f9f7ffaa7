# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The generated interfaces import, carry their fields and need no sourcing."""

import os
from pathlib import Path
import subprocess
import sys

from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[2]


def test_messages_have_their_fields():
    from anyrecon_ros.msg import GeneratedView, Keyframe, MemoryStatus
    assert {'header', 'id', 'image', 'has_depth', 'depth', 'camera_info', 'pose'} <= set(
        Keyframe.get_fields_and_field_types())
    assert Keyframe.get_fields_and_field_types()['image'] == 'sensor_msgs/Image'
    assert GeneratedView.get_fields_and_field_types()['reference_keyframe_ids'] == (
        'sequence<uint32>')
    assert {'segment_id', 'index', 'mask', 'pose', 'camera_info'} <= set(
        GeneratedView.get_fields_and_field_types())
    status_fields = MemoryStatus.get_fields_and_field_types()
    assert status_fields['drop_reasons'] == 'sequence<string>'
    assert {'captured_points', 'generated_points', 'keyframe_count', 'bounds_min',
            'bounds_max'} <= set(status_fields)


def test_import_works_in_a_fresh_interpreter_without_sourcing():
    """The venv's Python is a ROS environment by itself (the .pth hook)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('AMENT_PREFIX_PATH', 'LD_LIBRARY_PATH', 'PYTHONPATH',
                          '_ROS_WHEELS_BOOTSTRAP_COMPLETE')}
    code = ('from anyrecon_ros.msg import Keyframe, GeneratedView, MemoryStatus; '
            'import anyrecon_ros.core.view_bank; print(Keyframe().has_depth)')
    result = subprocess.run([sys.executable, '-c', code], env=env, cwd='/',
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'False'


def test_package_manifest():
    package = parse_package(str(ROOT / 'package.xml'))
    assert package.package_format == 3
    assert package.name == 'anyrecon_ros'
    assert [str(license_) for license_ in package.licenses] == ['Apache-2.0']
    assert package.get_build_type() == 'ament_cmake'
    assert 'rosidl_interface_packages' in [group.name for group in package.member_of_groups]
