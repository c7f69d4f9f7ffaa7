# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The frame-wise VAE: one latent frame per image, a working round trip, latent masks."""

import math

from diffusers import AutoencoderKLWan
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import FrameCausalConv3d
from anyrecon_ros.model.models.vae import FrameVAE
from anyrecon_ros.model.models.vae import from_unit_range
from anyrecon_ros.model.models.vae import mask_to_latent
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.models.vae import use_frame_convolutions

SIZE = 32
# Measured on the 2-core machine: 160 Adam steps at lr 1e-3 take 12-16 s and
# reach 32.8-35.1 dB over seeds 0-4 (35.1 with the seed used here). 25 dB
# leaves room for BLAS differences and is far above the ~10 dB of an
# untrained decoder. A larger lr (2e-3) is faster for some seeds but
# plateaus for others (16 dB at 150 steps for seed 3).
TRAIN_STEPS = 160
LEARNING_RATE = 1e-3
MIN_PSNR_DB = 25.0


def _smooth_images(count: int = 4, size: int = SIZE) -> torch.Tensor:
    """Return (count, 3, size, size) smooth sinusoid images in [-0.8, 0.8]."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size),
                            indexing='ij')
    images = []
    for k in range(count):
        freq = 1 + 0.5 * k
        images.append(torch.stack([
            torch.sin(2 * math.pi * (freq * xx + 0.3 * k)),
            torch.cos(2 * math.pi * (freq * yy - 0.2 * k)),
            torch.sin(math.pi * freq * (xx + yy)),
        ]))
    return 0.8 * torch.stack(images)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    # Peak-to-peak range of [-1, 1] images is 2, so the peak power is 4.
    return 10 * math.log10(4.0 / F.mse_loss(a, b).item())


def test_n_images_give_n_latent_frames():
    torch.manual_seed(0)
    vae = FrameVAE.tiny().eval()
    images = torch.rand(5, 3, 48, 64) * 2 - 1
    with torch.no_grad():
        latents = vae.encode(images)
        decoded = vae.decode(latents)
    assert latents.shape == (5, 16, 6, 8)
    assert decoded.shape == images.shape
    assert decoded.abs().max() <= 1.0
    with torch.no_grad():
        # Deterministic (posterior mode), and the functions match the wrapper.
        assert torch.equal(encode_frames(vae.vae, images), latents)
        assert torch.equal(decode_frames(vae.vae, latents), decoded)


def test_each_frame_is_encoded_independently():
    torch.manual_seed(0)
    vae = FrameVAE.tiny().eval()
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        together = vae.encode(images)
        alone = vae.encode(images[1:2])
    assert torch.allclose(together[1:2], alone, atol=1e-5)


def test_frame_wise_is_not_video_wise():
    # With Wan's 4x temporal compression (the real VAE's setting), five images
    # as one video give two latent frames; frame-wise they give five.
    torch.manual_seed(0)
    config = dict(FrameVAE.tiny_config(), temperal_downsample=[False, True, True])
    vae = FrameVAE(AutoencoderKLWan(**config)).eval()
    images = torch.rand(5, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        frame_wise = vae.encode(images)
        video = vae.vae.encode(images.transpose(0, 1).unsqueeze(0)).latent_dist.mode()
    assert frame_wise.shape == (5, 16, 4, 4)
    assert video.shape == (1, 16, 2, 4, 4)
    # The video's first frame is encoded alone (the VAE is causal), so it is
    # the one latent frame both ways agree on.
    mean = torch.tensor(vae.vae.config.latents_mean).view(1, -1, 1, 1)
    std = torch.tensor(vae.vae.config.latents_std).view(1, -1, 1, 1)
    assert torch.allclose((video[:, :, 0] - mean) / std, frame_wise[:1], atol=1e-5)


def test_latents_are_normalised_with_the_config_statistics():
    torch.manual_seed(0)
    vae = FrameVAE.tiny().eval()
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        raw = vae.vae.encode(images.unsqueeze(2)).latent_dist.mode()[:, :, 0]
        latents = vae.encode(images)
    mean = torch.tensor(vae.vae.config.latents_mean).view(1, -1, 1, 1)
    std = torch.tensor(vae.vae.config.latents_std).view(1, -1, 1, 1)
    assert torch.allclose(latents, (raw - mean) / std, atol=1e-6)


def test_trained_tiny_vae_reconstructs():
    torch.manual_seed(0)
    vae = FrameVAE.tiny()
    images = _smooth_images()
    optimiser = torch.optim.Adam(vae.parameters(), lr=LEARNING_RATE)
    for _ in range(TRAIN_STEPS):
        loss = F.mse_loss(vae.decode(vae.encode(images)), images)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        psnr = _psnr(vae.decode(vae.encode(images)), images)
    assert psnr > MIN_PSNR_DB, f'PSNR {psnr:.1f} dB'


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    vae = FrameVAE.tiny().eval()
    vae.save_pretrained(tmp_path / 'vae')
    assert (tmp_path / 'vae' / 'diffusion_pytorch_model.safetensors').is_file()
    loaded = FrameVAE.from_pretrained(tmp_path / 'vae').eval()
    plain = AutoencoderKLWan.from_pretrained(tmp_path / 'vae', local_files_only=True).eval()
    images = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = vae.encode(images)
        assert torch.equal(loaded.encode(images), expected)
        assert torch.equal(encode_frames(plain, images), expected)


def test_mask_to_latent_thresholds_patch_coverage():
    alpha = torch.zeros(2, 16, 24)
    alpha[0, :8, :8] = 1.0        # fully visible patch
    alpha[0, :8, 8:12] = 0.5      # half of a patch visible: counts as visible
    alpha[0, 8:16, :3] = 1.0      # 3/8 of a patch: a hole
    alpha[0, 8:16, 16:24] = 0.005  # below the 0.01 visibility alpha: a hole
    alpha[1] = 0.02
    latent = mask_to_latent(alpha)
    assert latent.shape == (2, 4, 2, 3)
    expected = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    for channel in range(4):
        assert torch.equal(latent[0, channel], expected)
    assert torch.equal(latent[1], torch.ones(4, 2, 3))
    assert set(latent.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(FrameVAE.mask_to_latent(alpha), latent)
    assert torch.equal(mask_to_latent(alpha > 0.01), latent)


def test_frame_convolutions_match_the_stock_3d_path():
    torch.manual_seed(4)
    stock = AutoencoderKLWan(**FrameVAE.tiny_config()).eval()
    # Non-zero biases and earlier temporal taps, so a wrong tap or padding shows.
    with torch.no_grad():
        for parameter in stock.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    images = torch.rand(3, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        stock_latents = stock.encode(images.unsqueeze(2)).latent_dist.mode()
        stock_video = stock.decode(stock_latents).sample
        use_frame_convolutions(stock)
        assert any(type(module) is FrameCausalConv3d for module in stock.modules())
        latents = stock.encode(images.unsqueeze(2)).latent_dist.mode()
        video = stock.decode(latents).sample
        # A multi-frame video still takes the 3D path (temporal taps matter there).
        two_frames = torch.rand(1, 3, 2, 32, 32)
        assert stock.encode(two_frames).latent_dist.mode().shape[2] == 1
    assert torch.allclose(latents, stock_latents, atol=1e-5)
    assert torch.allclose(video, stock_video, atol=1e-4)


def test_batched_encoding_and_decoding_equal_one_batch():
    torch.manual_seed(5)
    vae = AutoencoderKLWan(**FrameVAE.tiny_config()).eval()
    images = torch.rand(5, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        latents = encode_frames(vae, images)
        assert torch.allclose(encode_frames(vae, images, batch_frames=2), latents, atol=1e-6)
        assert torch.allclose(decode_frames(vae, latents, batch_frames=3),
                              decode_frames(vae, latents), atol=1e-6)
    with pytest.raises(ValueError, match='batch_frames'):
        encode_frames(vae, images, batch_frames=0)


def test_uint8_images_convert_to_the_unit_range_and_back():
    images = np.random.default_rng(0).integers(0, 256, (2, 8, 16, 3), dtype=np.uint8)
    unit = to_unit_range(images[:, :, ::-1])   # views with negative strides work too
    assert unit.shape == (2, 3, 8, 16) and unit.dtype == torch.float32
    assert unit.min() >= -1 and unit.max() <= 1
    assert np.array_equal(from_unit_range(unit), images[:, :, ::-1])
    # Out of range values are clamped.
    assert from_unit_range(torch.full((1, 3, 1, 1), 1.5)).tolist() == [[[[255, 255, 255]]]]
