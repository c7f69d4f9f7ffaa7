# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``anyrecon bench`` writes every documented figure (values are not asserted: no timed tests)."""

import json

from anyrecon_ros.bench.generator import bench_generator
from anyrecon_ros.bench.generator import generator_table
from anyrecon_ros.bench.generator import visible_key_fraction
from anyrecon_ros.cli.main import main

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


def test_generator_bench_reports_every_figure():
    figures = bench_generator(quick=True, frame_counts=(2, 4), speedup_frames=4, image_size=32,
                              generations=1)
    assert figures['frame_counts'] == [2, 4] and figures['tokens_per_frame'] == 4
    for frames in (2, 4):
        row = figures[f'frames_{frames}']
        assert row['sequence_frames'] == frames + figures['capture_views']
        for mode in ('sparse', 'full'):
            assert row[f'denoiser_{mode}_ms'] > 0
            # The denoiser runs inside the generation, so it takes part of its time.
            assert 0 < row[f'denoising_4_steps_{mode}_ms'] < row[f'generate_4_steps_{mode}_ms']
        assert row['denoiser_onnxruntime_ms'] > 0
        assert row['onnxruntime_speedup_vs_torch'] == (row['denoiser_sparse_ms']
                                                       / row['denoiser_onnxruntime_ms'])
    assert figures['onnxruntime_speedup_vs_torch'] > 0
    row = figures['frames_4']
    assert row['denoising_50_steps_full_ms'] > row['denoising_4_steps_full_ms']
    assert row['generate_speedup_4_sparse_vs_50_full'] == (
        row['generate_50_steps_full_ms'] / row['generate_4_steps_sparse_ms'])
    # The teacher's baseline: 50 steps with guidance (two denoiser passes per step).
    assert row['guidance_scale'] == 5.0
    assert 0 < row['denoising_50_steps_full_cfg_ms'] < row['generate_50_steps_full_cfg_ms']
    for kind in ('generate', 'denoising'):
        ratio = row[f'{kind}_speedup_4_sparse_vs_50_full_cfg']
        assert ratio > 0 and ratio == (row[f'{kind}_50_steps_full_cfg_ms']
                                       / row[f'{kind}_4_steps_sparse_ms'])
    # Six frames fit in one block of 8: the window keeps every pair.
    assert row['visible_key_fraction'] == 1.0 and row['speedup_bound'] == 12.5
    assert row['speedup_bound_cfg'] == 25.0
    assert figures['per_frame_spread'] >= 0
    table = '\n'.join(generator_table(figures))
    assert '4 steps sparse vs 50 steps full' in table
    assert '| 50 steps full, guidance 5.0 (2 passes/step) (denoising) |' in table
    assert 'with guidance 5.0 (two denoiser passes per step' in table


def test_visible_key_fraction_of_the_context_window():
    # 24 frames = 3 blocks: block 0 sees blocks 0-1; blocks 1 and 2 (via block 0) all three.
    assert visible_key_fraction(24, block_frames=8, window=1) == (2 + 3 + 3) / 9
    assert visible_key_fraction(40, block_frames=8, window=1) == (2 + 3 + 4 + 4 + 3) / 25
