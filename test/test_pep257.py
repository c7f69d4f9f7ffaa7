# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Docstring conventions (PEP 257), checked by ament_pep257.

The pep257 convention, not ament's default: summaries start on the first line
of a docstring, as in diffusers and most Python code. As in ament's convention,
``__init__`` and magic methods need none (D105, D107): the class docstring says
what they do.
"""

from pathlib import Path

from ament_pep257.main import main
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    paths = [str(ROOT / name) for name in ('anyrecon_ros', 'launch', 'tools')]
    rc = main(argv=paths + ['--convention', 'pep257', '--add-ignore', 'D105', 'D107'])
    assert rc == 0, 'docstring problems found (listed above)'
