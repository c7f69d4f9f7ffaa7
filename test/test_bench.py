# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` writes every documented figure (values are not asserted: no timed tests)."""

import json

from anyrecon_ros.cli import main

GEOMETRY_FIGURES = ('keyframe_insert', 'memory_render_1m', 'retrieval_200')


def test_bench_writes_json_and_markdown(tmp_path, capsys):
    assert main(['bench', '--quick', '--sections', 'geometry', '--out', str(tmp_path)]) == 0
    results = json.loads((tmp_path / 'bench.json').read_text())
    assert {'cpu', 'cores', 'python', 'numpy', 'open3d'} <= set(results['machine'])
    for name in GEOMETRY_FIGURES:
        figure = results['geometry'][name]
        assert figure['ours_ms'] > 0 and figure['open3d_ms'] > 0
        assert figure['ratio_to_open3d'] == figure['ours_ms'] / figure['open3d_ms']
        assert figure['target_ms'] > 0
    assert results['geometry']['memory_render_1m']['points'] >= 900_000
    assert results['geometry']['retrieval_200']['keyframes'] == 200
    table = (tmp_path / 'bench.md').read_text()
    assert all(f'| {name} |' in table for name in GEOMETRY_FIGURES)
    assert table in capsys.readouterr().out
