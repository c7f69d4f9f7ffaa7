# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 Python packages some tests use: launch, ros2cli, sensor_msgs_py, cv_bridge, ...

A ROS 2 distro provides them; without one, ``make`` installs them into the venv
from ``../shared/ros2_python`` when that folder is beside the repository
(``tools/ros2_python/install.sh``). A test that needs one skips only when that
folder is absent, and says so; with the folder there, a missing package is a
failure of the set-up, not a reason to skip.
"""

import importlib
from pathlib import Path
import shutil
import sys

import pytest

SHARED_ROS2_PYTHON = Path(__file__).resolve().parents[1].parent / 'shared' / 'ros2_python'


def _missing(what: str, error) -> None:
    if SHARED_ROS2_PYTHON.is_dir():
        pytest.fail(f'{what} is not installed although {SHARED_ROS2_PYTHON} is here ({error}); '
                    '`make setup` installs it from there')
    pytest.skip(f'{what} is not installed and {SHARED_ROS2_PYTHON} is not here '
                '(a ROS 2 distro provides it)')


def ros_module(name: str):
    """Return the imported module ``name`` (skip or fail as the module docstring says)."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        _missing(name, error)


def ros2_command() -> str:
    """Return the path of the ``ros2`` command (skip or fail as the module docstring says)."""
    # The venv's own first: its Python is the ROS environment the tests run in.
    beside_python = Path(sys.executable).parent / 'ros2'
    found = str(beside_python) if beside_python.is_file() else shutil.which('ros2')
    if found is None:
        _missing('the ros2 command (ros2cli)', 'not on PATH')
    return found
