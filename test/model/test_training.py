# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training samples, flow-matching training and DMD distillation, on tiny models."""

import json

import numpy as np
import pytest
import torch

from anyrecon_ros.model.pipelines.generator import load_checkpoint
from anyrecon_ros.model.pipelines.generator import untrained_pipeline
from anyrecon_ros.model.training.data import conditioning_indices
from anyrecon_ros.model.training.data import DataConfig
from anyrecon_ros.model.training.data import encode_sample
from anyrecon_ros.model.training.data import random_walk
from anyrecon_ros.model.training.data import SampleMaker
from anyrecon_ros.model.training.distillation import DistillConfig
from anyrecon_ros.model.training.distillation import Distiller
from anyrecon_ros.model.training.distillation import student_sigmas
from anyrecon_ros.model.training.flow_matching import flow_matching_loss
from anyrecon_ros.model.training.flow_matching import TrainConfig
from anyrecon_ros.model.training.flow_matching import Trainer

SMALL_DATA = DataConfig(width=32, height=32, clip_frames=5)
TINY_MODEL = {'num_layers': 1, 'num_attention_heads': 2, 'attention_head_dim': 16,
              'ffn_dim': 64, 'text_dim': 16, 'text_seq_len': 2, 'freq_dim': 32}


def test_conditioning_follows_the_paper():
    rng = np.random.default_rng(0)
    draws = [conditioning_indices(rng, 16) for _ in range(400)]
    assert all(draw[0] == 0 and 3 <= len(draw) <= 5 for draw in draws)
    assert all(draw == sorted(set(draw)) for draw in draws)
    first_half_only = [max(draw) < 8 for draw in draws]
    # Half the draws keep to the first half; the others may not.
    assert 0.4 < np.mean(first_half_only) < 0.75


def test_samples_condition_on_a_memory_of_the_chosen_views():
    maker = SampleMaker(SMALL_DATA, seeds=range(1000, 1003))
    sample = maker.sample(np.random.default_rng(3))
    assert sample.frames.shape == (5, 32, 32, 3) and sample.renders.shape == (5, 32, 32, 3)
    assert 3 <= len(sample.captures) <= 5
    # Frame 0 is always a capture: its render is (nearly) fully covered.
    assert np.array_equal(sample.captures[0], sample.frames[0])
    assert sample.masks[0].mean() > 0.9
    assert sample.renders[~sample.masks].max() == 0
    again = maker.sample(np.random.default_rng(3))
    assert np.array_equal(again.renders, sample.renders)


def test_training_never_uses_evaluation_seeds():
    with pytest.raises(ValueError, match='evaluation seeds'):
        SampleMaker(SMALL_DATA, seeds=range(0, 2000))


def test_walks_stay_inside_the_room():
    poses = random_walk(np.random.default_rng(1), 200, DataConfig())
    assert poses[:, 0, 3].min() > 0.4 and poses[:, 0, 3].max() < 4.6
    assert poses[:, 1, 3].min() > 0.4 and poses[:, 1, 3].max() < 3.6


def _fixed_batch():
    pipeline = untrained_pipeline(0)
    sample = SampleMaker(SMALL_DATA, seeds=range(1000, 1002)).sample(np.random.default_rng(0))
    return pipeline, encode_sample(pipeline.vae, sample)


def test_a_few_training_steps_reduce_the_loss_on_a_fixed_batch():
    from anyrecon_ros.model.models.transformer import AnyReconTransformer
    torch.manual_seed(0)
    _, encoded = _fixed_batch()
    transformer = AnyReconTransformer(**TINY_MODEL)
    optimizer = torch.optim.AdamW(transformer.parameters(), lr=3e-3)

    def fixed_loss():
        with torch.no_grad():
            noise = torch.Generator().manual_seed(7)
            return float(flow_matching_loss(transformer, encoded, noise))
    before = fixed_loss()
    for step in range(40):
        loss = flow_matching_loss(transformer, encoded, torch.Generator().manual_seed(step % 4))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert fixed_loss() < 0.7 * before


def test_a_distillation_step_changes_the_student_and_the_fake_score(tmp_path):
    pipeline, encoded = _fixed_batch()
    distiller = Distiller(pipeline, DistillConfig(out=str(tmp_path)))
    student = [p.detach().clone() for p in distiller.student.parameters()]
    fake = [p.detach().clone() for p in distiller.fake.parameters()]
    teacher = [p.detach().clone() for p in distiller.teacher.parameters()]
    losses = distiller.step(encoded)
    assert np.isfinite(losses['dmd']) and np.isfinite(losses['fake'])
    assert any(not torch.equal(a, b) for a, b in zip(student, distiller.student.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(fake, distiller.fake.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(teacher, distiller.teacher.parameters()))


def test_dmd_gradient_vanishes_when_fake_and_teacher_agree():
    pipeline, encoded = _fixed_batch()
    distiller = Distiller(pipeline)
    clean = distiller.student_sample(encoded, stop=1)
    # Right after initialisation the fake network is the teacher: nothing to match.
    assert float(distiller.distribution_matching_loss(clean, encoded)) == pytest.approx(0.0)
    sigmas = student_sigmas()
    assert sigmas.tolist() == pytest.approx([1.0, 0.9375, 0.833333, 0.625, 0.0], abs=1e-5)


def test_trainer_writes_resumable_checkpoints_logs_and_grids(tmp_path):
    config = TrainConfig(out=str(tmp_path), steps=2, vae_steps=2, log_every=1, validate_every=2,
                         checkpoint_every=1, model=TINY_MODEL, data=SMALL_DATA)
    trainer = Trainer(config, log=lambda line: None)
    losses = trainer.train()
    assert len(losses) == 2
    assert json.loads((tmp_path / 'checkpoint' / 'training_state.json').read_text()) == {
        'step': 2}
    assert (tmp_path / 'validation_000002.png').is_file()
    assert len((tmp_path / 'loss.jsonl').read_text().splitlines()) == 2
    assert load_checkpoint(tmp_path / 'checkpoint').transformer.config.num_layers == 1
    resumed = Trainer(TrainConfig(**{**config.__dict__, 'steps': 3}), log=lambda line: None)
    assert len(resumed.train()) == 1   # steps 1-2 were done: only step 3 runs
