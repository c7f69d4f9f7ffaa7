# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench --long``, shortened: both runs report every figure (no timed assertions)."""

import json
import math

import pytest

from anyrecon_ros.bench.long_run import long_table
from anyrecon_ros.bench.long_run import main
from anyrecon_ros.bench.long_run import run_long
from anyrecon_ros.bench.long_run import summarise
from anyrecon_ros.bench.run import markdown_table
from anyrecon_ros.core.bounded_bank import MIB

KEYFRAMES = 120
BUDGET_MIB = 2.0   # fifteen 160x120 keyframes


@pytest.fixture(scope='module')
def figures():
    return run_long(keyframes=KEYFRAMES, width=160, budget_mib=BUDGET_MIB, stereo_every=40,
                    loop_every=60, sample_every=10, max_points=50_000, max_seconds=600.0)


def test_both_runs_map_and_store_every_keyframe(figures):
    for name in ('bounded', 'unbounded'):
        run = figures[name]
        assert run['keyframes_mapped'] == run['stored_keyframes'] == KEYFRAMES, name
        assert run['samples'][-1]['keyframes'] == KEYFRAMES and not run['drops'], name
        assert run['stereo_keyframes'] == 3 and run['generated_views'] > 0, name
        assert run['peak_rss_mib'] > 0 and math.isfinite(run['slope_mib_per_min']), name


def test_the_bounded_bank_keeps_to_its_budget_and_reads_back(figures):
    bounded, unbounded = figures['bounded'], figures['unbounded']
    assert all(s['held_bytes'] <= BUDGET_MIB * MIB for s in bounded['samples'])
    assert bounded['samples'][-1]['held'] < KEYFRAMES and bounded['reads'] > 0
    # Without a bound every keyframe stays in RAM and none is read back.
    assert unbounded['samples'][-1]['held'] == KEYFRAMES and unbounded['reads'] == 0
    assert unbounded['bank_held_mib_end'] > bounded['bank_held_mib_end']
    assert bounded['budget_mib'] == BUDGET_MIB and unbounded['budget_mib'] == 0.0


def test_the_figures_go_into_bench_json(figures):
    assert json.loads(json.dumps(figures)) == figures


def test_the_table_has_both_runs(figures):
    lines = long_table(figures)
    assert any('slope after warm-up' in line for line in lines)
    assert f'keyframe_ram_mib {BUDGET_MIB:g} MiB' in '\n'.join(lines)
    machine = {'cpu': 'cpu', 'cores': 2, 'python': '3', 'numpy': '2', 'open3d': '0'}
    assert 'Long run' in markdown_table({'machine': machine, 'long': figures})


def test_the_slope_is_taken_after_warm_up_and_extrapolated_to_an_hour():
    # 30 minutes: the memory full at minute 5, the bank at 7 (after 420 keyframes);
    # the resident set grows 10 MiB/min until then and stays at 170 MiB.
    samples = [{'keyframes': 60 * m, 'minute': float(m), 'rss_mib': 100.0 + 10.0 * min(m, 7),
                'rss_anon_mib': 50.0, 'held': min(60 * m, 400), 'held_bytes': 0,
                'points': 1000 if m >= 5 else 10, 'reads': 0} for m in range(1, 31)]
    report = {'keyframes': 3600, 'keyframes_mapped': 1800, 'max_points': 1000,
              'samples': samples}
    figures = summarise(report, 250.0)
    assert figures['bank_first_evicted_minute'] == 7.0 and figures['memory_capped_minute'] == 5.0
    assert figures['bounds_minute'] == 7.0 and figures['warmed_up']
    assert figures['warm_up_minutes'] == 15.0   # the last half
    assert figures['slope_mib_per_min'] == pytest.approx(0.0, abs=1e-9)
    assert figures['slope_after_bounds_mib_per_min'] == pytest.approx(0.0, abs=1e-9)
    assert figures['rss_hour_mib'] == pytest.approx(170.0)
    assert figures['extrapolated_minutes'] == 30.0
    # The same window for another run: from minute 3 on, this one grows.
    assert summarise(report, 250.0, warm_up_minutes=3.0)['slope_mib_per_min'] > 0


def test_a_run_stops_at_its_time_budget(tmp_path):
    report = tmp_path / 'report.json'
    assert main(['--keyframes', '50', '--width', '64', '--budget-mib', '1', '--max-seconds',
                 '0', '--report', str(report)]) == 0
    figures = json.loads(report.read_text())
    assert figures['keyframes'] == 50 and figures['keyframes_mapped'] == 1
    assert [s['keyframes'] for s in figures['samples']] == [1]
