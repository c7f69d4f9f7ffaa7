# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The exported denoiser step runs in ONNX Runtime with PyTorch's outputs, any frame count."""

import numpy as np
import onnxruntime
import pytest
import torch

from anyrecon_ros.model.export import export_denoiser_onnx
from anyrecon_ros.model.export import run_onnx_denoiser
from anyrecon_ros.model.transformer import AnyReconTransformer

# Float32 on the CPU: measured differences are about 1e-6.
TOLERANCE = 1e-4


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    torch.manual_seed(0)
    transformer = AnyReconTransformer(**AnyReconTransformer.tiny_config()).eval()
    path = export_denoiser_onnx(transformer, tmp_path_factory.mktemp('onnx') / 'denoiser.onnx')
    return transformer, onnxruntime.InferenceSession(str(path))


@pytest.mark.parametrize('frames', [1, 5, 12])
def test_onnx_runtime_matches_pytorch(exported, frames):
    transformer, session = exported
    hidden = torch.randn(1, 36, frames, 8, 8, generator=torch.Generator().manual_seed(frames))
    timestep = torch.tensor([625.0])
    transformer.set_attention(False)
    try:
        with torch.no_grad():
            expected = transformer(hidden_states=hidden, timestep=timestep,
                                   return_dict=False)[0].numpy()
    finally:
        transformer.set_attention(True)
    actual = run_onnx_denoiser(session, hidden.numpy(), timestep.numpy())
    assert actual.shape == (1, 16, frames, 8, 8)
    assert np.abs(actual - expected).max() < TOLERANCE


def test_export_restores_the_attention_mode(exported):
    transformer, _ = exported
    assert transformer.config.sparse_attention
