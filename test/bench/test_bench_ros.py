# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` ROS sections: DDS throughput and the demo's peak memory (no timed asserts).

The demo itself takes over a minute on the 2-core reference machine, so the
memory figure is checked through ``measure_module`` on a small program and
through the demo's failure path; ``anyrecon bench`` runs the real thing.
"""

import math
from pathlib import Path

import pytest

from anyrecon_ros.bench.child_process import measure_module
from anyrecon_ros.bench.ros_throughput import bench_demo_memory
from anyrecon_ros.bench.ros_throughput import bench_ros
from anyrecon_ros.bench.ros_throughput import demo_memory_table
from anyrecon_ros.bench.ros_throughput import ros_table

MESSAGES = ('pointcloud2_1m', 'image_640x480')
MODES = ('in_process', 'two_processes')
# x, y, z and the packed rgb, FLOAT32 each, unpadded.
CLOUD_POINT_STEP = 4 * 4


@pytest.fixture(scope='module')
def figures():
    return bench_ros(quick=True)


def test_message_sizes(figures):
    assert figures['pointcloud2_1m']['bytes'] == 1_000_000 * CLOUD_POINT_STEP
    assert figures['image_640x480']['bytes'] == 640 * 480 * 3


def test_every_message_sent_is_received(figures):
    assert figures['rounds'] == 3 and figures['rmw']
    assert figures['qos'].startswith('reliable') and 'send-then-wait' in figures['qos']
    for name in MESSAGES:
        message = figures[name]
        assert message['messages_per_round'] >= message['batch'] > 0
        for mode in MODES:
            row = message[mode]
            assert row['sent'] == figures['rounds'] * message['messages_per_round']
            # Reliable, and never more than a batch in flight: nothing may be dropped.
            assert row['received'] == row['sent'], (name, mode)


def test_rates_are_consistent(figures):
    for name in MESSAGES:
        message = figures[name]
        for mode in MODES:
            row = message[mode]
            assert 0 < row['messages_per_second'] < math.inf, (name, mode)
            assert row['megabytes_per_second'] == pytest.approx(
                row['messages_per_second'] * message['bytes'] / figures['megabyte'])
            # Faster than 100 GB/s would be a timing error, not a fast machine.
            assert row['megabytes_per_second'] < 100_000, (name, mode)


def test_ros_table_has_a_row_per_message_and_mode(figures):
    lines = ros_table(figures)
    assert lines[0] == '' and 'ROS 2 messages' in lines[1] and lines[2] == ''
    assert lines[3].startswith('| message | bytes | processes |')
    rows = lines[5:]
    assert len(rows) == len(MESSAGES) * len(MODES)
    for name in MESSAGES:
        message = figures[name]
        for mode, label in zip(MODES, ('one', 'two')):
            row = message[mode]
            assert sum(line.startswith(f'| {name} | {message["bytes"]} | {label} |')
                       and line.endswith(f'| {row["sent"]} | {row["received"]} |')
                       for line in rows) == 1, (name, mode)


def test_measure_module_reports_the_childs_own_peak(tmp_path):
    # A large block here must not count: Linux carries a parent's peak into ru_maxrss.
    ballast = b'x' * (600 * 2 ** 20)
    run = measure_module('timeit', ['-n1', '-r1', "b'x' * (300 * 2 ** 20)"],
                         tmp_path / 'timeit.log', timeout=60)
    assert len(ballast) and run['exit_code'] == 0
    assert 300 < run['peak_rss_mib'] < 500
    assert run['wall_s'] > 0
    assert 'loop' in (tmp_path / 'timeit.log').read_text()


def test_measure_module_returns_the_exit_code(tmp_path):
    run = measure_module('json.tool', [str(tmp_path / 'missing.json')], tmp_path / 'log',
                         timeout=60)
    assert run['exit_code'] == 2 and 0 < run['peak_rss_mib'] < 100


def test_bench_demo_memory_fails_clearly():
    with pytest.raises(RuntimeError, match='anyrecon demo failed .exit code 1.') as failure:
        bench_demo_memory(quick=True, scene=str(Path('/nonexistent/scene')))
    # The end of the demo's own output says why.
    assert 'synthetic:SEED' in str(failure.value)


def test_demo_memory_table():
    figures = {'runs': 1, 'peak_rss_mib': 1221.6, 'wall_s': 66.8, 'exit_code': 0,
               'peak_rss_mib_each': [1221.6], 'wall_s_each': [66.8]}
    lines = demo_memory_table(figures)
    assert lines[0] == '' and 'Demo memory' in lines[1] and lines[2] == ''
    assert lines[3:] == ['| peak RSS (MiB) | wall time (s) | exit code |', '|---|---|---|',
                         '| 1222 | 66.8 | 0 |']
