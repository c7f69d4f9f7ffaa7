# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A small pretrained per-image autoencoder (TAEF2 weights) as a frame-wise VAE.

:class:`TinyFrameAutoencoder` is a diffusers model (``ModelMixin`` /
``ConfigMixin``, ``save_pretrained`` / ``from_pretrained`` with
safetensors) whose state dict holds the TAEF2 tensors unchanged, the
encoder's under ``encoder.`` and the decoder's under ``decoder.``
(``from_taef2_files`` reads the two published files). It has no temporal
axis: every image is encoded on its own, 8x down-sampled to 32 latent
channels, so N images give N latent frames, as the frame-wise pipeline
wants. It is a drop-in for ``AutoencoderKLWan`` in
:func:`~anyrecon_ros.model.models.vae.encode_frames` /
:func:`~anyrecon_ros.model.models.vae.decode_frames`, which normalise its
latents with the config's ``latents_mean`` / ``latents_std`` (zeros and ones
until calibrated).

The network, as the weights describe it: every convolution is 3x3 with
padding 1 unless said otherwise. A block is conv, ReLU, conv, ReLU, conv plus
the input (a 1x1 convolution where channel counts differ), then ReLU; a
pooled block first adds to its input a 1x1 (c -> 4c), GroupNorm(4), ReLU,
1x1 (4c -> c) branch. The encoder takes RGB in [0, 1]; the decoder
soft-clamps the latent (3 tanh(x / 3)) and gives RGB in [0, 1] (clamped).
The package's images are in [-1, 1]: :meth:`encode` and :meth:`decode`
convert at the boundaries.

Licence and attribution of the weights: TAEF2, the tiny autoencoder
distilled from the FLUX.2 VAE by Ollin Boer Bohan (madebyollin), published
in github.com/madebyollin/taesd (commit 5cccb12, ``taef2_encoder.pth`` and
``taef2_decoder.pth``), MIT licence, "Copyright (c) 2023 Ollin Boer Bohan".
The licence text is ``TAEF2_LICENSE`` beside this file; ship it and this
attribution beside any checkpoint that contains these weights
(:meth:`TinyFrameAutoencoder.save_pretrained` writes ``TAEF2_LICENSE`` into
its folder). The code here is this package's own (Apache-2.0).
"""

from pathlib import Path
import shutil

from diffusers import ModelMixin
from diffusers.configuration_utils import ConfigMixin
from diffusers.configuration_utils import register_to_config
from safetensors.torch import load_file
import torch
from torch import nn

LICENSE_FILE = Path(__file__).resolve().parent / 'TAEF2_LICENSE'
ENCODER_FILE = 'taef2_encoder.safetensors'
DECODER_FILE = 'taef2_decoder.safetensors'
# Three stride-2 convolutions down, three 2x up-samplings back.
STAGES = 3
POOL_GROUPS = 4
POOL_EXPANSION = 4
# The decoder's soft clamp: latents pass through LATENT_BOUND * tanh(x / LATENT_BOUND).
LATENT_BOUND = 3.0


def _conv(in_channels: int, out_channels: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, **kwargs)


class Block(nn.Module):
    """Three 3x3 convolutions with ReLUs, a residual connection, then ReLU.

    ``pooled`` first adds a 1x1 -> GroupNorm -> ReLU -> 1x1 branch to the input.
    """

    def __init__(self, in_channels: int, out_channels: int, pooled: bool = False):
        super().__init__()
        if pooled:
            hidden = POOL_EXPANSION * in_channels
            self.pool = nn.Sequential(nn.Conv2d(in_channels, hidden, 1, bias=False),
                                      nn.GroupNorm(POOL_GROUPS, hidden), nn.ReLU(),
                                      nn.Conv2d(hidden, in_channels, 1, bias=False))
        else:
            self.pool = None
        self.conv = nn.Sequential(_conv(in_channels, out_channels), nn.ReLU(),
                                  _conv(out_channels, out_channels), nn.ReLU(),
                                  _conv(out_channels, out_channels))
        self.skip = (nn.Identity() if in_channels == out_channels
                     else nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the block's output for (N, C, H, W) ``x``."""
        if self.pool is not None:
            x = x + self.pool(x)
        return torch.relu(self.conv(x) + self.skip(x))


class SoftClamp(nn.Module):
    """``bound * tanh(x / bound)``: about x near 0, never beyond +-bound."""

    def __init__(self, bound: float = LATENT_BOUND):
        super().__init__()
        self.bound = bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the softly clamped ``x``."""
        return self.bound * torch.tanh(x / self.bound)


def build_encoder(latent_channels: int, channels: int) -> nn.Sequential:
    """Return the encoder: RGB in [0, 1] to latents, 8x smaller (state-dict keys 0 ... 14)."""
    layers = [_conv(3, channels), Block(channels, channels)]
    for stage in range(STAGES):
        layers.append(_conv(channels, channels, stride=2, bias=False))
        layers += [Block(channels, channels, pooled=stage == STAGES - 1) for _ in range(3)]
    layers.append(_conv(channels, latent_channels))
    return nn.Sequential(*layers)


def build_decoder(latent_channels: int, channels: int) -> nn.Sequential:
    """Return the decoder: latents to RGB in about [0, 1], 8x larger (keys 0 ... 19)."""
    layers = [SoftClamp(), _conv(latent_channels, channels), nn.ReLU()]
    layers += [Block(channels, channels, pooled=True) for _ in range(3)]
    for blocks in (3, 3, 1):
        layers += [nn.Upsample(scale_factor=2), _conv(channels, channels, bias=False)]
        layers += [Block(channels, channels) for _ in range(blocks)]
    layers.append(_conv(channels, 3))
    return nn.Sequential(*layers)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    # The convolutions run about 30 % faster on a CPU in channels-last memory
    # (measured at 128 px, 2 cores: 39 -> 28 ms a frame to encode); the values
    # are the same to float rounding.
    return x.contiguous(memory_format=torch.channels_last)


def _channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.contiguous_format)


class TinyFrameAutoencoder(ModelMixin, ConfigMixin):
    """The TAEF2 per-image autoencoder: (N, 3, H, W) images <-> (N, 32, H/8, W/8) latents.

    Images are in [-1, 1] (the package's convention); :meth:`encode` gives
    the network's raw latents and :meth:`decode` takes them back.
    ``latents_mean`` and ``latents_std`` (per channel; zeros and ones by
    default) are what ``encode_frames`` / ``decode_frames`` normalise with,
    set from data by ``calibrate_latent_statistics``.
    """

    spatial_compression_ratio = 2 ** STAGES

    @register_to_config
    def __init__(self, latent_channels: int = 32, channels: int = 64,
                 latents_mean: list = None, latents_std: list = None):
        super().__init__()
        latents_mean = [0.0] * latent_channels if latents_mean is None else list(latents_mean)
        latents_std = [1.0] * latent_channels if latents_std is None else list(latents_std)
        if len(latents_mean) != latent_channels or len(latents_std) != latent_channels:
            raise ValueError(f'latents_mean and latents_std need {latent_channels} values, got '
                             f'{len(latents_mean)} and {len(latents_std)}')
        self.register_to_config(latents_mean=latents_mean, latents_std=latents_std)
        self.encoder = build_encoder(latent_channels, channels)
        self.decoder = build_decoder(latent_channels, channels)

    @classmethod
    def from_taef2_files(cls, folder) -> 'TinyFrameAutoencoder':
        """Load ``taef2_encoder.safetensors`` and ``taef2_decoder.safetensors`` from ``folder``.

        Every tensor of the files must fill a weight of the model and every
        weight must be filled (strict); float16 tensors become float32.
        """
        folder = Path(folder)
        state = {}
        for prefix, name in (('encoder', ENCODER_FILE), ('decoder', DECODER_FILE)):
            path = folder / name
            if not path.is_file():
                raise FileNotFoundError(f'{path} does not exist (the TAEF2 weights)')
            state.update({f'{prefix}.{key}': tensor for key, tensor in load_file(path).items()})
        model = cls()
        model.load_state_dict(state, strict=True)
        return model.eval()

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """Save as ``ModelMixin`` does (config, safetensors), and the weights' licence beside."""
        super().save_pretrained(save_directory, *args, **kwargs)
        shutil.copyfile(LICENSE_FILE, Path(save_directory) / LICENSE_FILE.name)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Encode (N, 3, H, W) images in [-1, 1] to raw (N, 32, H/8, W/8) latents."""
        return _channels_first(self.encoder(_channels_last((images + 1) / 2)))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode raw (N, 32, h, w) latents to (N, 3, 8h, 8w) images in [-1, 1]."""
        return _channels_first(self.decoder(_channels_last(latents)).clamp(0, 1) * 2 - 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction of (N, 3, H, W) images in [-1, 1]."""
        return self.decode(self.encode(images))
