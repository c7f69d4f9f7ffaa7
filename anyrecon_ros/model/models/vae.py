# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frame-wise VAEs: every image is its own latent frame (Wan VAE or TAEF2).

AnyRecon conditions on an unordered set of views, so it must not compress
time: N images give N latent frames. The Wan VAE is causal in time and
treats the first frame of a video on its own, so feeding each image as a
one-frame video (a batch of them) gives exactly one latent frame per image.

A causal 3D convolution on a one-frame video only ever multiplies its last
temporal tap with real data (the other taps see the causal zero padding), so
for one-frame inputs every ``WanCausalConv3d`` runs as the equivalent 2D
convolution: the same weights and result, about half the VAE's time on a CPU.

The per-image ``TinyFrameAutoencoder`` (:mod:`.taef2`, 32 latent channels)
works the same way: :func:`encode_unnormalised` and :func:`decode_frames`
call its ``encode`` / ``decode`` where the Wan VAE needs a one-frame video
and its posterior's mode; :func:`latent_channels` reads either config.

Latents are normalised per channel with the VAE config's ``latents_mean`` /
``latents_std``, the convention of the Wan pipelines, so the transformer sees
roughly unit-variance inputs. Images enter the VAE in [-1, 1]:
:func:`to_unit_range` and :func:`from_unit_range` convert uint8 RGB to that
range and back (rounding to the nearest level, or truncating as the official
sampler does).

The official sampler's rules live here too, each chosen by a pipeline
setting: :func:`mask_to_latent`'s ``'nearest'`` rule (the top-left pixel of
each 8x8 cell), :func:`red_channel_mask` for its mask frames, and
:func:`tiled_decode_frames`, its spatially tiled decode (latent tiles 30x52,
stride 15x26, linear ramps over the overlaps).
"""

from pathlib import Path

from diffusers import AutoencoderKLWan
from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d
import numpy as np
import torch
import torch.nn.functional as F

# The Wan VAE's latent channels (TAEF2 has 32: see latent_channels()).
LATENT_CHANNELS = 16
MASK_CHANNELS = 4
# Below this alpha a rendered pixel counts as a hole in the point-cloud render.
VISIBLE_ALPHA = 0.01
MASK_THRESHOLD = 0.5
# Latent mask rules: an 8x8 majority vote (the package's own), or nearest
# down-sampling, the top-left pixel of each cell (the official sampler's).
MASK_RULES = ('majority', 'nearest')
# uint8 conversion of decoded images: to the nearest level, or truncated (official).
PIXEL_ROUNDINGS = ('round', 'truncate')
# The official sampler's decode tiles in latent pixels: (height, width) and stride.
OFFICIAL_DECODE_TILE = (30, 52)
OFFICIAL_DECODE_STRIDE = (15, 26)


def to_unit_range(images: np.ndarray, device=None) -> torch.Tensor:
    """Turn (N, H, W, 3) uint8 RGB into (N, 3, H, W) floats in [-1, 1] (on ``device``)."""
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        tensor = tensor.to(device)
    return tensor.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def from_unit_range(images: torch.Tensor, rounding: str = 'round') -> np.ndarray:
    """Turn (N, 3, H, W) floats in [-1, 1] (clamped) into (N, H, W, 3) uint8 RGB.

    ``rounding`` ``'round'`` takes the nearest level; ``'truncate'`` drops the
    fraction, as the official sampler's ``astype(uint8)`` does.
    """
    if rounding not in PIXEL_ROUNDINGS:
        raise ValueError(f'rounding must be one of {", ".join(PIXEL_ROUNDINGS)}, got {rounding!r}')
    levels = (images.float().clamp(-1, 1) + 1) * 127.5
    levels = levels.round() if rounding == 'round' else levels.floor()
    return levels.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def latent_channels(vae) -> int:
    """Return the latent channels of a frame-wise VAE (``z_dim`` of AutoencoderKLWan)."""
    config = vae.config
    return config['z_dim'] if 'z_dim' in config else config['latent_channels']


def _stats(vae, like: torch.Tensor):
    """Return the per-channel latent mean and std, shaped (1, C, 1, 1) like ``like``."""
    shape = (1, latent_channels(vae), 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape)
    std = torch.tensor(vae.config.latents_std).view(shape)
    return mean.to(like), std.to(like)


class FrameCausalConv3d(WanCausalConv3d):
    """A ``WanCausalConv3d`` that runs one-frame inputs as a 2D convolution.

    Exact for a one-frame input without cached frames when the temporal
    padding is causal and "same" (kernel = 2 * padding + 1): the single output
    frame then sees the input through the kernel's last temporal tap only.
    Anything else goes through the stock 3D path.
    """

    def forward(self, x: torch.Tensor, cache_x: torch.Tensor = None) -> torch.Tensor:
        """Convolve (B, C, T, H, W) ``x``; a 2D convolution when T is 1 and nothing is cached."""
        if x.shape[2] != 1 or cache_x is not None or self.kernel_size[0] != self._padding[4] + 1:
            return super().forward(x, cache_x)
        # _padding is F.pad's (w, w, h, h, t, 0) order.
        spatial_padding = (self._padding[2], self._padding[0])
        frame = F.conv2d(x[:, :, 0], self.weight[:, :, -1], self.bias, self.stride[1:],
                         spatial_padding, self.dilation[1:], self.groups)
        return frame.unsqueeze(2)


def use_frame_convolutions(vae: AutoencoderKLWan) -> AutoencoderKLWan:
    """Switch every causal 3D convolution of ``vae`` to :class:`FrameCausalConv3d`, in place.

    Only the class changes (no new weights), so state dicts and
    ``save_pretrained`` are untouched and multi-frame videos decode as before.
    """
    for module in vae.modules():
        if type(module) is WanCausalConv3d:
            module.__class__ = FrameCausalConv3d
    return vae


def _check_size(height: int, width: int, factor: int) -> None:
    if height % factor or width % factor:
        raise ValueError(f'image size {height}x{width} is not a multiple of {factor}')


def encode_unnormalised(vae, images: torch.Tensor, batch_frames: int = None) -> torch.Tensor:
    """Encode (N, 3, H, W) images in [-1, 1] to the VAE's own (N, C, H/8, W/8) latents.

    Deterministic: for the Wan VAE the posterior's mode (its mean), as the
    Wan I2V pipeline encodes its conditioning image. ``batch_frames``
    encodes that many images at a time (all at once when None). Gradients
    flow, so callers that only infer should wrap this in ``torch.no_grad()``.
    """
    _check_size(images.shape[-2], images.shape[-1], vae.spatial_compression_ratio)
    param = next(vae.parameters())
    wan = isinstance(vae, AutoencoderKLWan)
    if wan:
        use_frame_convolutions(vae)

    def encode(batch):
        batch = batch.to(device=param.device, dtype=param.dtype)
        if wan:
            return vae.encode(batch.unsqueeze(2)).latent_dist.mode()[:, :, 0]
        return vae.encode(batch)
    return _in_batches(encode, images, batch_frames)


def encode_frames(vae, images: torch.Tensor, batch_frames: int = None) -> torch.Tensor:
    """Encode (N, 3, H, W) images in [-1, 1] to normalised (N, C, H/8, W/8) latents.

    C is :func:`latent_channels` (16 for the Wan VAE, 32 for TAEF2); see
    :func:`encode_unnormalised`, whose latents are normalised here with the
    config's ``latents_mean`` / ``latents_std``.
    """
    mean, std = _stats(vae, next(vae.parameters()))
    return (encode_unnormalised(vae, images, batch_frames) - mean) / std


def decode_frames(vae, latents: torch.Tensor, batch_frames: int = None) -> torch.Tensor:
    """Decode normalised (N, C, h, w) latents to (N, 3, 8h, 8w) images in [-1, 1].

    ``batch_frames`` decodes that many frames at a time (all at once when None).
    """
    param = next(vae.parameters())
    mean, std = _stats(vae, param)
    wan = isinstance(vae, AutoencoderKLWan)
    if wan:
        use_frame_convolutions(vae)

    def decode(batch):
        batch = batch.to(device=param.device, dtype=param.dtype) * std + mean
        if wan:
            return vae.decode(batch.unsqueeze(2)).sample[:, :, 0]
        return vae.decode(batch)
    return _in_batches(decode, latents, batch_frames)


def _in_batches(function, frames: torch.Tensor, batch_frames: int = None) -> torch.Tensor:
    # Frames are independent, so batching changes nothing but speed: on a
    # CPU a few frames at a time keep the activations in cache (about twice
    # as fast as 40 frames at once at 128 px).
    if batch_frames is not None and batch_frames < 1:
        raise ValueError(f'batch_frames must be >= 1, got {batch_frames}')
    if batch_frames is None or len(frames) <= batch_frames:
        return function(frames)
    return torch.cat([function(frames[start:start + batch_frames])
                      for start in range(0, len(frames), batch_frames)])


def mask_to_latent(mask: torch.Tensor, factor: int = 8, rule: str = 'majority') -> torch.Tensor:
    """Turn (N, H, W) render alpha into a (N, 4, H/8, W/8) binary latent mask.

    A pixel is visible where alpha > 0.01. ``rule`` says how an 8x8 patch (one
    latent pixel) becomes one value: ``'majority'`` averages its visibility
    and marks the latent pixel visible (1) when at least half of the patch is,
    else 0 (a latent pixel is conditioned on memory content only where most of
    it is real); ``'nearest'`` takes the patch's top-left pixel, which is what
    the official sampler's nearest down-sampling (``F.interpolate(mode=
    'nearest')`` by a factor of 8) reads. In Wan
    I2V the 4 mask channels of a latent frame are the masks of the 4 video
    frames it compresses, and the first latent frame, which holds one image,
    repeats that image's mask 4 times; with one image per latent frame every
    frame is in that case, so the value is repeated over the 4 channels.
    Boolean masks work too. Capture frames are fully known: giving them
    all-ones masks is the caller's job.
    """
    _check_size(mask.shape[-2], mask.shape[-1], factor)
    if rule not in MASK_RULES:
        raise ValueError(f'mask rule must be one of {", ".join(MASK_RULES)}, got {rule!r}')
    visible = (mask > VISIBLE_ALPHA).float().unsqueeze(1)
    if rule == 'nearest':
        binary = visible[..., ::factor, ::factor]
    else:
        binary = (F.avg_pool2d(visible, factor) >= MASK_THRESHOLD).float()
    return binary.expand(-1, MASK_CHANNELS, -1, -1).contiguous()


def red_channel_mask(mask_frames) -> np.ndarray:
    """Return (N, H, W) booleans from (N, H, W, 3) uint8 RGB mask frames: red > 127.

    The official sampler reads its masks as video frames this way (white:
    seen, black: to generate).
    """
    frames = np.asarray(mask_frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f'mask frames must be (N, H, W, 3) uint8, got {frames.shape} '
                         f'{frames.dtype}')
    return frames[..., 0] > 127


def tile_starts(size: int, tile: int, stride: int) -> list:
    """Return the first latent row (or column) of each decode tile along a side of ``size``.

    Tiles start every ``stride``; the last is the first that reaches the end
    (it may reach past it, and is then cut), as in the official tiled decode.
    """
    if tile < 1 or not 1 <= stride <= tile:
        raise ValueError(f'need tile >= stride >= 1, got tile {tile}, stride {stride}')
    starts = []
    for start in range(0, size, stride):
        if starts and starts[-1] + tile >= size:
            break
        starts.append(start)
    return starts


def _ramp(length: int, first: bool, last: bool, border: int) -> torch.Tensor:
    # Weight 1 inside; over ``border`` pixels at a side shared with another
    # tile it rises as 1/border, 2/border, ..., 1 (and falls the same way).
    weight = torch.ones(length)
    border = min(border, length)
    if border and not first:
        weight[:border] = torch.arange(1, border + 1) / border
    if border and not last:
        # Written over the rising ramp, as the official rule does (they meet
        # only in a tile shorter than two overlaps).
        weight[length - border:] = torch.arange(border, 0, -1) / border
    return weight


def tiled_decode_frames(vae, latents: torch.Tensor, tile=OFFICIAL_DECODE_TILE,
                        stride=OFFICIAL_DECODE_STRIDE, batch_frames: int = None) -> torch.Tensor:
    """Decode normalised (N, C, h, w) latents tile by tile to (N, 3, 8h, 8w) images in [-1, 1].

    Tiles of ``tile`` latent pixels start every ``stride`` (see
    :func:`tile_starts`); each is decoded on its own and the pixels are
    blended with weights that ramp linearly over the overlap, ``(tile -
    stride) * 8`` pixels, on each side another tile shares (the official
    sampler's rule), then clamped to [-1, 1]. Bounds the decoder's
    activations to one tile; a tile covering the latents decodes untiled.
    """
    frames, _, height, width = latents.shape
    factor = 8
    rows = tile_starts(height, tile[0], stride[0])
    columns = tile_starts(width, tile[1], stride[1])
    borders = ((tile[0] - stride[0]) * factor, (tile[1] - stride[1]) * factor)
    values = weights = None
    for top in rows:
        bottom = top + tile[0]
        for left in columns:
            right = left + tile[1]
            pixels = decode_frames(vae, latents[..., top:bottom, left:right], batch_frames)
            weight = torch.minimum(
                _ramp(pixels.shape[-2], top == 0, bottom >= height, borders[0])[:, None],
                _ramp(pixels.shape[-1], left == 0, right >= width, borders[1])[None, :])
            weight = weight.to(pixels)
            if values is None:
                values = pixels.new_zeros((frames, 3, height * factor, width * factor))
                weights = pixels.new_zeros((height * factor, width * factor))
            rows_px = slice(top * factor, top * factor + pixels.shape[-2])
            columns_px = slice(left * factor, left * factor + pixels.shape[-1])
            values[..., rows_px, columns_px] += pixels * weight
            weights[rows_px, columns_px] += weight
    return (values / weights).clamp(-1, 1)


class FrameVAE(torch.nn.Module):
    """An ``AutoencoderKLWan`` used frame-wise: N images <-> N latent frames."""

    def __init__(self, vae: AutoencoderKLWan):
        super().__init__()
        self.vae = vae

    @staticmethod
    def tiny_config() -> dict:
        """Return the config of a CPU-size AutoencoderKLWan (16 latent channels, 8x down)."""
        return {
            'base_dim': 16,
            'z_dim': LATENT_CHANNELS,
            'dim_mult': [1, 2, 2, 2],
            'num_res_blocks': 1,
            'attn_scales': [],
            # Irrelevant for one-frame videos, but keeps the tiny model lean.
            'temperal_downsample': [False, False, False],
        }

    @classmethod
    def tiny(cls) -> 'FrameVAE':
        """Return a randomly initialised FrameVAE with :meth:`tiny_config`."""
        return cls(AutoencoderKLWan(**cls.tiny_config()))

    @classmethod
    def from_pretrained(cls, path, **kwargs) -> 'FrameVAE':
        """Load a local diffusers AutoencoderKLWan folder (never the hub)."""
        kwargs['local_files_only'] = True
        return cls(AutoencoderKLWan.from_pretrained(Path(path), **kwargs))

    def save_pretrained(self, path) -> None:
        """Save the wrapped VAE as a diffusers folder (config + safetensors)."""
        self.vae.save_pretrained(Path(path), safe_serialization=True)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Encode (N, 3, H, W) images in [-1, 1]; see :func:`encode_frames`."""
        return encode_frames(self.vae, images)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode normalised latents to images in [-1, 1]; see :func:`decode_frames`."""
        return decode_frames(self.vae, latents)

    @staticmethod
    def mask_to_latent(mask: torch.Tensor) -> torch.Tensor:
        """Turn render alpha into a latent mask; see :func:`mask_to_latent`."""
        return mask_to_latent(mask)
