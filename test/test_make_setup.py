# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A second ``make`` run finds the set-up complete and reinstalls nothing."""

from pathlib import Path
import shutil
import subprocess

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which('make') is None, reason='make is not installed')
def test_setup_is_up_to_date_after_make():
    # -q: exit 0 only if every set-up step is up to date (nothing would run).
    result = subprocess.run(['make', '-q', 'setup'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, 'make setup would run again:\n' + subprocess.run(
        ['make', '-n', 'setup'], cwd=ROOT, capture_output=True, text=True).stdout
