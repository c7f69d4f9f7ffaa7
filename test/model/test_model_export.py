# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export of the denoiser step and the VAE, checked in ONNX Runtime; TensorRT plumbing."""

import json

import numpy as np
import onnxruntime
import pytest
import torch

from anyrecon_ros.cli.main import main
from anyrecon_ros.model.pipelines.generator import GeneratorSettings
from anyrecon_ros.model.pipelines.generator import resolve_backend
from anyrecon_ros.model.pipelines.generator import tensorrt_frames
from anyrecon_ros.model.pipelines.generator import untrained_pipeline
from anyrecon_ros.model.pipelines.generator import ViewGenerator
from anyrecon_ros.model.runtimes.export import export_generator
from anyrecon_ros.model.runtimes.export import graph_sha256
from anyrecon_ros.model.runtimes.export import module_sha256
from anyrecon_ros.model.runtimes.export import onnx_errors
from anyrecon_ros.model.runtimes.export import ONNX_TOLERANCE
from anyrecon_ros.model.runtimes.export import run_onnx
from anyrecon_ros.model.runtimes.tensorrt_engine import engine_cache_key
from anyrecon_ros.model.runtimes.tensorrt_engine import frame_profile
from anyrecon_ros.model.runtimes.tensorrt_engine import tensorrt_missing

IMAGE_SIZE = (32, 48)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    pipeline = untrained_pipeline(seed=3)
    folder = tmp_path_factory.mktemp('export')
    manifest = export_generator(pipeline, folder, IMAGE_SIZE)
    return pipeline, folder, manifest


@pytest.mark.parametrize('frames', [1, 5, 12, 21])
def test_onnx_denoiser_matches_pytorch_context_window_at_any_frame_count(exported, frames):
    pipeline, folder, _ = exported
    transformer = pipeline.transformer
    # 21 frames are three blocks of 8: the context window masks block 2 from block 0's
    # neighbours, so this also shows the graph kept the sparse attention, not full.
    assert transformer.config.sparse_attention
    hidden = torch.randn(1, 36, frames, 4, 6, generator=torch.Generator().manual_seed(frames))
    timestep = torch.tensor([625.0])
    with torch.no_grad():
        expected = transformer(hidden_states=hidden, timestep=timestep,
                               return_dict=False)[0].numpy()
    session = onnxruntime.InferenceSession(str(folder / 'denoiser.onnx'))
    actual = run_onnx(session, hidden.numpy(), timestep.numpy())
    assert actual.shape == (1, 16, frames, 4, 6)
    assert np.abs(actual - expected).max() < ONNX_TOLERANCE
    if frames > 16:
        transformer.set_attention(False)
        try:
            with torch.no_grad():
                full = transformer(hidden_states=hidden, timestep=timestep,
                                   return_dict=False)[0].numpy()
        finally:
            transformer.set_attention(True)
        assert np.abs(actual - full).max() > 100 * ONNX_TOLERANCE


def test_export_writes_three_checked_graphs_and_a_manifest(exported):
    pipeline, folder, manifest = exported
    assert json.loads((folder / 'export.json').read_text()) == manifest
    assert manifest['image_size'] == list(IMAGE_SIZE) and manifest['latent_size'] == [4, 6]
    assert set(manifest['sha256']) == {'denoiser', 'vae_encoder', 'vae_decoder'}
    errors = onnx_errors(pipeline, folder, frames=3)
    assert set(errors) == {'denoiser', 'vae_encoder', 'vae_decoder'}
    assert all(0 <= error < ONNX_TOLERANCE for error in errors.values())
    # The VAE graphs take any number of frames too.
    session = onnxruntime.InferenceSession(str(folder / 'vae_decoder.onnx'))
    images = run_onnx(session, np.zeros((7, 16, 4, 6), np.float32))
    assert images.shape == (7, 3, *IMAGE_SIZE)
    assert pipeline.transformer.config.sparse_attention  # the export restored the mode


def test_hashes_follow_the_weights(exported, tmp_path):
    pipeline, folder, manifest = exported
    assert graph_sha256(folder / 'denoiser.onnx') == manifest['sha256']['denoiser']
    other = untrained_pipeline(seed=4)
    assert module_sha256(other.transformer) != module_sha256(pipeline.transformer)
    assert module_sha256(untrained_pipeline(seed=3).transformer) == module_sha256(
        pipeline.transformer)
    assert export_generator(other, tmp_path, IMAGE_SIZE)['sha256'] != manifest['sha256']


def test_tensorrt_profile_covers_the_pipeline_frames(exported):
    _, folder, _ = exported
    settings = GeneratorSettings(chunk_frames=40, carry_frames=2)
    low, opt, high = tensorrt_frames(settings)
    assert low == 2 and opt == 4 + 2 + 40 and high == 8 + 2 + 40
    profile = frame_profile(folder / 'denoiser.onnx', (low, opt, high))
    # Only the latents have a dynamic axis; the timestep is static.
    assert list(profile.values()) == [((1, 36, low, 4, 6), (1, 36, opt, 4, 6),
                                       (1, 36, high, 4, 6))]
    with pytest.raises(ValueError, match='min <= opt <= max'):
        frame_profile(folder / 'denoiser.onnx', (5, 2, 9))


def test_engine_cache_key_changes_with_graph_shapes_version_precision_and_gpu():
    profile = {'hidden_states': ((1, 36, 2, 4, 6), (1, 36, 46, 4, 6), (1, 36, 50, 4, 6))}
    base = engine_cache_key('a' * 64, profile, '10.3.0', True, 'H100')
    assert base == engine_cache_key('a' * 64, dict(profile), '10.3.0', True, 'H100')
    changed = [engine_cache_key('b' * 64, profile, '10.3.0', True, 'H100'),
               engine_cache_key('a' * 64, {'hidden_states': profile['hidden_states'][:2]
                                           + ((1, 36, 60, 4, 6),)}, '10.3.0', True, 'H100'),
               engine_cache_key('a' * 64, profile, '10.4.0', True, 'H100'),
               engine_cache_key('a' * 64, profile, '10.3.0', False, 'H100'),
               engine_cache_key('a' * 64, profile, '10.3.0', True, 'L4')]
    assert len({base, *changed}) == 6


def test_backend_auto_picks_an_available_runtime_and_tensorrt_says_what_is_missing():
    assert resolve_backend('auto', 'cpu') in ('torch', 'onnxruntime')
    assert resolve_backend('torch', 'cpu') == 'torch'
    generator = ViewGenerator.load(GeneratorSettings(checkpoint='untrained', backend='auto'))
    assert generator.backend == resolve_backend('auto', 'cpu')
    missing = tensorrt_missing()
    if missing:
        with pytest.raises(ValueError, match='lacks ' + ' and '.join(missing)):
            ViewGenerator.load(GeneratorSettings(checkpoint='untrained', backend='tensorrt'))
    else:
        with pytest.raises(ValueError, match='CUDA device'):
            resolve_backend('tensorrt', 'cpu')


def test_export_command_checks_onnx_and_skips_only_the_engine_build(tmp_path, capsys):
    status = main(['export', '--format', 'tensorrt', '--checkpoint', 'untrained',
                   '--width', '48', '--out', str(tmp_path)])
    output = capsys.readouterr().out
    assert 'max |ONNX Runtime - PyTorch|' in output
    assert {path.name for path in tmp_path.glob('*.onnx')} == {
        'denoiser.onnx', 'vae_encoder.onnx', 'vae_decoder.onnx'}
    assert json.loads((tmp_path / 'export.json').read_text())['image_size'] == [32, 48]
    missing = tensorrt_missing()
    if missing:
        assert status == 3
        assert f'TensorRT engine build skipped: this machine lacks {" and ".join(missing)}' \
            in output
    else:
        assert status == 0 and list((tmp_path / 'engines').glob('denoiser-*.engine'))
