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
(``anyrecon train --fill-condition``), ``'background'`` the same holes
filled from the surface behind them (``core.inpainting.background_fill``,
from the renders' depth, ``render_depths``; without depth it is Telea). The
masks are unchanged either way.

Two more settings say how a checkpoint samples (both off for checkpoints
without them). ``start_step`` k > 0 starts the schedule at its step k from
the condition latents noised to that step's level instead of pure noise
(SDEdit): the model refines the render, or its fill, rather than drawing a
view anew, and runs only the remaining steps. ``condition_blend`` w mixes
the output pixels with the condition images (the render, filled as
``condition_fill`` says): ``(1 - w) * generated + w * condition``.
``hole_blend`` [edge, deep, length] sets w apart in the holes: a hole pixel
at distance d from the nearest covered pixel gets
``deep + (edge - deep) * exp(-d / (length * width))``, so the classical
fill rules next to what the memory saw and the model's share grows inside
large holes (None: w everywhere). The shipped default records k = 3,
w = 0.7 and hole_blend [1, 0.7, 0.0625], the values its measurements chose
(docs/training.md); the official weights keep 0, 0 and None.

Six more settings say how the official sampler runs its chunks, each with
the package's earlier behaviour as its default (``OFFICIAL_SAMPLING`` holds
the official values; checkpoints prepared from the official weights record
them):

* ``timestep_rounding``: ``'none'``, or ``'bfloat16'``: the transformer sees
  each timestep rounded to bfloat16 (1000, 936, 832, 624 for the 4 steps);
* ``mask_rule``: ``'majority'`` (8x8 vote) or ``'nearest'`` (the top-left
  pixel of each 8x8 cell) turns the masks into latent masks;
* ``chunk_seed``: ``'continue'`` draws every chunk's noise on from one
  generator, ``'reseed'`` draws each chunk's from the same seed again;
* ``carry``: the last frames of a chunk are carried into the next as their
  ``'latents'``, or as their 8-bit ``'pixels'`` encoded again by the VAE;
* ``decode_tiles``: ``None``, or ``[tile_h, tile_w, stride_h, stride_w]`` in
  latent pixels for a tiled VAE decode (the official ``[30, 52, 15, 26]``);
* ``pixel_rounding``: decoded images become uint8 by ``'round'`` or
  ``'truncate'``.

A transformer with an image branch (``image_dim`` set: Wan2.1-I2V) also
needs the CLIP features of the first capture view; the pipeline computes
them with its ``image_encoder`` and ``image_processor`` (optional parts,
absent for the small default). The text condition is the transformer's
stored empty-prompt embedding.

Classifier-free guidance is a call argument, ``guidance_scale`` (1: off,
one denoiser pass per step, how the distilled sampler and the official
AnyRecon code run). Above 1 each step makes a second pass with the negative
(unconditional) text embedding and takes ``uncond + g * (cond - uncond)`` as
the velocity: the teacher as Wan samples it (guidance 5.0 is Wan2.1-I2V's
default), which ``anyrecon bench`` times as the baseline of the distilled
sampler. The negative embedding is the call's ``negative_prompt_embedding``,
else the transformer's stored ``negative_prompt_embedding`` where a
checkpoint has one, else zeros shaped like the stored empty prompt.

dtypes: the sampling state (noise, latents, velocities) stays float32; the
packed input, the timestep and the image features are cast to the
transformer's dtype at its call and its output back, and the VAE and image
encoder take their inputs in their own dtypes. A bfloat16 transformer thus
runs beside a float32 VAE.
"""

from dataclasses import dataclass
import json
from pathlib import Path

import cv2
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils import logging as diffusers_logging
import numpy as np
import torch

# Imported so that from_pretrained can load checkpoints whose vae/ is TAEF2: diffusers
# loads a component class of another library only from a module already imported.
from anyrecon_ros.core.inpainting import background_fill
from anyrecon_ros.core.inpainting import telea_fill
from anyrecon_ros.model.models import taef2  # noqa: F401
from anyrecon_ros.model.models.conditioning import clip_image_features
from anyrecon_ros.model.models.transformer import pack_conditioning
from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import from_unit_range
from anyrecon_ros.model.models.vae import MASK_RULES
from anyrecon_ros.model.models.vae import mask_to_latent
from anyrecon_ros.model.models.vae import OFFICIAL_DECODE_STRIDE
from anyrecon_ros.model.models.vae import OFFICIAL_DECODE_TILE
from anyrecon_ros.model.models.vae import PIXEL_ROUNDINGS
from anyrecon_ros.model.models.vae import red_channel_mask
from anyrecon_ros.model.models.vae import tiled_decode_frames
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.pipelines.scheduling import model_timestep
from anyrecon_ros.model.pipelines.scheduling import set_steps
from anyrecon_ros.model.pipelines.scheduling import TIMESTEP_ROUNDINGS

# Latents are 1/8 of the image and the transformer patches 2x2 latent pixels.
SIZE_MULTIPLE = 16
# What the condition latents of the renders are encoded from (see the module docstring).
CONDITION_FILLS = ('none', 'telea', 'background')
CHUNK_SEEDS = ('continue', 'reseed')
CARRY_MODES = ('latents', 'pixels')
# The official sampler's choices (run_AnyRecon.py with its pipeline): what a
# checkpoint prepared from the official weights records.
OFFICIAL_SAMPLING = {
    'condition_fill': 'none', 'start_step': 0, 'condition_blend': 0.0, 'hole_blend': None,
    'timestep_rounding': 'bfloat16', 'mask_rule': 'nearest', 'chunk_seed': 'reseed',
    'carry': 'pixels', 'decode_tiles': [*OFFICIAL_DECODE_TILE, *OFFICIAL_DECODE_STRIDE],
    'pixel_rounding': 'truncate',
}
# Libraries whose classes model_index.json may name.
LIBRARIES = ('diffusers', 'transformers')


def check_condition_fill(fill: str) -> str:
    """Return ``fill`` if it is one of ``CONDITION_FILLS``; raise ValueError otherwise."""
    if fill not in CONDITION_FILLS:
        raise ValueError(f'condition_fill must be one of {", ".join(CONDITION_FILLS)}, '
                         f'got {fill!r}')
    return fill


def fill_condition_renders(renders: np.ndarray, masks: np.ndarray, fill: str,
                           depths: np.ndarray = None) -> np.ndarray:
    """Return (T, H, W, 3) uint8 renders as the condition latents see them under ``fill``.

    ``'none'``: ``renders`` unchanged; ``'telea'``: every pixel outside
    ``masks`` filled by Telea inpainting (``core.inpainting.telea_fill``, as the
    classical generator fills them); ``'background'``: filled from the
    surface behind each hole (``core.inpainting.background_fill``) using
    ``depths`` (T, H, W), Telea's fill where ``depths`` is None.
    """
    if check_condition_fill(fill) == 'none':
        return renders
    masks = np.asarray(masks).astype(bool)
    if fill == 'telea' or depths is None:
        return np.stack([telea_fill(np.ascontiguousarray(render), mask)
                         for render, mask in zip(renders, masks)])
    depths = np.asarray(depths, dtype=np.float32)
    if depths.shape != masks.shape:
        raise ValueError(f'render depths must be {masks.shape}, got {depths.shape}')
    return np.stack([background_fill(np.ascontiguousarray(render), mask, depth)
                     for render, mask, depth in zip(renders, masks, depths)])


def check_hole_blend(hole_blend):
    """Return ``hole_blend`` as [edge, deep, length] floats (or None); ValueError if invalid."""
    if hole_blend is None:
        return None
    values = [float(value) for value in hole_blend]
    if len(values) != 3 or not (0.0 <= values[0] <= 1.0 and 0.0 <= values[1] <= 1.0
                                and values[2] > 0.0):
        raise ValueError('hole_blend must be [edge, deep, length] with edge and deep in '
                         f'[0, 1] and length > 0, got {hole_blend}')
    return values


def blend_weights(masks: np.ndarray, condition_blend: float, hole_blend) -> np.ndarray:
    """Return (T, H, W) float32 weights of the condition images in the output.

    ``condition_blend`` where ``masks`` is True (the memory saw the pixel);
    in the holes the ``hole_blend`` profile of the distance to the nearest
    covered pixel (see the module docstring), or ``condition_blend`` too
    when it is None.
    """
    weights = np.full(masks.shape, condition_blend, np.float32)
    if hole_blend is None:
        return weights
    edge, deep, length = hole_blend
    for weight, mask in zip(weights, masks):
        if mask.all() or not mask.any():
            # No covered pixel to measure from: all render, or all hole (deep).
            weight[~mask] = deep
            continue
        distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2,
                                         cv2.DIST_MASK_PRECISE)
        profile = deep + (edge - deep) * np.exp(-distance / (length * mask.shape[1]))
        weight[~mask] = profile[~mask]
    return weights


@dataclass
class AnyReconPipelineOutput(BaseOutput):
    """Generated views, one per render, as (T, H, W, 3) uint8 RGB.

    ``model_images``: the same views before the condition blend (the model's
    own output, what the fusion gate checks; ``images`` when nothing is
    blended). ``latents``: with ``return_latents``, each chunk's denoised
    latents, all its frames (captures, carried, renders), (1, C, F, h, w)
    float32 on the CPU.
    """

    images: np.ndarray
    model_images: np.ndarray = None
    latents: list = None


class AnyReconPipeline(DiffusionPipeline):
    """Generate the views of a trajectory from capture views and memory renders."""

    model_cpu_offload_seq = 'image_encoder->transformer->vae'
    _optional_components = ['image_encoder', 'image_processor']

    def __init__(self, transformer, vae, scheduler, image_encoder=None, image_processor=None,
                 condition_fill: str = 'none', start_step: int = 0,
                 condition_blend: float = 0.0, hole_blend: list = None,
                 timestep_rounding: str = 'none',
                 mask_rule: str = 'majority', chunk_seed: str = 'continue',
                 carry: str = 'latents', decode_tiles: list = None,
                 pixel_rounding: str = 'round'):
        super().__init__()
        check_condition_fill(condition_fill)
        if start_step < 0:
            raise ValueError(f'start_step must be >= 0, got {start_step}')
        if not 0.0 <= condition_blend < 1.0:
            raise ValueError(f'condition_blend must be in [0, 1), got {condition_blend}')
        hole_blend = check_hole_blend(hole_blend)
        for name, value, allowed in (('timestep_rounding', timestep_rounding, TIMESTEP_ROUNDINGS),
                                     ('mask_rule', mask_rule, MASK_RULES),
                                     ('chunk_seed', chunk_seed, CHUNK_SEEDS),
                                     ('carry', carry, CARRY_MODES),
                                     ('pixel_rounding', pixel_rounding, PIXEL_ROUNDINGS)):
            if value not in allowed:
                raise ValueError(f'{name} must be one of {", ".join(allowed)}, got {value!r}')
        if decode_tiles is not None:
            decode_tiles = [int(value) for value in decode_tiles]
            if len(decode_tiles) != 4 or not (1 <= decode_tiles[2] <= decode_tiles[0]
                                              and 1 <= decode_tiles[3] <= decode_tiles[1]):
                raise ValueError('decode_tiles must be [tile_h, tile_w, stride_h, stride_w] with '
                                 f'1 <= stride <= tile, got {decode_tiles}')
        self.register_modules(transformer=transformer, vae=vae, scheduler=scheduler,
                              image_encoder=image_encoder, image_processor=image_processor)
        self.register_to_config(condition_fill=condition_fill, start_step=start_step,
                                condition_blend=condition_blend, hole_blend=hole_blend,
                                timestep_rounding=timestep_rounding, mask_rule=mask_rule,
                                chunk_seed=chunk_seed, carry=carry, decode_tiles=decode_tiles,
                                pixel_rounding=pixel_rounding)

    @classmethod
    def from_pretrained(cls, folder, **kwargs) -> 'AnyReconPipeline':
        """Load a folder written by ``save_pretrained``: local files and safetensors only.

        ``model_index.json`` may name classes of diffusers, transformers (the
        image encoder and its processor) and this package only; other
        libraries are refused with ValueError. No hub access: ``folder`` must
        be a folder on disk.
        """
        index = Path(folder) / cls.config_name   # model_index.json
        if not index.is_file():
            raise FileNotFoundError(f'{index} does not exist (pipelines load from local folders)')
        for name, entry in json.loads(index.read_text()).items():
            # Components are [library, class]; settings are anything else.
            component = (isinstance(entry, list) and len(entry) == 2
                         and all(isinstance(part, str) for part in entry))
            library = entry[0] if component else None
            if library and library not in LIBRARIES and not library.startswith('anyrecon_ros.'):
                raise ValueError(f'{index}: {name} is a {library} class; only diffusers and '
                                 'anyrecon_ros classes (and the transformers image encoder '
                                 'and processor) are loaded')
        kwargs.update(local_files_only=True, use_safetensors=True)
        # Three small parts: no "Loading pipeline components" bar in node logs.
        bar = diffusers_logging.is_progress_bar_enabled()
        diffusers_logging.disable_progress_bar()
        try:
            return super().from_pretrained(folder, **kwargs)
        finally:
            if bar:
                diffusers_logging.enable_progress_bar()

    @property
    def image_dim(self):
        """Return the transformer's CLIP feature size (``image_dim``); None: no image branch."""
        return getattr(getattr(self.transformer, 'config', None), 'image_dim', None)

    @torch.no_grad()
    def encode_image(self, image: np.ndarray):
        """Return the CLIP features the transformer attends to for (H, W, 3) uint8 ``image``.

        None when the transformer has no image branch; ValueError when it has
        one and the pipeline has no image encoder.
        """
        if self.image_dim is None:
            return None
        if self.image_encoder is None or self.image_processor is None:
            raise ValueError(
                f'this transformer has an image branch (image_dim={self.image_dim}): it needs '
                'the CLIP features of the first capture view, but the pipeline has no '
                f'{"image_encoder" if self.image_encoder is None else "image_processor"} '
                '(load the official weights with loaders.official, which reads the Wan '
                'image_encoder/ and image_processor/ from the local model folder)')
        return clip_image_features(self.image_encoder, self.image_processor, image)

    @torch.no_grad()
    def __call__(self, capture_images, renders, masks, num_inference_steps: int = 4,
                 chunk_frames: int = 40, carry_frames: int = 2, generator=None,
                 callback=None, vae_batch_frames: int = 4,
                 return_latents: bool = False, guidance_scale: float = 1.0,
                 negative_prompt_embedding: torch.Tensor = None,
                 render_depths=None) -> AnyReconPipelineOutput:
        """Return one generated image per render.

        ``capture_images`` (K, H, W, 3) and ``renders`` (T, H, W, 3) are uint8
        RGB; ``masks`` (T, H, W) booleans (True where the memory was visible),
        or (T, H, W, 3) uint8 mask frames, read as the official sampler reads
        them (red channel > 127). ``callback(chunk, chunks, step, steps)``
        reports progress. ``vae_batch_frames`` frames go through the VAE at a
        time (None: all). ``return_latents`` also returns each chunk's latents.
        ``guidance_scale`` > 1 turns on classifier-free guidance against
        ``negative_prompt_embedding`` (1, L, text_dim) (see the module
        docstring): two denoiser passes per step. ``render_depths`` (T, H, W)
        float, the renders' depth (NaN where unseen), is what the
        ``'background'`` condition fill reads; without it that fill is Telea's.
        """
        capture, renders, masks = _validated(capture_images, renders, masks)
        renders = fill_condition_renders(renders, masks, self.config.condition_fill,
                                         render_depths)
        weights = blend_weights(masks, self.config.condition_blend, self.config.hole_blend)
        if chunk_frames < 1 or carry_frames < 0:
            raise ValueError('chunk_frames must be >= 1 and carry_frames >= 0')
        device = self._execution_device
        negative = self._negative_embedding(guidance_scale, negative_prompt_embedding, device)
        image_features = self.encode_image(capture[0])
        capture_latents = encode_frames(self.vae, to_unit_range(capture, device),
                                        vae_batch_frames).float()
        seed = (generator if generator is not None else torch.default_generator).initial_seed()
        starts = list(range(0, len(renders), chunk_frames))
        carried, outputs, model_outputs, chunk_latents = None, [], [], []
        for chunk, start in enumerate(starts):
            chunk_renders = to_unit_range(renders[start:start + chunk_frames], device)
            chunk_masks = torch.from_numpy(masks[start:start + chunk_frames]).to(device)
            fixed = capture_latents if carried is None else torch.cat([capture_latents, carried])
            render_latents = encode_frames(self.vae, chunk_renders, vae_batch_frames).float()
            noise = (torch.Generator().manual_seed(seed) if self.config.chunk_seed == 'reseed'
                     else generator)
            latents = self._denoise(
                fixed, render_latents,
                mask_to_latent(chunk_masks.float(), rule=self.config.mask_rule),
                num_inference_steps, noise, image_features,
                lambda s, n: callback and callback(chunk, len(starts), s, n),
                guidance_scale, negative)
            if return_latents:
                chunk_latents.append(latents.cpu())
            generated = latents[0].permute(1, 0, 2, 3)[len(fixed):]
            decoded = self._decode(generated, vae_batch_frames).float()
            images = from_unit_range(decoded, self.config.pixel_rounding)
            model_outputs.append(images)
            blend = torch.from_numpy(weights[start:start + chunk_frames]).to(device)
            if blend.any():
                blend = blend[:, None]   # (T, 1, H, W), as the decoded frames
                images = from_unit_range((1 - blend) * decoded + blend * chunk_renders,
                                         self.config.pixel_rounding)
            outputs.append(images)
            if carry_frames:
                carried = (generated[-carry_frames:] if self.config.carry == 'latents' else
                           encode_frames(self.vae, to_unit_range(images[-carry_frames:], device),
                                         vae_batch_frames).float())
        return AnyReconPipelineOutput(images=np.concatenate(outputs),
                                      model_images=np.concatenate(model_outputs),
                                      latents=chunk_latents if return_latents else None)

    def _decode(self, latents: torch.Tensor, vae_batch_frames) -> torch.Tensor:
        tiles = self.config.decode_tiles
        if tiles:
            return tiled_decode_frames(self.vae, latents, tuple(tiles[:2]), tuple(tiles[2:]),
                                       vae_batch_frames)
        return decode_frames(self.vae, latents, vae_batch_frames)

    def _negative_embedding(self, guidance_scale: float, negative, device):
        """Return the text embedding of the unconditional pass; None without guidance."""
        if guidance_scale < 1.0:
            raise ValueError(f'guidance_scale must be >= 1 (1: no guidance), got {guidance_scale}')
        if guidance_scale == 1.0:
            return None
        empty = getattr(self.transformer, 'empty_prompt_embedding', None)
        if empty is None:
            raise ValueError(f'{type(self.transformer).__name__} has the empty prompt built in '
                             'and takes no other text embedding: classifier-free guidance '
                             '(guidance_scale > 1) runs with backend torch')
        if negative is None:
            negative = getattr(self.transformer, 'negative_prompt_embedding', None)
        if negative is None:
            negative = torch.zeros_like(empty)
        if negative.ndim != 3 or negative.shape[-1] != empty.shape[-1]:
            raise ValueError(f'negative_prompt_embedding must be (1, L, {empty.shape[-1]}), '
                             f'got {tuple(negative.shape)}')
        return negative.to(device, self.transformer.dtype)

    def _denoise(self, fixed_latents, render_latents, render_masks, steps, generator,
                 image_features, progress, guidance_scale: float = 1.0, negative=None):
        """Denoise one chunk; return its clean latents, all frames, (1, C, F, h, w) float32.

        With ``negative`` (guidance_scale > 1), each step also runs the
        transformer on it and guides: ``uncond + g * (cond - uncond)``.
        """
        condition = torch.cat([fixed_latents, render_latents])
        ones = torch.ones((len(fixed_latents),) + render_masks.shape[1:], dtype=render_masks.dtype,
                          device=render_masks.device)
        mask = torch.cat([ones, render_masks])
        # (frames, channels, h, w) -> (1, channels, frames, h, w), the transformer's layout.
        condition, mask = (x.permute(1, 0, 2, 3)[None].float() for x in (condition, mask))
        latents = torch.randn(condition.shape, generator=generator, device='cpu').to(
            condition.device)
        set_steps(self.scheduler, steps, device=condition.device)
        timesteps = self.scheduler.timesteps
        start = min(self.config.start_step, len(timesteps) - 1)
        if start:
            # Start part-way from the condition itself (SDEdit): the render, or its
            # classical fill, noised to the level of the first step that runs.
            sigma = self.scheduler.sigmas[start]
            latents = (1 - sigma) * condition + sigma * latents
            self.scheduler.set_begin_index(start)
        # Casts at the transformer's boundary: its dtype in, float32 out.
        dtype = self.transformer.dtype
        extra = {}
        if image_features is not None:
            extra['encoder_hidden_states_image'] = image_features.to(condition.device, dtype)
        for index, timestep in enumerate(timesteps[start:]):
            seen = model_timestep(timestep, self.config.timestep_rounding).to(condition.device)
            packed = pack_conditioning(latents, mask, condition).to(dtype)
            velocity = self.transformer(
                hidden_states=packed, timestep=seen.expand(1), encoder_hidden_states=None,
                return_dict=False, **extra)[0].float()
            if negative is not None:
                unconditional = self.transformer(
                    hidden_states=packed, timestep=seen.expand(1),
                    encoder_hidden_states=negative, return_dict=False, **extra)[0].float()
                velocity = unconditional + guidance_scale * (velocity - unconditional)
            latents = self.scheduler.step(velocity, timestep, latents, return_dict=False)[0]
            progress(index + 1, len(timesteps) - start)
        return latents


def _validated(capture_images, renders, masks):
    capture = np.asarray(capture_images)
    renders = np.asarray(renders)
    masks = np.asarray(masks)
    masks = red_channel_mask(masks) if masks.ndim == 4 else masks.astype(bool)
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
