# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Classifier-free guidance in AnyReconPipeline: off at 1, two passes per step above it."""

from diffusers import AutoencoderKLWan
import numpy as np
import pytest
import torch

from anyrecon_ros.model.models.transformer import AnyReconTransformer
from anyrecon_ros.model.models.vae import FrameVAE
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
from anyrecon_ros.model.pipelines.scheduling import make_scheduler

SIZE = 32


@pytest.fixture(scope='module')
def pipeline():
    torch.manual_seed(0)
    transformer = AnyReconTransformer(**AnyReconTransformer.tiny_config())
    # A non-zero empty prompt, so the conditional pass differs from a zero one.
    transformer.empty_prompt_embedding.normal_()
    vae = AutoencoderKLWan(**FrameVAE.tiny_config())
    return AnyReconPipeline(transformer=transformer.eval(), vae=vae.eval(),
                            scheduler=make_scheduler())


def inputs(targets=1):
    rng = np.random.default_rng(0)
    capture = rng.integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
    renders = rng.integers(0, 256, (targets, SIZE, SIZE, 3), dtype=np.uint8)
    masks = rng.random((targets, SIZE, SIZE)) > 0.3
    return capture, renders, masks


class Recorder:
    """Record every transformer call (text embedding, output) and every scheduler velocity."""

    def __init__(self, pipeline):
        self.calls, self.velocities = [], []
        self.pipeline = pipeline
        self._hook = pipeline.transformer.register_forward_hook(self._call, with_kwargs=True)
        self._step = pipeline.scheduler.step

    def _call(self, module, args, kwargs, output):
        self.calls.append((kwargs['encoder_hidden_states'], output[0].float().clone()))

    def __enter__(self):
        def step(velocity, *args, **kwargs):
            self.velocities.append(velocity.clone())
            return self._step(velocity, *args, **kwargs)
        self.pipeline.scheduler.step = step
        return self

    def __exit__(self, *exc):
        self._hook.remove()
        del self.pipeline.scheduler.step   # back to the class's method


def run(pipeline, steps=2, **kwargs):
    return pipeline(*inputs(), num_inference_steps=steps,
                    generator=torch.Generator().manual_seed(1), **kwargs).images


def test_guidance_one_is_the_single_pass_sampler(pipeline):
    with Recorder(pipeline) as record:
        images = run(pipeline, guidance_scale=1.0)
    # One pass per step, on the stored prompt, its output the velocity as it is.
    assert len(record.calls) == len(record.velocities) == 2
    for (text, output), velocity in zip(record.calls, record.velocities):
        assert text is None
        assert torch.equal(output, velocity)
    assert np.array_equal(images, run(pipeline))   # the default is 1


@pytest.mark.parametrize('negative', ['zeros', 'given'])
def test_guidance_runs_two_passes_and_combines_them(pipeline, negative):
    scale, steps = 5.0, 2
    given = torch.randn(1, 6, pipeline.transformer.config.text_dim)
    kwargs = {'negative_prompt_embedding': given} if negative == 'given' else {}
    with Recorder(pipeline) as record:
        guided = run(pipeline, steps=steps, guidance_scale=scale, **kwargs)
    assert len(record.calls) == 2 * steps and len(record.velocities) == steps
    expected_negative = given if negative == 'given' else torch.zeros(
        pipeline.transformer.empty_prompt_embedding.shape)
    for step, velocity in enumerate(record.velocities):
        (text, conditional), (negative_text, unconditional) = record.calls[2 * step:2 * step + 2]
        assert text is None   # the stored (empty) prompt
        assert torch.equal(negative_text, expected_negative)
        assert not torch.allclose(conditional, unconditional)
        torch.testing.assert_close(velocity,
                                   unconditional + scale * (conditional - unconditional),
                                   rtol=0, atol=0)
    assert not np.array_equal(guided, run(pipeline, steps=steps))


def test_guidance_below_one_and_bad_negatives_are_refused(pipeline):
    with pytest.raises(ValueError, match='guidance_scale must be >= 1'):
        run(pipeline, guidance_scale=0.5)
    with pytest.raises(ValueError, match=r'negative_prompt_embedding must be \(1, L, 32\)'):
        run(pipeline, guidance_scale=2.0, negative_prompt_embedding=torch.zeros(1, 4, 7))
