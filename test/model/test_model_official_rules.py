# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The official sampler's rules, each a recorded pipeline setting, on tiny random weights.

Timesteps rounded to bfloat16, the nearest mask rule, the chunk policy (same
noise per chunk, carried frames re-encoded from 8-bit pixels, tiled decode,
truncation), image conditioning, and one dtype policy. A re-derivation of
the official sampler's first two chunks checks them together.
"""

from diffusers.configuration_utils import FrozenDict
import numpy as np
import pytest
from tiny_official import inputs
from tiny_official import official_pipeline
from tiny_official import SIZE
import torch
import torch.nn.functional as F

from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import from_unit_range
from anyrecon_ros.model.models.vae import mask_to_latent
from anyrecon_ros.model.models.vae import red_channel_mask
from anyrecon_ros.model.models.vae import tile_starts
from anyrecon_ros.model.models.vae import tiled_decode_frames
from anyrecon_ros.model.pipelines.generator import load_checkpoint
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
from anyrecon_ros.model.pipelines.pipeline import OFFICIAL_SAMPLING
from anyrecon_ros.model.pipelines.scheduling import make_scheduler
from anyrecon_ros.model.pipelines.scheduling import model_timestep
from anyrecon_ros.model.pipelines.scheduling import set_steps


@pytest.fixture(scope='module')
def pipeline():
    return official_pipeline()


def run(pipeline, *args, seed=1, **kwargs):
    return pipeline(*args, generator=torch.Generator().manual_seed(seed), **kwargs)


def variant(pipeline, **settings):
    """Return the same parts with other sampling settings (the rest official)."""
    return AnyReconPipeline(transformer=pipeline.transformer, vae=pipeline.vae,
                            scheduler=make_scheduler(), image_encoder=pipeline.image_encoder,
                            image_processor=pipeline.image_processor,
                            **{**OFFICIAL_SAMPLING, **settings})


def test_the_transformer_sees_bfloat16_rounded_timesteps(pipeline):
    scheduler = make_scheduler()
    set_steps(scheduler, 4)
    rounded = [float(model_timestep(t, 'bfloat16')) for t in scheduler.timesteps]
    assert rounded == [1000.0, 936.0, 832.0, 624.0]
    assert float(model_timestep(scheduler.timesteps[1])) == 937.5
    seen = []
    hook = pipeline.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(float(kwargs['timestep'])), with_kwargs=True)
    try:
        run(pipeline, *inputs(targets=2))
        run(variant(pipeline, timestep_rounding='none'), *inputs(targets=2))
    finally:
        hook.remove()
    assert seen[:4] == [1000.0, 936.0, 832.0, 624.0]
    assert seen[4:] == pytest.approx([1000.0, 937.5, 833.3333, 625.0])


def test_nearest_mask_rule_takes_the_top_left_pixel_of_each_cell():
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[0, 0, 0] = True            # cell (0, 0): only its top-left pixel seen
    mask[0, 0:8, 9:16] = True       # cell (0, 1): all seen but its top-left pixel
    mask[0, 8:16, 8:16] = True      # cell (1, 1): all seen
    nearest = mask_to_latent(mask, rule='nearest')
    majority = mask_to_latent(mask, rule='majority')
    assert nearest.shape == (1, 4, 2, 2)
    assert nearest[0, 0].tolist() == [[1, 0], [0, 1]]
    assert majority[0, 0].tolist() == [[0, 1], [0, 1]]
    assert torch.equal(nearest[0, 0], nearest[0, 3])
    # The same through F.interpolate's nearest down-sampling, as the official code does it.
    reference = F.interpolate(mask[:, None].float(), size=(2, 2), mode='nearest')[:, 0]
    assert torch.equal(nearest[:, 0], reference)


def test_mask_frames_are_read_by_their_red_channel():
    frames = np.zeros((1, 2, 3, 3), dtype=np.uint8)
    frames[0, 0, 0] = (128, 0, 0)
    frames[0, 0, 1] = (127, 255, 255)
    frames[0, 1, 2] = (255, 255, 255)
    expected = [[True, False, False], [False, False, True]]
    assert red_channel_mask(frames)[0].tolist() == expected
    with pytest.raises(ValueError, match='uint8'):
        red_channel_mask(frames.astype(np.float32))


def test_pipeline_takes_mask_frames_like_boolean_masks(pipeline):
    capture, renders, masks = inputs(targets=3)
    frames = np.repeat((masks * 255).astype(np.uint8)[..., None], 3, axis=-1)
    frames[..., 1:] = 255 - frames[..., 1:]   # only red counts
    assert np.array_equal(run(pipeline, capture, renders, frames).images,
                          run(pipeline, capture, renders, masks).images)


def test_reseeded_chunks_draw_the_same_noise(pipeline):
    noises = []
    original = torch.randn

    def recording(*args, **kwargs):
        noise = original(*args, **kwargs)
        noises.append(noise)
        return noise
    capture, renders, masks = inputs(targets=4)
    torch.randn = recording
    try:
        # Chunks of 2 renders; no carried frames, so every chunk has 4 frames.
        run(pipeline, capture, renders, masks, chunk_frames=2, carry_frames=0)
        run(variant(pipeline, chunk_seed='continue'), capture, renders, masks, chunk_frames=2,
            carry_frames=0)
    finally:
        torch.randn = original
    assert len(noises) == 4
    assert torch.equal(noises[0], noises[1])
    assert torch.equal(noises[0], noises[2]) and not torch.equal(noises[2], noises[3])


def test_carried_frames_are_the_truncated_pixels_encoded_again(pipeline):
    capture, renders, masks = inputs(targets=4)
    output = run(pipeline, capture, renders, masks, chunk_frames=2, return_latents=True)
    first, second = output.latents
    assert first.shape[2] == 2 + 2 and second.shape[2] == 2 + 2 + 2
    # Fed to the second chunk: the first chunk's last two output images (uint8),
    # through the VAE again. Recover the condition the transformer got.
    seen = []
    hook = pipeline.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs['hidden_states']), with_kwargs=True)
    try:
        run(pipeline, capture, renders, masks, chunk_frames=2)
    finally:
        hook.remove()
    carried_condition = seen[4][0, 20:, 2:4].permute(1, 0, 2, 3)
    expected = encode_frames(pipeline.vae, torch.from_numpy(output.images[:2]).permute(
        0, 3, 1, 2).float() / 127.5 - 1)
    torch.testing.assert_close(carried_condition, expected, rtol=0, atol=1e-6)
    assert torch.equal(seen[4][0, 16:20, 2:4], torch.ones_like(seen[4][0, 16:20, 2:4]))
    # Carrying latents instead gives another second chunk.
    latents = run(variant(pipeline, carry='latents'), capture, renders, masks, chunk_frames=2)
    assert np.array_equal(latents.images[:2], output.images[:2])
    assert not np.array_equal(latents.images[2:], output.images[2:])


def test_tile_starts_follow_the_official_rule():
    # 512x896 images: 64x112 latents, tiles 30x52 every 15x26.
    assert tile_starts(64, 30, 15) == [0, 15, 30, 45]
    assert tile_starts(112, 52, 26) == [0, 26, 52, 78]
    assert tile_starts(30, 30, 15) == [0]
    assert tile_starts(31, 30, 15) == [0, 15]


class PointwiseDecoder(torch.nn.Module):
    """A decoder whose every output pixel depends on one latent pixel (for exact tiling)."""

    config = FrozenDict(latent_channels=16, latents_mean=[0.0] * 16, latents_std=[1.0] * 16)

    def __init__(self):
        super().__init__()
        self.mix = torch.nn.Conv2d(16, 3, 1)

    def decode(self, latents):
        return torch.tanh(F.interpolate(self.mix(latents), scale_factor=8, mode='nearest'))


def test_tiled_decode_equals_untiled_for_a_local_decoder():
    torch.manual_seed(0)
    decoder = PointwiseDecoder()
    latents = torch.randn(3, 16, 20, 33)
    with torch.no_grad():
        whole = decode_frames(decoder, latents)
        tiled = tiled_decode_frames(decoder, latents, tile=(8, 12), stride=(4, 6))
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)


def reference_tiled_decode(vae, latents, tile, stride):
    """Decode by the official tiling, re-derived: linear ramps over the overlaps, weighted mean."""
    height, width = latents.shape[-2:]
    total = torch.zeros(latents.shape[0], 3, 8 * height, 8 * width)
    weight_sum = torch.zeros(8 * height, 8 * width)
    ramp = ((tile[0] - stride[0]) * 8, (tile[1] - stride[1]) * 8)
    h_starts = [h for h in range(0, height, stride[0])
                if not (h >= stride[0] and h - stride[0] + tile[0] >= height)]
    w_starts = [w for w in range(0, width, stride[1])
                if not (w >= stride[1] and w - stride[1] + tile[1] >= width)]
    for h in h_starts:
        for w in w_starts:
            pixels = decode_frames(vae, latents[..., h:h + tile[0], w:w + tile[1]])
            weights = []
            for axis, (start, size) in enumerate(((h, height), (w, width))):
                length = pixels.shape[-2 + axis]
                line = torch.ones(length)
                if start > 0:
                    line[:ramp[axis]] = torch.arange(1, ramp[axis] + 1) / ramp[axis]
                if start + tile[axis] < size:
                    line[-ramp[axis]:] = torch.arange(ramp[axis], 0, -1) / ramp[axis]
                weights.append(line)
            weight = torch.minimum(weights[0][:, None], weights[1][None, :])
            total[..., 8 * h:8 * h + pixels.shape[-2], 8 * w:8 * w + pixels.shape[-1]] += (
                pixels * weight)
            weight_sum[8 * h:8 * h + pixels.shape[-2], 8 * w:8 * w + pixels.shape[-1]] += weight
    return (total / weight_sum).clamp(-1, 1)


def test_tiled_decode_matches_the_official_rule_on_the_wan_vae(pipeline):
    latents = torch.randn(1, 16, 6, 5, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        tiled = tiled_decode_frames(pipeline.vae, latents, tile=(4, 3), stride=(2, 2))
        expected = reference_tiled_decode(pipeline.vae, latents, (4, 3), (2, 2))
        whole = decode_frames(pipeline.vae, latents)
        single = tiled_decode_frames(pipeline.vae, latents, tile=(6, 5), stride=(3, 3))
    torch.testing.assert_close(tiled, expected, rtol=0, atol=1e-6)
    # One tile covering the latents is the untiled decode.
    torch.testing.assert_close(single, whole.clamp(-1, 1), rtol=0, atol=1e-6)


def test_outputs_are_truncated_to_uint8():
    images = torch.tensor([-1.0, -0.999, 0.0, 0.5, 0.999, 1.0, 1.5]).view(1, 1, 1, 7).expand(
        1, 3, 1, 7)
    truncated = from_unit_range(images, 'truncate')[0, 0, :, 0].tolist()
    rounded = from_unit_range(images, 'round')[0, 0, :, 0].tolist()
    assert truncated == [0, 0, 127, 191, 254, 255, 255]
    assert rounded == [0, 0, 128, 191, 255, 255, 255]


def test_the_first_capture_view_conditions_the_transformer(pipeline):
    capture, renders, masks = inputs(targets=2)
    other_first = capture.copy()
    other_first[0] = 255 - other_first[0]
    other_second = capture.copy()
    other_second[1] = 255 - other_second[1]
    features = pipeline.encode_image(capture[0])
    assert features.shape == (1, (SIZE // 8) ** 2 + 1, 16)
    assert not torch.equal(features, pipeline.encode_image(other_first[0]))
    assert torch.equal(features, pipeline.encode_image(other_second[0]))
    # Through the image branch only: same latents of the other frames.
    base = run(pipeline, capture, renders, masks).images
    assert not np.array_equal(base, run(pipeline, other_first, renders, masks).images)


def test_a_missing_image_encoder_is_a_clear_error(pipeline):
    bare = AnyReconPipeline(transformer=pipeline.transformer, vae=pipeline.vae,
                            scheduler=make_scheduler(), **OFFICIAL_SAMPLING)
    with pytest.raises(ValueError, match='image branch.*image_dim=16.*no image_encoder'):
        run(bare, *inputs(targets=1))


def test_bfloat16_transformer_beside_a_float32_vae():
    pipeline = official_pipeline()
    reference = run(pipeline, *inputs(targets=3), return_latents=True)
    pipeline.transformer.to(torch.bfloat16)
    assert pipeline.vae.dtype == torch.float32 and pipeline.image_encoder.dtype == torch.float32
    output = run(pipeline, *inputs(targets=3), return_latents=True)
    assert output.images.shape == (3, SIZE, SIZE, 3)
    assert output.latents[0].dtype == torch.float32
    # bfloat16 arithmetic: close to float32, not equal.
    difference = (output.latents[0] - reference.latents[0]).abs()
    assert 0 < difference.mean() < 0.1 * reference.latents[0].abs().mean()


def reference_chunk(pipeline, frames, mask_frames, fixed, seed, steps=4):
    """Latents of one chunk as the official sampler computes them, re-derived step by step.

    ``frames`` (N, H, W, 3) uint8: capture views, carried frames, renders;
    ``mask_frames`` (N, H, W, 3) uint8; the first ``fixed`` frames are known.
    """
    transformer, vae = pipeline.transformer, pipeline.vae
    pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).float() * (2 / 255) - 1
    # Each frame a one-frame video; the posterior's mean, normalised per channel.
    mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1)
    scale = 1 / torch.tensor(vae.config.latents_std).view(1, 16, 1, 1)
    condition = torch.cat([(vae.encode(image[None, :, None]).latent_dist.mode()[:, :, 0] - mean)
                           * scale for image in pixels])
    red = torch.from_numpy(mask_frames[..., 0] > 127).float()[:, None]
    mask = F.interpolate(red, size=condition.shape[-2:], mode='nearest')
    mask[:fixed] = 1
    mask = mask.expand(-1, 4, -1, -1)
    condition, mask = (x.permute(1, 0, 2, 3)[None] for x in (condition, mask))
    first = pixels[:1]
    processor = pipeline.image_processor
    clip_input = F.interpolate(first, size=(processor.crop_size['height'],
                                            processor.crop_size['width']), mode='bicubic',
                               align_corners=False) * 0.5 + 0.5
    clip_input = (clip_input - torch.tensor(processor.image_mean).view(1, 3, 1, 1)) / torch.tensor(
        processor.image_std).view(1, 3, 1, 1)
    image = pipeline.image_encoder(pixel_values=clip_input, output_hidden_states=True)
    image = image.hidden_states[-2]
    latents = torch.randn(condition.shape, generator=torch.Generator('cpu').manual_seed(seed),
                          dtype=torch.float32)
    sigmas = torch.linspace(1.0, 0.0, steps + 1)[:-1]
    sigmas = 5 * sigmas / (1 + 4 * sigmas)
    for index, sigma in enumerate(sigmas):
        timestep = (sigma * 1000).to(torch.bfloat16).float()
        velocity = transformer(hidden_states=torch.cat([latents, mask, condition], dim=1),
                               timestep=timestep[None],
                               encoder_hidden_states=transformer.empty_prompt_embedding,
                               encoder_hidden_states_image=image).sample
        following = sigmas[index + 1] if index + 1 < len(sigmas) else 0.0
        latents = latents + velocity * (following - sigma)
    return latents


@torch.no_grad()
def test_first_two_chunks_match_the_official_rules_re_derived(pipeline):
    capture, renders, masks = inputs(captures=2, targets=4, seed=5)
    mask_frames = np.repeat((masks * 255).astype(np.uint8)[..., None], 3, axis=-1)
    output = run(pipeline, capture, renders, mask_frames, chunk_frames=2, seed=7,
                 return_latents=True)
    white = np.full((2, SIZE, SIZE, 3), 255, np.uint8)
    first = reference_chunk(pipeline, np.concatenate([capture, renders[:2]]),
                            np.concatenate([white, mask_frames[:2]]), fixed=2, seed=7)
    torch.testing.assert_close(output.latents[0], first, rtol=0, atol=1e-5)
    # The second chunk: the first one's last two frames, tiled-decoded and
    # truncated to uint8, inserted after the capture views with white masks.
    decoded = reference_tiled_decode(pipeline.vae, first[0].permute(1, 0, 2, 3)[2:],
                                     (30, 52), (15, 26))
    carried = ((decoded + 1) * 127.5).clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)
    # Truncation is a step: latents 1e-6 apart may fall on either side of a level.
    difference = np.abs(carried.astype(int) - output.images[:2].astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01
    carried = output.images[:2]
    second = reference_chunk(pipeline, np.concatenate([capture, carried, renders[2:]]),
                             np.concatenate([white, white, mask_frames[2:]]), fixed=4, seed=7)
    torch.testing.assert_close(output.latents[1], second, rtol=0, atol=1e-5)


def test_a_saved_official_pipeline_loads_back_with_its_settings(tmp_path, pipeline):
    pipeline.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / 'image_encoder' / 'model.safetensors').is_file()
    loaded = load_checkpoint(tmp_path)
    assert loaded.config.decode_tiles == [30, 52, 15, 26]
    assert {key: loaded.config[key] for key in OFFICIAL_SAMPLING} == OFFICIAL_SAMPLING
    capture, renders, masks = inputs(targets=2)
    first = run(loaded, capture, renders, masks, return_latents=True)
    second = run(pipeline, capture, renders, masks, return_latents=True)
    torch.testing.assert_close(first.latents[0], second.latents[0], rtol=0, atol=1e-5)
    # Truncation is a step: values 1e-6 apart may fall on either side of a level.
    assert np.abs(first.images.astype(int) - second.images.astype(int)).max() <= 1
