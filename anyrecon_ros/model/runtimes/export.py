# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Export the generator's three networks to ONNX, each with a dynamic number of frames.

* ``denoiser.onnx``: one sampler step of the transformer, packed (1, 2C + 4, F, h, w)
  latents and the timestep (1,) in, the velocity (1, C, F, h, w) out (C
  latent channels: 16 for the Wan VAE, 32 for TAEF2); the
  empty-prompt embedding is baked in and the context window is kept (batched
  over blocks, the same result as the sparse path);
* ``vae_encoder.onnx``: (F, 3, H, W) images in [-1, 1] to normalised
  (F, C, h, w) latents; ``vae_decoder.onnx``: the way back (either
  frame-wise VAE: ``AutoencoderKLWan`` or ``TinyFrameAutoencoder``).

Height and width are fixed per export (engines are built per resolution);
the frame axis is dynamic. ONNX Runtime runs these graphs on the CPU and
TensorRT builds its engines from them. The dynamo exporter is used: it
handles rms_norm, which the legacy TorchScript exporter does not.
"""

import contextlib
import hashlib
import io
import json
import logging
from pathlib import Path
import warnings

import numpy as np
import torch

from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import latent_channels

MAX_FRAMES = 256
DENOISER, VAE_ENCODER, VAE_DECODER = 'denoiser', 'vae_encoder', 'vae_decoder'
GRAPHS = (DENOISER, VAE_ENCODER, VAE_DECODER)
MANIFEST = 'export.json'
# Float32 on the CPU: measured differences are about 1e-6 (denoiser) and 1e-5 (VAE).
ONNX_TOLERANCE = 1e-4


class DenoiserStep(torch.nn.Module):
    """One transformer call of the sampler, with the stored empty prompt."""

    def __init__(self, transformer):
        super().__init__()
        self.transformer = transformer

    def forward(self, hidden_states, timestep):
        """Return the velocity for packed latents at ``timestep``."""
        return self.transformer(hidden_states=hidden_states, timestep=timestep,
                                encoder_hidden_states=None, return_dict=False)[0]


class VaeEncoderStep(torch.nn.Module):
    """The frame-wise VAE encoder: images in [-1, 1] to normalised latents."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, images):
        """Return (F, C, H/8, W/8) latents of (F, 3, H, W) images."""
        return encode_frames(self.vae, images)


class VaeDecoderStep(torch.nn.Module):
    """The frame-wise VAE decoder: normalised latents to images in [-1, 1]."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latents):
        """Return (F, 3, 8h, 8w) images of (F, C, h, w) latents."""
        return decode_frames(self.vae, latents)


def export_denoiser_onnx(transformer, path, frames: int = 5, latent_size=(8, 8)) -> Path:
    """Write the denoiser step as ONNX to ``path``; the frame axis (2) stays dynamic.

    The graph keeps the transformer's attention mode: full, or the context
    window batched over blocks (the sparse path's loop over blocks depends on
    the frame count, which a dynamic graph cannot unroll). ``latent_size``
    is fixed in the graph; ``frames`` only shapes the example input.
    """
    sparse = transformer.config.sparse_attention
    transformer.set_attention(sparse, batched=True)
    example = (torch.randn(1, transformer.config.in_channels, frames, *latent_size),
               torch.tensor([500.0]))
    try:
        return _export(DenoiserStep(transformer), example, path, ({2: _frames_axis()}, None))
    finally:
        transformer.set_attention(sparse)


def export_vae_encoder_onnx(vae, path, image_size=(64, 64), frames: int = 2) -> Path:
    """Write the VAE encoder as ONNX to ``path``; the frame axis (0) stays dynamic."""
    example = (torch.zeros(frames, 3, *image_size),)
    return _export(VaeEncoderStep(vae), example, path, ({0: _frames_axis()},))


def export_vae_decoder_onnx(vae, path, latent_size=(8, 8), frames: int = 2) -> Path:
    """Write the VAE decoder as ONNX to ``path``; the frame axis (0) stays dynamic."""
    example = (torch.zeros(frames, latent_channels(vae), *latent_size),)
    return _export(VaeDecoderStep(vae), example, path, ({0: _frames_axis()},))


def _frames_axis():
    return torch.export.Dim('frames', min=1, max=MAX_FRAMES)


def _export(module, example, path, dynamic_shapes) -> Path:
    path = Path(path)
    # The dynamo exporter narrates each pass on stdout and warns about
    # optional operator sets (torchvision) and its own deprecations; keep the
    # CLI's output readable. Errors still raise.
    exporter_log = logging.getLogger('torch.onnx')
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            torch.onnx.export(module.eval(), example, str(path), dynamo=True,
                              dynamic_shapes=dynamic_shapes)
    finally:
        exporter_log.setLevel(level)
    return path


def export_generator(pipeline, folder, image_size: tuple) -> dict:
    """Export the pipeline's denoiser and VAE for (height, width) images into ``folder``.

    Writes ``denoiser.onnx``, ``vae_encoder.onnx``, ``vae_decoder.onnx`` and
    ``export.json`` (the sizes, and a hash of each graph that engine caches
    are keyed by); returns that manifest.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    height, width = image_size
    factor = pipeline.vae.spatial_compression_ratio
    if height % 16 or width % 16:
        raise ValueError(f'image size {height}x{width} is not a multiple of 16')
    latent_size = (height // factor, width // factor)
    export_denoiser_onnx(pipeline.transformer, folder / f'{DENOISER}.onnx',
                         latent_size=latent_size)
    export_vae_encoder_onnx(pipeline.vae, folder / f'{VAE_ENCODER}.onnx', image_size)
    export_vae_decoder_onnx(pipeline.vae, folder / f'{VAE_DECODER}.onnx', latent_size)
    manifest = {'image_size': [height, width], 'latent_size': list(latent_size),
                'latent_channels': latent_channels(pipeline.vae),
                'denoiser_channels': pipeline.transformer.config.in_channels,
                'sparse_attention': pipeline.transformer.config.sparse_attention,
                'max_frames': MAX_FRAMES,
                'sha256': {name: graph_sha256(folder / f'{name}.onnx') for name in GRAPHS}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + '\n')
    return manifest


def graph_sha256(path) -> str:
    """Return the SHA-256 of an ONNX graph and of its external weights file, if it has one."""
    path = Path(path)
    digest = hashlib.sha256()
    for part in (path, path.with_name(path.name + '.data')):
        if part.is_file():
            with open(part, 'rb') as stream:
                for block in iter(lambda: stream.read(1 << 20), b''):
                    digest.update(block)
    return digest.hexdigest()


def module_sha256(module: torch.nn.Module) -> str:
    """Return a SHA-256 of a module's weights and buffers (names, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f'{name}{tuple(tensor.shape)}{tensor.dtype}'.encode())
        digest.update(tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def onnx_errors(pipeline, folder, frames: int = 3, seed: int = 0) -> dict:
    """Return the largest |ONNX Runtime - PyTorch| of each exported graph on random inputs."""
    import onnxruntime
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    generator = torch.Generator().manual_seed(seed)
    inputs = {
        DENOISER: (torch.randn(1, manifest['denoiser_channels'], frames,
                               *manifest['latent_size'], generator=generator),
                   torch.tensor([625.0])),
        VAE_ENCODER: (torch.rand(frames, 3, *manifest['image_size'], generator=generator)
                      * 2 - 1,),
        VAE_DECODER: (torch.randn(frames, manifest['latent_channels'], *manifest['latent_size'],
                                  generator=generator),)}
    modules = {DENOISER: DenoiserStep(pipeline.transformer),
               VAE_ENCODER: VaeEncoderStep(pipeline.vae),
               VAE_DECODER: VaeDecoderStep(pipeline.vae)}
    errors = {}
    for name in GRAPHS:
        session = onnxruntime.InferenceSession(str(folder / f'{name}.onnx'),
                                               providers=['CPUExecutionProvider'])
        actual = run_onnx(session, *(tensor.numpy() for tensor in inputs[name]))
        with torch.no_grad():
            expected = modules[name].eval()(*inputs[name]).numpy()
        errors[name] = float(np.abs(actual - expected).max())
    return errors


def run_onnx(session, *arrays: np.ndarray) -> np.ndarray:
    """Run a one-output ONNX Runtime session on float32 inputs, in the graph's input order."""
    feeds = {spec.name: np.ascontiguousarray(array, np.float32)
             for spec, array in zip(session.get_inputs(), arrays)}
    return session.run(None, feeds)[0]
