# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Denoiser runtimes other than PyTorch, as drop-in replacements for the transformer.

The pipeline calls its transformer as ``transformer(hidden_states=...,
timestep=..., encoder_hidden_states=None, return_dict=False)[0]``;
:class:`OnnxRuntimeDenoiser` and :class:`TensorRTDenoiser` answer the same
call from the exported denoiser step (``export.export_denoiser_onnx``). The
graph fixes the latent height and width, so one graph is exported per latent
size, on first use, into a folder of the runtime's own; the frame count
stays dynamic and the context window is kept.
"""

from pathlib import Path
import tempfile

import torch

from anyrecon_ros.model.runtimes.export import export_denoiser_onnx
from anyrecon_ros.model.runtimes.export import graph_sha256
from anyrecon_ros.model.runtimes.export import module_sha256
from anyrecon_ros.model.runtimes.export import run_onnx
from anyrecon_ros.model.runtimes.tensorrt_engine import cached_engine
from anyrecon_ros.model.runtimes.tensorrt_engine import frame_profile
from anyrecon_ros.model.runtimes.tensorrt_engine import TensorRTEngine


class ExportedDenoiser(torch.nn.Module):
    """The transformer's call, answered by a runtime from its exported graph."""

    def __init__(self, transformer, folder=None, device: str = 'cpu'):
        super().__init__()
        # Kept for export only; the forward never runs it.
        self.transformer = transformer
        self._device = torch.device(device)
        self._temporary = None if folder else tempfile.TemporaryDirectory(prefix='anyrecon_')
        self.folder = Path(folder or self._temporary.name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._runners = {}

    # diffusers' pipelines ask their models for these (ModelMixin has them).
    @property
    def device(self) -> torch.device:
        """Return the device of the inputs and outputs."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """Return the dtype of the inputs and outputs."""
        return torch.float32

    def forward(self, hidden_states: torch.Tensor, timestep: torch.Tensor,
                encoder_hidden_states: torch.Tensor = None, return_dict: bool = False):
        """Return ``(velocity,)`` for packed (1, 2C + 4, F, h, w) latents, like the transformer."""
        if encoder_hidden_states is not None:
            raise ValueError('the exported denoiser has the empty prompt built in; '
                             'encoder_hidden_states must be None')
        if return_dict:
            raise ValueError(f'{type(self).__name__} returns a tuple only')
        runner = self.runner(tuple(hidden_states.shape[-2:]))
        velocity = self.run(runner, hidden_states, timestep.reshape(1).float())
        return (velocity.to(hidden_states.device, hidden_states.dtype),)

    def runner(self, latent_size: tuple):
        """Return the runner for a latent size, exporting its graph the first time."""
        if latent_size not in self._runners:
            path = self.folder / f'denoiser_{latent_size[0]}x{latent_size[1]}.onnx'
            if not path.is_file():
                export_denoiser_onnx(self.transformer, path, latent_size=latent_size)
            self._runners[latent_size] = self.load(path)
        return self._runners[latent_size]

    def load(self, onnx_path: Path):
        """Return a runner for an exported graph (the runtime's own)."""
        raise NotImplementedError

    def run(self, runner, hidden_states: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        """Return the velocity the runner computes (the runtime's own)."""
        raise NotImplementedError


class OnnxRuntimeDenoiser(ExportedDenoiser):
    """Run the exported denoiser step in ONNX Runtime."""

    def __init__(self, transformer, folder=None, providers=('CPUExecutionProvider',)):
        super().__init__(transformer, folder)
        import onnxruntime
        self._onnxruntime = onnxruntime
        self.providers = list(providers)

    def load(self, onnx_path: Path):
        """Return an inference session on the graph."""
        return self._onnxruntime.InferenceSession(str(onnx_path), providers=self.providers)

    def run(self, runner, hidden_states: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        """Run the session on host copies of the inputs."""
        return torch.from_numpy(run_onnx(runner, hidden_states.detach().cpu().numpy(),
                                         timestep.detach().cpu().numpy()))


class TensorRTDenoiser(ExportedDenoiser):
    """Run the exported denoiser step as an FP16 TensorRT engine on a CUDA device.

    ``frames`` is the (min, opt, max) frame count of the engine's profile:
    the pipeline's sequences are capture views + carried frames + a chunk.
    Engines are cached in ``cache_folder`` (see ``tensorrt_engine``).
    """

    def __init__(self, transformer, frames: tuple, cache_folder, device: str = 'cuda'):
        # Graphs are kept per weights, so another checkpoint never meets a stale one.
        graphs = Path(cache_folder) / f'onnx-{module_sha256(transformer)[:16]}'
        super().__init__(transformer, graphs, device)
        self.frames = frames
        self.cache_folder = Path(cache_folder)

    def load(self, onnx_path: Path):
        """Return the engine of the graph, built or taken from the cache."""
        engine = cached_engine(onnx_path, self.cache_folder, frame_profile(onnx_path, self.frames),
                               graph_sha256(onnx_path))
        return TensorRTEngine(engine)

    def run(self, runner, hidden_states: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        """Run the engine on the inputs, moved to the CUDA device."""
        frames = hidden_states.shape[2]
        if not self.frames[0] <= frames <= self.frames[2]:
            raise ValueError(f'{frames} frames are outside the engine profile {self.frames}')
        return runner(hidden_states.to(self._device), timestep.to(self._device))
