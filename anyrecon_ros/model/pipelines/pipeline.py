# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""AnyReconPipeline: capture views + memory renders -> generated views, chunk by chunk.

Each chunk is one sequence for the transformer: the K capture views first
(all-ones masks, RoPE frame positions 0..K-1), then, from the second chunk on,
the last generated frames of the previous chunk (all-ones masks), then the
chunk's point-cloud renders with their visibility masks. Cameras enter only
through the renders, as in the official model.

``condition_fill`` (a pipeline setting, saved in ``model_index.json``) says
what the condition latents of the renders are made from: ``'none'`` the
renders as they are (black where the memory saw nothing; checkpoints without
the setting), ``'telea'`` the renders with those holes filled by OpenCV's
Telea inpainting (radius 3) first, for a model trained so
(``anyrecon train --fill-condition``). The masks are unchanged either way.

Two more settings say how a checkpoint samples (both off for checkpoints
without them). ``start_step`` k > 0 starts the schedule at its step k from
the condition latents noised to that step's level instead of pure noise
(SDEdit): the model refines the render, or its fill, rather than drawing a
view anew, and runs only the remaining steps. ``condition_blend`` w mixes
the output pixels with the condition images (the render, filled as
``condition_fill`` says): ``(1 - w) * generated + w * condition``. The
shipped default records k = 3 and w = 0.7, the values its measurements
chose (docs/training.md); the official weights keep 0 and 0.
"""

from dataclasses import dataclass
import json
from pathlib import Path

from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils import logging as diffusers_logging
import numpy as np
import torch

# Imported so that from_pretrained can load checkpoints whose vae/ is TAEF2: diffusers
# loads a component class of another library only from a module already imported.
from anyrecon_ros.core.inpainting import telea_fill
from anyrecon_ros.model.models import taef2  # noqa: F401
from anyrecon_ros.model.models.transformer import pack_conditioning
from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import from_unit_range
from anyrecon_ros.model.models.vae import mask_to_latent
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.pipelines.scheduling import set_steps

# Latents are 1/8 of the image and the transformer patches 2x2 latent pixels.
SIZE_MULTIPLE = 16
# What the condition latents of the renders are encoded from (see the module docstring).
CONDITION_FILLS = ('none', 'telea')


def check_condition_fill(fill: str) -> str:
    """Return ``fill`` if it is one of ``CONDITION_FILLS``; raise ValueError otherwise."""
    if fill not in CONDITION_FILLS:
        raise ValueError(f'condition_fill must be one of {", ".join(CONDITION_FILLS)}, '
                         f'got {fill!r}')
    return fill


def fill_condition_renders(renders: np.ndarray, masks: np.ndarray, fill: str) -> np.ndarray:
    """Return (T, H, W, 3) uint8 renders as the condition latents see them under ``fill``.

    ``'none'``: ``renders`` unchanged; ``'telea'``: every pixel outside
    ``masks`` filled by Telea inpainting (``core.inpainting.telea_fill``, as the
    classical generator fills them).
    """
    if check_condition_fill(fill) == 'none':
        return renders
    return np.stack([telea_fill(np.ascontiguousarray(render), mask)
                     for render, mask in zip(renders, np.asarray(masks).astype(bool))])


@dataclass
class AnyReconPipelineOutput(BaseOutput):
    """Generated views, one per render, as (T, H, W, 3) uint8 RGB."""

    images: np.ndarray


class AnyReconPipeline(DiffusionPipeline):
    """Generate the views of a trajectory from capture views and memory renders."""

    model_cpu_offload_seq = 'transformer->vae'

    def __init__(self, transformer, vae, scheduler, condition_fill: str = 'none',
                 start_step: int = 0, condition_blend: float = 0.0):
        super().__init__()
        check_condition_fill(condition_fill)
        if start_step < 0:
            raise ValueError(f'start_step must be >= 0, got {start_step}')
        if not 0.0 <= condition_blend < 1.0:
            raise ValueError(f'condition_blend must be in [0, 1), got {condition_blend}')
        self.register_modules(transformer=transformer, vae=vae, scheduler=scheduler)
        self.register_to_config(condition_fill=condition_fill, start_step=start_step,
                                condition_blend=condition_blend)

    @classmethod
    def from_pretrained(cls, folder, **kwargs) -> 'AnyReconPipeline':
        """Load a folder written by ``save_pretrained``: local files and safetensors only.

        ``model_index.json`` may name classes of diffusers and of this
        package only; other libraries are refused with ValueError. No hub
        access: ``folder`` must be a folder on disk.
        """
        index = Path(folder) / cls.config_name   # model_index.json
        if not index.is_file():
            raise FileNotFoundError(f'{index} does not exist (pipelines load from local folders)')
        for name, entry in json.loads(index.read_text()).items():
            library = entry[0] if isinstance(entry, list) and entry else None
            if library and library != 'diffusers' and not library.startswith('anyrecon_ros.'):
                raise ValueError(f'{index}: {name} is a {library} class; only diffusers and '
                                 'anyrecon_ros classes are loaded')
        kwargs.update(local_files_only=True, use_safetensors=True)
        # Three small parts: no "Loading pipeline components" bar in node logs.
        bar = diffusers_logging.is_progress_bar_enabled()
        diffusers_logging.disable_progress_bar()
        try:
            return super().from_pretrained(folder, **kwargs)
        finally:
            if bar:
                diffusers_logging.enable_progress_bar()

    @torch.no_grad()
    def __call__(self, capture_images, renders, masks, num_inference_steps: int = 4,
                 chunk_frames: int = 40, carry_frames: int = 2, generator=None,
                 callback=None, vae_batch_frames: int = 4) -> AnyReconPipelineOutput:
        """Return one generated image per render.

        ``capture_images`` (K, H, W, 3) and ``renders`` (T, H, W, 3) are uint8
        RGB, ``masks`` (T, H, W) booleans (True where the memory was visible).
        ``callback(chunk, chunks, step, steps)`` reports progress.
        ``vae_batch_frames`` frames go through the VAE at a time (None: all).
        """
        capture, renders, masks = _validated(capture_images, renders, masks)
        renders = fill_condition_renders(renders, masks, self.config.condition_fill)
        if chunk_frames < 1 or carry_frames < 0:
            raise ValueError('chunk_frames must be >= 1 and carry_frames >= 0')
        device = self._execution_device
        capture_latents = encode_frames(self.vae, to_unit_range(capture, device),
                                        vae_batch_frames)
        starts = list(range(0, len(renders), chunk_frames))
        carried, outputs = None, []
        for chunk, start in enumerate(starts):
            chunk_renders = to_unit_range(renders[start:start + chunk_frames], device)
            chunk_masks = torch.from_numpy(masks[start:start + chunk_frames]).to(device)
            fixed = capture_latents if carried is None else torch.cat([capture_latents, carried])
            render_latents = encode_frames(self.vae, chunk_renders, vae_batch_frames)
            latents = self._denoise(fixed, render_latents,
                                    mask_to_latent(chunk_masks.float()), num_inference_steps,
                                    generator, lambda s, n: callback and callback(
                                        chunk, len(starts), s, n))
            carried = latents[-carry_frames:] if carry_frames else None
            decoded = decode_frames(self.vae, latents, vae_batch_frames)
            blend = self.config.condition_blend
            if blend:
                decoded = (1 - blend) * decoded + blend * chunk_renders
            outputs.append(decoded.clamp(-1, 1))
        return AnyReconPipelineOutput(images=from_unit_range(torch.cat(outputs)))

    def _denoise(self, fixed_latents, render_latents, render_masks, steps, generator, progress):
        """Denoise one chunk; return the clean latents of its render frames (T, C, h, w)."""
        condition = torch.cat([fixed_latents, render_latents])
        ones = torch.ones((len(fixed_latents),) + render_masks.shape[1:], dtype=render_masks.dtype,
                          device=render_masks.device)
        mask = torch.cat([ones, render_masks])
        # (frames, channels, h, w) -> (1, channels, frames, h, w), the transformer's layout.
        condition, mask = (x.permute(1, 0, 2, 3)[None] for x in (condition, mask))
        latents = torch.randn(condition.shape, generator=generator, device='cpu').to(
            condition.device, condition.dtype)
        set_steps(self.scheduler, steps, device=condition.device)
        timesteps = self.scheduler.timesteps
        start = min(self.config.start_step, len(timesteps) - 1)
        if start:
            # Start part-way from the condition itself (SDEdit): the render, or its
            # classical fill, noised to the level of the first step that runs.
            sigma = self.scheduler.sigmas[start]
            latents = (1 - sigma) * condition + sigma * latents
            self.scheduler.set_begin_index(start)
        for index, timestep in enumerate(timesteps[start:]):
            velocity = self.transformer(
                hidden_states=pack_conditioning(latents, mask.to(latents.dtype), condition),
                timestep=timestep.expand(1), encoder_hidden_states=None, return_dict=False)[0]
            latents = self.scheduler.step(velocity, timestep, latents, return_dict=False)[0]
            progress(index + 1, len(timesteps) - start)
        return latents[0].permute(1, 0, 2, 3)[len(fixed_latents):]


def _validated(capture_images, renders, masks):
    capture = np.asarray(capture_images)
    renders = np.asarray(renders)
    masks = np.asarray(masks).astype(bool)
    if capture.ndim != 4 or capture.shape[-1] != 3 or not len(capture):
        raise ValueError(f'capture_images must be (K >= 1, H, W, 3), got {capture.shape}')
    if renders.shape[1:] != capture.shape[1:] or not len(renders):
        raise ValueError(f'renders must be (T >= 1, H, W, 3) like the capture images '
                         f'{capture.shape[1:]}, got {renders.shape}')
    if masks.shape != renders.shape[:3]:
        raise ValueError(f'masks must be {renders.shape[:3]}, got {masks.shape}')
    height, width = capture.shape[1:3]
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE:
        raise ValueError(f'image size {width}x{height} must be a multiple of {SIZE_MULTIPLE}')
    if capture.dtype != np.uint8 or renders.dtype != np.uint8:
        raise ValueError('capture_images and renders must be uint8 RGB')
    return capture, renders, masks
