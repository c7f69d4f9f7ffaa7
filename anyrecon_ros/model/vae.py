# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Frame-wise use of the Wan VAE: every image is its own one-frame video.

AnyRecon conditions on an unordered set of views, so it must not compress
time: N images give N latent frames. The Wan VAE is causal in time and
treats the first frame of a video on its own, so feeding each image as a
one-frame video (a batch of them) gives exactly one latent frame per image.

Latents are normalised per channel with the VAE config's ``latents_mean`` /
``latents_std``, the convention of the Wan pipelines, so the transformer sees
roughly unit-variance inputs.
"""

from pathlib import Path

from diffusers import AutoencoderKLWan
import torch
import torch.nn.functional as F

LATENT_CHANNELS = 16
MASK_CHANNELS = 4
# Below this alpha a rendered pixel counts as a hole in the point-cloud render.
VISIBLE_ALPHA = 0.01
MASK_THRESHOLD = 0.5


def _stats(vae: AutoencoderKLWan, like: torch.Tensor):
    """Return the per-channel latent mean and std, shaped (1, C, 1, 1) like ``like``."""
    shape = (1, vae.config.z_dim, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape)
    std = torch.tensor(vae.config.latents_std).view(shape)
    return mean.to(like), std.to(like)


def _check_size(height: int, width: int, factor: int) -> None:
    if height % factor or width % factor:
        raise ValueError(f'image size {height}x{width} is not a multiple of {factor}')


def encode_frames(vae: AutoencoderKLWan, images: torch.Tensor) -> torch.Tensor:
    """Encode (N, 3, H, W) images in [-1, 1] to normalised (N, 16, H/8, W/8) latents.

    Deterministic: the posterior's mode (its mean), as the Wan I2V pipeline
    encodes its conditioning image. Gradients flow, so callers that only
    infer should wrap this in ``torch.no_grad()``.
    """
    _check_size(images.shape[-2], images.shape[-1], vae.spatial_compression_ratio)
    param = next(vae.parameters())
    video = images.to(device=param.device, dtype=param.dtype).unsqueeze(2)
    latents = vae.encode(video).latent_dist.mode()[:, :, 0]
    mean, std = _stats(vae, latents)
    return (latents - mean) / std


def decode_frames(vae: AutoencoderKLWan, latents: torch.Tensor) -> torch.Tensor:
    """Decode normalised (N, 16, h, w) latents to (N, 3, 8h, 8w) images in [-1, 1]."""
    param = next(vae.parameters())
    latents = latents.to(device=param.device, dtype=param.dtype)
    mean, std = _stats(vae, latents)
    video = vae.decode((latents * std + mean).unsqueeze(2)).sample
    return video[:, :, 0]


def mask_to_latent(mask: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Turn (N, H, W) render alpha into a (N, 4, H/8, W/8) binary latent mask.

    A pixel is visible where alpha > 0.01. Visibility is averaged over each
    8x8 patch (one latent pixel) and a latent pixel is marked visible (1) when
    at least half of its patch is, else 0 (a majority vote, so a latent pixel
    is conditioned on memory content only where most of it is real). In Wan
    I2V the 4 mask channels of a latent frame are the masks of the 4 video
    frames it compresses, and the first latent frame, which holds one image,
    repeats that image's mask 4 times; with one image per latent frame every
    frame is in that case, so the value is repeated over the 4 channels.
    Boolean masks work too. Capture frames are fully known: giving them
    all-ones masks is the caller's job.
    """
    _check_size(mask.shape[-2], mask.shape[-1], factor)
    visible = (mask > VISIBLE_ALPHA).float().unsqueeze(1)
    coverage = F.avg_pool2d(visible, factor)
    binary = (coverage >= MASK_THRESHOLD).float()
    return binary.expand(-1, MASK_CHANNELS, -1, -1).contiguous()


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
