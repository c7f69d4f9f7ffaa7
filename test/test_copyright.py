# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every source file carries the copyright line and the Apache-2.0 licence identifier."""

from pathlib import Path
import subprocess

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADER = ('# Copyright 2026 The anyrecon_ros Authors',
          '# SPDX-License-Identifier: Apache-2.0')
SOURCE_SUFFIXES = {'.py', '.cmake'}


def tracked_sources():
    """Return the Python and CMake files git tracks (or would, for new ones)."""
    listed = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed
            if Path(name).suffix in SOURCE_SUFFIXES or Path(name).name == 'CMakeLists.txt']


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright_headers():
    sources = tracked_sources()
    assert len(sources) > 10, 'expected the package sources to be listed'
    missing = [str(path.relative_to(ROOT)) for path in sources
               if tuple(path.read_text().splitlines()[:2]) != HEADER]
    assert not missing, 'files without the copyright header:\n' + '\n'.join(missing)


@pytest.mark.copyright
@pytest.mark.linter
def test_license_is_apache_2():
    assert 'Apache License' in (ROOT / 'LICENSE').read_text()
    assert '<license>Apache-2.0</license>' in (ROOT / 'package.xml').read_text()
