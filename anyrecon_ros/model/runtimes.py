# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Denoiser runtimes other than PyTorch, as drop-in replacements for the transformer.

The pipeline calls its transformer as ``transformer(hidden_states=...,
timestep=..., encoder_hidden_states=None, return_dict=False)[0]``;
:class:`OnnxRuntimeDenoiser` answers the same call from the exported denoiser
step (``export.export_denoiser_onnx``) in ONNX Runtime. The graph fixes the
latent height and width, so one graph is exported per latent size, on first
use, into a folder of the runtime's own; the frame count stays dynamic. The
exported graph attends fully (the sparse block loop depends on the frame
count), which equals the context window for sequences of at most two blocks.
"""

from pathlib import Path
import tempfile

import torch

from anyrecon_ros.model.export import export_denoiser_onnx
from anyrecon_ros.model.export import run_onnx_denoiser


class OnnxRuntimeDenoiser(torch.nn.Module):
    """Run a transformer's exported denoiser step in ONNX Runtime."""

    def __init__(self, transformer, folder=None, providers=('CPUExecutionProvider',)):
        super().__init__()
        import onnxruntime
        self._onnxruntime = onnxruntime
        # Kept for export only; the forward never runs it.
        self.transformer = transformer
        self.providers = list(providers)
        self._temporary = None if folder else tempfile.TemporaryDirectory(prefix='anyrecon_onnx_')
        self.folder = Path(folder or self._temporary.name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._sessions = {}

    # diffusers' pipelines ask their models for these (ModelMixin has them).
    @property
    def device(self) -> torch.device:
        """Return the device of the inputs and outputs (ONNX Runtime takes host arrays)."""
        return torch.device('cpu')

    @property
    def dtype(self) -> torch.dtype:
        """Return the dtype of the inputs and outputs."""
        return torch.float32

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor,
                encoder_hidden_states: torch.Tensor = None, return_dict: bool = False):
        """Return ``(velocity,)`` for packed (1, 36, F, h, w) latents, as the transformer does."""
        if encoder_hidden_states is not None:
            raise ValueError('the exported denoiser has the empty prompt built in; '
                             'encoder_hidden_states must be None')
        if return_dict:
            raise ValueError('OnnxRuntimeDenoiser returns a tuple only')
        session = self.session(tuple(hidden_states.shape[-2:]))
        velocity = run_onnx_denoiser(session, hidden_states.detach().cpu().numpy(),
                                     timestep.detach().reshape(1).float().cpu().numpy())
        return (torch.from_numpy(velocity).to(hidden_states.device, hidden_states.dtype),)

    def session(self, latent_size: tuple):
        """Return the session for a latent size, exporting its graph the first time."""
        if latent_size not in self._sessions:
            path = self.folder / f'denoiser_{latent_size[0]}x{latent_size[1]}.onnx'
            if not path.is_file():
                export_denoiser_onnx(self.transformer, path, latent_size=latent_size)
            self._sessions[latent_size] = self._onnxruntime.InferenceSession(
                str(path), providers=self.providers)
        return self._sessions[latent_size]
