# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""AnyReconPipeline on tiny random components: shapes, chunking, determinism, bad input."""

from diffusers import AutoencoderKLWan
import numpy as np
import pytest
import torch

from anyrecon_ros.model.models.transformer import AnyReconTransformer
from anyrecon_ros.model.models.vae import FrameVAE
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
from anyrecon_ros.model.pipelines.pipeline import blend_weights
from anyrecon_ros.model.pipelines.pipeline import check_hole_blend
from anyrecon_ros.model.pipelines.pipeline import fill_condition_renders
from anyrecon_ros.model.pipelines.scheduling import make_scheduler

SIZE = 32


@pytest.fixture(scope='module')
def pipeline():
    torch.manual_seed(0)
    transformer = AnyReconTransformer(**AnyReconTransformer.tiny_config())
    vae = AutoencoderKLWan(**FrameVAE.tiny_config())
    return AnyReconPipeline(transformer=transformer.eval(), vae=vae.eval(),
                            scheduler=make_scheduler())


def inputs(captures=2, targets=5, seed=0):
    rng = np.random.default_rng(seed)
    capture = rng.integers(0, 256, (captures, SIZE, SIZE, 3), dtype=np.uint8)
    renders = rng.integers(0, 256, (targets, SIZE, SIZE, 3), dtype=np.uint8)
    masks = rng.random((targets, SIZE, SIZE)) > 0.3
    return capture, renders, masks


def run(pipeline, *args, seed=0, **kwargs):
    return pipeline(*args, generator=torch.Generator().manual_seed(seed), **kwargs).images


def test_one_image_per_render_in_chunks(pipeline):
    calls = []
    images = run(pipeline, *inputs(), chunk_frames=2,
                 callback=lambda *progress: calls.append(progress))
    assert images.shape == (5, SIZE, SIZE, 3) and images.dtype == np.uint8
    # 5 renders in chunks of 2: 3 chunks of 4 steps each.
    assert len(calls) == 12 and calls[-1] == (2, 3, 4, 4)


def test_deterministic_for_a_seed(pipeline):
    first = run(pipeline, *inputs(), seed=3)
    assert np.array_equal(first, run(pipeline, *inputs(), seed=3))
    assert not np.array_equal(first, run(pipeline, *inputs(), seed=4))


@pytest.mark.parametrize('captures', [1, 3, 12])
def test_any_number_of_capture_views(pipeline, captures):
    images = run(pipeline, *inputs(captures=captures, targets=2), num_inference_steps=2)
    assert images.shape == (2, SIZE, SIZE, 3)


def test_carry_over_frames_link_the_chunks(pipeline):
    """With carry-over the second chunk depends on the first; without, it does not."""
    capture, renders, masks = inputs(targets=4)
    other = renders.copy()
    other[0] = 255 - other[0]  # change only the first chunk's input
    kwargs = {'chunk_frames': 2, 'num_inference_steps': 2}
    linked = run(pipeline, capture, renders, masks, **kwargs)
    linked_other = run(pipeline, capture, other, masks, **kwargs)
    assert not np.array_equal(linked[2:], linked_other[2:])
    alone = run(pipeline, capture, renders, masks, carry_frames=0, **kwargs)
    alone_other = run(pipeline, capture, other, masks, carry_frames=0, **kwargs)
    assert np.array_equal(alone[2:], alone_other[2:])


def test_bad_input_is_a_clear_error(pipeline):
    capture, renders, masks = inputs()
    with pytest.raises(ValueError, match='multiple of 16'):
        pipeline(capture[:, :30], renders[:, :30], masks[:, :30])
    with pytest.raises(ValueError, match='masks must be'):
        pipeline(capture, renders, masks[:2])
    with pytest.raises(ValueError, match='capture_images'):
        pipeline(capture[:0], renders, masks)


def variant(pipeline, **settings):
    """Return the same components sampling with other pipeline settings."""
    return AnyReconPipeline(transformer=pipeline.transformer, vae=pipeline.vae,
                            scheduler=make_scheduler(), **settings)


def test_start_step_runs_only_the_rest_of_the_schedule(pipeline):
    calls = []
    late = variant(pipeline, start_step=3)
    images = run(late, *inputs(), callback=lambda *progress: calls.append(progress))
    assert images.shape == (5, SIZE, SIZE, 3)
    assert calls == [(0, 1, 1, 1)]  # one chunk, only the last of the 4 steps
    # Starting from the noised condition, not from noise: the output differs.
    assert not np.array_equal(images, run(pipeline, *inputs()))
    # A start beyond the schedule still runs its last step.
    assert run(variant(pipeline, start_step=9), *inputs()).shape == images.shape


def test_condition_blend_mixes_the_output_with_the_condition(pipeline):
    capture, renders, masks = inputs()
    masks[:] = True  # nothing to fill: the condition images are the renders
    plain = run(variant(pipeline, start_step=2), capture, renders, masks).astype(float)
    blended = run(variant(pipeline, start_step=2, condition_blend=0.7),
                  capture, renders, masks).astype(float)
    expected = 0.3 * plain + 0.7 * renders
    # uint8 rounding of both outputs: at most about one level apart.
    assert np.abs(blended - expected).max() <= 1.0
    assert np.abs(blended - plain).mean() > 5
    # The model's own output, before the blend, comes with it (the fusion gate checks it).
    output = variant(pipeline, start_step=2, condition_blend=0.7)(
        capture, renders, masks, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(output.model_images, plain.astype(np.uint8))
    assert np.array_equal(output.images, blended.astype(np.uint8))


def test_bad_sampling_settings_are_refused(pipeline):
    with pytest.raises(ValueError, match='start_step'):
        variant(pipeline, start_step=-1)
    with pytest.raises(ValueError, match='condition_blend'):
        variant(pipeline, condition_blend=1.0)


def test_hole_blend_weighs_the_fill_by_the_distance_into_the_hole():
    masks = np.ones((1, 16, 64), bool)
    masks[0, :, 32:] = False   # columns 32-63: a hole, 1 to 32 pixels from the render
    weights = blend_weights(masks, 0.7, [1.0, 0.5, 0.0625])   # decay length 4 px
    row = weights[0, 8]
    assert np.allclose(row[:32], 0.7)              # covered: condition_blend
    # edge -> deep: 0.5 + 0.5 exp(-d / 4) at d = 1 ... 32 pixels into the hole.
    distance = np.arange(1, 33)
    assert np.allclose(row[32:], 0.5 + 0.5 * np.exp(-distance / 4), atol=1e-3)
    # None: condition_blend everywhere (the checkpoints before the setting).
    assert np.allclose(blend_weights(masks, 0.7, None), 0.7)
    # An image with no covered pixel is deep everywhere.
    assert np.allclose(blend_weights(~np.ones_like(masks), 0.7, [1.0, 0.5, 0.1]), 0.5)
    for bad in ([1.0, 0.5], [1.2, 0.5, 0.1], [1.0, 0.5, 0.0]):
        with pytest.raises(ValueError, match='hole_blend'):
            check_hole_blend(bad)


def test_background_fill_reads_the_render_depths(pipeline):
    """With the fill's whole weight in the holes, they are exactly the background fill."""
    capture, renders, masks = inputs(targets=2)
    rng = np.random.default_rng(1)
    depths = np.where(masks, rng.uniform(0.5, 4.0, masks.shape), np.nan).astype(np.float32)
    filling = variant(pipeline, condition_fill='background', start_step=3,
                      hole_blend=[1.0, 1.0, 0.1])
    images = run(filling, capture, renders, masks, render_depths=depths)
    expected = fill_condition_renders(renders, masks, 'background', depths)
    assert np.array_equal(images[~masks], expected[~masks])
    # Background and Telea fills differ on these renders, and without
    # depths the pipeline falls back to Telea's.
    telea = fill_condition_renders(renders, masks, 'telea')
    assert not np.array_equal(expected[~masks], telea[~masks])
    assert np.array_equal(run(filling, capture, renders, masks)[~masks], telea[~masks])
    with pytest.raises(ValueError, match='render depths'):
        run(filling, capture, renders, masks, render_depths=depths[:1])
