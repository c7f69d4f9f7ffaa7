# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""flake8 over the package's Python, as ament_flake8 runs it in ROS packages.

setup.cfg holds ament's configuration plus ``application-import-names``.
"""

from pathlib import Path

from ament_flake8.main import main_with_errors
import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON_PATHS = ['anyrecon_ros', 'launch', 'test', 'tools', 'setup.py']


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(
        argv=['--config', str(ROOT / 'setup.cfg')] + [str(ROOT / p) for p in PYTHON_PATHS])
    assert rc == 0, f'flake8 found {len(errors)} problem(s):\n' + '\n'.join(errors)
