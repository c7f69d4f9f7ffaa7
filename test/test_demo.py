# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon demo`` runs the nodes as processes over DDS and exits 0 when done."""

import subprocess
import sys


def run_cli(*args, timeout=180):
    return subprocess.run([sys.executable, '-m', 'anyrecon_ros.cli', *args],
                          capture_output=True, text=True, timeout=timeout)


def test_demo_stores_every_keyframe():
    result = run_cli('demo', '--frames', '3', '--rate', '5')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'memory_node stored 3/3 keyframes (echoed on ~/keyframes: 3), dropped: none' in (
        result.stdout)


def test_demo_fails_clearly_on_a_bad_scene():
    result = run_cli('demo', '--scene', 'nowhere', '--timeout', '60')
    assert result.returncode != 0
    assert 'synthetic:SEED' in result.stderr
