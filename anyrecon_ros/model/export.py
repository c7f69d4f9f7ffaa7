# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Export the denoiser step to ONNX with a dynamic number of frames.

The graph takes the packed 36-channel latents (1, 36, F, h, w) and the
timestep (1,), and returns the velocity (1, 16, F, h, w); the empty-prompt
embedding is baked in. It is what ONNX Runtime runs on the CPU and what
TensorRT builds its engines from. The dynamo exporter is used: it handles
rms_norm, which the legacy TorchScript exporter does not.
"""

from pathlib import Path

import numpy as np
import torch

MAX_FRAMES = 256


class DenoiserStep(torch.nn.Module):
    """One transformer call of the sampler, with the stored empty prompt."""

    def __init__(self, transformer):
        super().__init__()
        self.transformer = transformer

    def forward(self, hidden_states, timestep):
        """Return the velocity for packed latents at ``timestep``."""
        return self.transformer(hidden_states=hidden_states, timestep=timestep,
                                encoder_hidden_states=None, return_dict=False)[0]


def export_denoiser_onnx(transformer, path, frames: int = 5, latent_size=(8, 8)) -> Path:
    """Write the denoiser step as ONNX to ``path``; the frame axis (2) stays dynamic.

    The graph uses full attention: the sparse processor's block loop depends
    on the frame count, which a dynamic graph cannot unroll. The attention
    mode of ``transformer`` is restored afterwards.

    ``frames`` and ``latent_size`` only shape the example input; the latent
    height and width are fixed in the graph, as the engines are built per
    resolution.
    """
    path = Path(path)
    sparse = transformer.config.sparse_attention
    transformer.set_attention(False)
    step = DenoiserStep(transformer).eval()
    example = (torch.randn(1, transformer.config.in_channels, frames, *latent_size),
               torch.tensor([500.0]))
    dynamic = ({2: torch.export.Dim('frames', min=1, max=MAX_FRAMES)}, None)
    try:
        with torch.no_grad():
            torch.onnx.export(step, example, str(path), dynamo=True, dynamic_shapes=dynamic)
    finally:
        transformer.set_attention(sparse)
    return path


def run_onnx_denoiser(session, hidden_states: np.ndarray, timestep: np.ndarray) -> np.ndarray:
    """Run an exported denoiser step in an ONNX Runtime session."""
    inputs = session.get_inputs()
    return session.run(None, {inputs[0].name: hidden_states.astype(np.float32),
                              inputs[1].name: timestep.astype(np.float32)})[0]
