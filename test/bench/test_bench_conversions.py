# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` conversions: each conversion beside its ROS library (no timed asserts)."""

import json

import pytest
from ros_packages import ros_module

from anyrecon_ros.bench import conversions
from anyrecon_ros.cli.main import main
from anyrecon_ros.ros.conversions.image import CV_BRIDGE_RGB8_ENCODINGS

LIBRARIES = ('sensor_msgs_py.point_cloud2', 'cv_bridge', 'tf_transformations')


@pytest.fixture(scope='module')
def figures():
    return conversions.bench_conversions(quick=True)


def test_every_conversion_stands_beside_its_library(figures):
    for module in LIBRARIES:
        ros_module(module)   # installed: every row has the library's figure
    assert len(figures) == 13
    assert {row['library'] for row in figures.values()} == {
        'sensor_msgs_py', 'cv_bridge', 'tf_transformations'}
    for name, row in figures.items():
        assert row['ours_ms'] > 0 and row['library_ms'] > 0, name
        assert row['ratio'] == row['ours_ms'] / row['library_ms'], name


def test_the_used_column_is_what_the_conversions_run(figures):
    used = {name: row['uses'] for name, row in figures.items()}
    assert {name for name, uses in used.items() if uses == 'cv_bridge'} == {
        f'image_to_rgb8 ({encoding})' for encoding in CV_BRIDGE_RGB8_ENCODINGS}
    assert set(used.values()) == {'numpy', 'cv_bridge'}


def test_a_library_that_is_not_installed_is_reported(monkeypatch):
    monkeypatch.setattr(conversions, '_imported', lambda module: None)
    figures = conversions.bench_conversions(quick=True)
    assert all(row['library_ms'] is None and row['uses'] == 'numpy'
               for row in figures.values())
    table = '\n'.join(conversions.conversions_table(figures))
    assert table.count('not installed') == len(figures)


def test_bench_writes_the_section(tmp_path, capsys):
    assert main(['bench', '--quick', '--sections', 'conversions', '--out', str(tmp_path)]) == 0
    results = json.loads((tmp_path / 'bench.json').read_text())
    table = (tmp_path / 'bench.md').read_text()
    for name, row in results['conversions'].items():
        assert f'| {name} | {row["ours_ms"]:.3f} | {row["library"]} |' in table
    assert table in capsys.readouterr().out
