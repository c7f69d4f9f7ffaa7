# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training samples, flow-matching training and DMD distillation, on tiny models."""

import argparse
from dataclasses import replace
import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
from safetensors.torch import load_file
import torch
import torch.nn.functional as F

from anyrecon_ros.cli import train as train_cli
from anyrecon_ros.cli.main import main
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.pipelines import pipeline as pipeline_module
from anyrecon_ros.model.pipelines.generator import load_checkpoint
from anyrecon_ros.model.pipelines.generator import save_checkpoint
from anyrecon_ros.model.pipelines.generator import untrained_pipeline
from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
from anyrecon_ros.model.pipelines.pipeline import fill_condition_renders
from anyrecon_ros.model.training.data import collate
from anyrecon_ros.model.training.data import conditioning_indices
from anyrecon_ros.model.training.data import DataConfig
from anyrecon_ros.model.training.data import encode_sample
from anyrecon_ros.model.training.data import encode_samples
from anyrecon_ros.model.training.data import EncodedSample
from anyrecon_ros.model.training.data import random_walk
from anyrecon_ros.model.training.data import SampleMaker
from anyrecon_ros.model.training.distillation import DistillConfig
from anyrecon_ros.model.training.distillation import Distiller
from anyrecon_ros.model.training.distillation import student_sigmas
from anyrecon_ros.model.training.flow_matching import ema_decay
from anyrecon_ros.model.training.flow_matching import ema_update
from anyrecon_ros.model.training.flow_matching import flow_matching_loss
from anyrecon_ros.model.training.flow_matching import shifted_sigma
from anyrecon_ros.model.training.flow_matching import start_sigma
from anyrecon_ros.model.training.flow_matching import TrainConfig
from anyrecon_ros.model.training.flow_matching import Trainer
from anyrecon_ros.model.training.flow_matching import unseen_weights
from anyrecon_ros.model.training.walks import export_walk
from anyrecon_ros.model.training.walks import walk_folders

SMALL_DATA = DataConfig(width=32, height=32, clip_frames=5)
TINY_MODEL = {'num_layers': 1, 'num_attention_heads': 2, 'attention_head_dim': 16,
              'ffn_dim': 64, 'text_dim': 16, 'text_seq_len': 2, 'freq_dim': 32}
SHARED = Path(__file__).resolve().parents[3] / 'shared'
TAEF2 = SHARED / 'weights' / 'taef2'
TRAIN_SCENES = SHARED / 'data' / 'train'
needs_taef2 = pytest.mark.skipif(not (TAEF2 / 'taef2_encoder.safetensors').is_file(),
                                 reason=f'no TAEF2 weights in {TAEF2}')
needs_scenes = pytest.mark.skipif(not (TRAIN_SCENES / 'lf_bin_books' / 'scene.json').is_file(),
                                  reason=f'no training scenes in {TRAIN_SCENES}')


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
        'step': 2, 'samples': 2}
    assert (tmp_path / 'validation_000002.png').is_file()
    assert len((tmp_path / 'loss.jsonl').read_text().splitlines()) == 2
    assert load_checkpoint(tmp_path / 'checkpoint').transformer.config.num_layers == 1
    resumed = Trainer(TrainConfig(**{**config.__dict__, 'steps': 3}), log=lambda line: None)
    assert len(resumed.train()) == 1   # steps 1-2 were done: only step 3 runs


# ---- the TAEF2 default's options ---------------------------------------------------------


@needs_taef2
def test_training_in_the_taef2_latent_space_writes_a_loadable_32_channel_checkpoint(tmp_path):
    data = replace(SMALL_DATA, clip_frames=4, condition_fill='telea')
    config = TrainConfig(out=str(tmp_path), steps=3, vae=f'taef2:{TAEF2}', log_every=1,
                         validate_every=3, checkpoint_every=3, model=TINY_MODEL, data=data,
                         unseen_weight=3.0, ema=0.9, batch_size=2, device='cpu')
    assert len(Trainer(config, log=lambda line: None).train()) == 3
    folder = tmp_path / 'checkpoint'
    pipeline = load_checkpoint(folder)
    assert type(pipeline.vae).__name__ == 'TinyFrameAutoencoder'
    assert (pipeline.transformer.config.in_channels,
            pipeline.transformer.config.out_channels) == (68, 32)
    # Latent statistics calibrated on training frames, the licence beside the weights.
    assert pipeline.vae.config.latents_std != [1.0] * 32
    assert (folder / 'vae' / 'TAEF2_LICENSE').is_file()
    assert pipeline.config.condition_fill == 'telea'
    recorded = json.loads((folder / 'training_config.json').read_text())
    assert (recorded['condition_fill'], recorded['unseen_weight'], recorded['ema'],
            recorded['vae_class']) == ('telea', 3.0, 0.9, 'TinyFrameAutoencoder')
    state = json.loads((folder / 'training_state.json').read_text())
    assert state == {'step': 3, 'samples': 6}
    # The checkpoint's transformer is the average; the trained weights lie beside it.
    trained = load_file(str(folder / 'training_weights.safetensors'))
    average = pipeline.transformer.state_dict()
    assert any(not torch.equal(trained[key], average[key]) for key in trained)
    # A fresh process loads it (the TAEF2 class is imported by the pipeline module).
    loaded = subprocess.run(
        [sys.executable, '-c', 'import sys; from anyrecon_ros.model.pipelines.generator import '
         'load_checkpoint; p = load_checkpoint(sys.argv[1]); '
         'print(type(p.vae).__name__, p.config.condition_fill)', str(folder)],
        capture_output=True, text=True, timeout=120)
    assert loaded.stdout.split() == ['TinyFrameAutoencoder', 'telea'], loaded.stderr
    resumed = Trainer(replace(config, steps=4), log=lambda line: None)
    assert len(resumed.train()) == 1
    with pytest.raises(ValueError, match='condition_fill'):
        Trainer(replace(config, steps=5, data=replace(data, condition_fill='none')),
                log=lambda line: None).train()


def _spy_on_condition(monkeypatch, fill):
    """Run a tiny pipeline with ``fill``; return the renders it encoded and the sample."""
    calls = []
    original = pipeline_module.encode_frames

    def spy(vae, images, batch_frames=None):
        calls.append(images.clone())
        return original(vae, images, batch_frames)
    monkeypatch.setattr(pipeline_module, 'encode_frames', spy)
    base = untrained_pipeline(0)
    pipeline = AnyReconPipeline(base.transformer, base.vae, base.scheduler, condition_fill=fill)
    sample = SampleMaker(SMALL_DATA, seeds=range(1000, 1002)).sample(np.random.default_rng(2))
    pipeline(sample.captures, sample.renders, sample.masks, num_inference_steps=1)
    return calls[1], sample   # calls[0]: the captures; calls[1]: the (only) chunk's renders


def test_fill_condition_makes_the_pipeline_condition_on_the_filled_render(monkeypatch):
    encoded, sample = _spy_on_condition(monkeypatch, 'telea')
    assert (~sample.masks).any()
    filled = fill_condition_renders(sample.renders, sample.masks, 'telea')
    assert torch.equal(encoded, to_unit_range(filled))
    assert not np.array_equal(filled, sample.renders)
    assert np.array_equal(filled[sample.masks], sample.renders[sample.masks])
    encoded, sample = _spy_on_condition(monkeypatch, 'none')
    assert torch.equal(encoded, to_unit_range(sample.renders))


def test_condition_fill_is_a_saved_pipeline_setting(tmp_path):
    base = untrained_pipeline(0)
    assert base.config.condition_fill == 'none'
    AnyReconPipeline(base.transformer, base.vae, base.scheduler,
                     condition_fill='telea').save_pretrained(tmp_path, safe_serialization=True)
    assert AnyReconPipeline.from_pretrained(tmp_path).config.condition_fill == 'telea'
    # Checkpoints written before the setting sample as they always did.
    index = json.loads((tmp_path / 'model_index.json').read_text())
    del index['condition_fill']
    (tmp_path / 'model_index.json').write_text(json.dumps(index))
    assert AnyReconPipeline.from_pretrained(tmp_path).config.condition_fill == 'none'
    with pytest.raises(ValueError, match='condition_fill'):
        AnyReconPipeline(base.transformer, base.vae, base.scheduler, condition_fill='blur')


def test_training_samples_carry_the_filled_condition_renders():
    maker = SampleMaker(replace(SMALL_DATA, condition_fill='telea'), seeds=range(1000, 1002))
    sample = maker.sample(np.random.default_rng(2))
    assert np.array_equal(sample.condition_renders,
                          fill_condition_renders(sample.renders, sample.masks, 'telea'))
    pipeline = untrained_pipeline(0)
    encoded = encode_sample(pipeline.vae, sample)
    plain = encode_sample(pipeline.vae, replace(sample, condition_renders=None))
    captures = len(sample.captures)
    assert torch.equal(encoded.clean, plain.clean) and torch.equal(encoded.mask, plain.mask)
    assert torch.allclose(encoded.condition[:, :, :captures], plain.condition[:, :, :captures])
    assert not torch.allclose(encoded.condition, plain.condition)


class FixedVelocity(torch.nn.Module):
    """A stand-in transformer that predicts a fixed velocity."""

    def __init__(self, velocity):
        super().__init__()
        self.velocity = velocity

    def forward(self, hidden_states, timestep, return_dict=False):
        return (self.velocity,)


def test_unseen_weight_weighs_the_pixels_the_render_did_not_cover():
    torch.manual_seed(0)
    shape = (2, 3, 4, 2, 2)
    clean, condition = torch.randn(shape), torch.randn(shape)
    mask = torch.ones(2, 4, 4, 2, 2)
    mask[:, :, 2:, 0] = 0      # frames 2-3, top latent row: not covered by the render
    encoded = EncodedSample(clean=clean, condition=condition, mask=mask)
    velocity = torch.randn(shape)
    weights = unseen_weights(mask, 5.0)
    assert weights.shape == (2, 1, 4, 2, 2)
    assert torch.equal(weights[:, 0], torch.where(mask[:, 0] > 0, 1.0, 5.0))

    def loss(weight):
        return flow_matching_loss(FixedVelocity(velocity), encoded,
                                  torch.Generator().manual_seed(3), weight)
    generator = torch.Generator().manual_seed(3)
    noise = torch.randn(shape, generator=generator)
    shifted_sigma(torch.rand(2, generator=generator))   # the draws the loss makes
    error = (velocity - (noise - clean)) ** 2
    assert float(loss(1.0)) == pytest.approx(float(F.mse_loss(velocity, noise - clean)))
    full = weights.expand(shape)
    assert float(loss(5.0)) == pytest.approx(float((error * full).sum() / full.sum()))
    unseen = (mask[:, :1] == 0).expand(shape)
    # A larger weight moves the loss towards the mean error of the unseen pixels.
    assert float(loss(1000.0)) == pytest.approx(float(error[unseen].mean()), rel=1e-2)


class RecordingVelocity(torch.nn.Module):
    """A stand-in transformer that remembers its inputs and predicts zero velocity."""

    def forward(self, hidden_states, timestep, return_dict=False):
        self.inputs, self.timestep = hidden_states, timestep
        channels = (hidden_states.shape[1] - 4) // 2
        return (torch.zeros_like(hidden_states[:, :channels]),)


def test_start_step_trains_the_step_the_pipeline_starts_from_the_condition():
    torch.manual_seed(0)
    shape = (1, 3, 4, 2, 2)
    clean, condition = torch.randn(shape), torch.randn(shape)
    encoded = EncodedSample(clean=clean, condition=condition, mask=torch.ones(1, 4, 4, 2, 2))
    model = RecordingVelocity()
    loss = flow_matching_loss(model, encoded, torch.Generator().manual_seed(5), start_step=3)
    sigma = start_sigma(3)
    # The level the pipeline's step 3 of 4 runs at (shift 5: 0.625), seen as a timestep.
    assert sigma == pytest.approx(0.625) and float(model.timestep) == pytest.approx(625.0)
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    noisy = (1 - sigma) * condition + sigma * noise   # from the condition, as sampling starts
    assert torch.allclose(model.inputs[:, :3], noisy, atol=1e-6)
    # Zero velocity lands on the noisy input itself: the loss is its distance
    # to the clean latents, in velocity units.
    assert float(loss) == pytest.approx(float((((noisy - clean) / sigma) ** 2).mean()), rel=1e-5)


def test_a_refinement_starts_from_a_checkpoint_and_records_its_sampling(tmp_path):
    teacher = tmp_path / 'teacher'
    save_checkpoint(untrained_pipeline(0), teacher)
    data = replace(SMALL_DATA, condition_fill='background')
    config = TrainConfig(out=str(tmp_path / 'refine'), steps=1, log_every=1, validate_every=1,
                         checkpoint_every=1, model=TINY_MODEL, data=data, start_step=3,
                         init=str(teacher))
    Trainer(config, log=lambda line: None).train()
    refined = load_checkpoint(tmp_path / 'refine' / 'checkpoint')
    assert (refined.config.condition_fill, refined.config.start_step) == ('background', 3)
    start = load_checkpoint(teacher)
    # The VAE is the checkpoint's, the transformer trained on from its weights.
    assert all(torch.equal(a, b) for a, b in zip(refined.vae.state_dict().values(),
                                                 start.vae.state_dict().values()))
    changed = [not torch.equal(a, b) for a, b in zip(
        refined.transformer.state_dict().values(), start.transformer.state_dict().values())]
    assert any(changed)


def test_ema_update_is_an_exponential_moving_average():
    model, average = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in average.parameters()]
    ema_update(average, model, 0.9)
    for new, old, weight in zip(average.parameters(), before, model.parameters()):
        assert torch.allclose(new, 0.9 * old + 0.1 * weight)
    assert ema_decay(0.999, 1) == pytest.approx(2 / 11)     # warm-up: short runs average less
    assert ema_decay(0.999, 10 ** 6) == 0.999
    ema_update(average, model, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(average.parameters(), model.parameters()))


def test_evaluation_scenes_are_refused(tmp_path, capsys):
    kitchen = SHARED / 'data' / 'redkitchen'
    with pytest.raises(ValueError, match='redkitchen is evaluation data'):
        SampleMaker(replace(SMALL_DATA, scene_folders=(str(kitchen),)))
    with pytest.raises(ValueError, match='evaluation data'):
        Trainer(TrainConfig(out=str(tmp_path / 'run'), data=replace(
            SMALL_DATA, scene_folders=(str(tmp_path / 'RedKitchen_copy'),))))
    assert not (tmp_path / 'run').exists()
    link = tmp_path / 'innocent'
    link.symlink_to(kitchen)
    assert main(['train', '--out', str(tmp_path / 'run'), '--scene-folder', str(link)]) == 1
    assert 'evaluation data' in capsys.readouterr().err


@needs_scenes
def test_real_rgbd_scenes_make_samples_and_rgb_only_scenes_are_refused():
    maker = SampleMaker(replace(SMALL_DATA, clip_frames=4, procedural_share=0.0, scene_folders=(
        str(TRAIN_SCENES / 'lf_bin_books'), str(TRAIN_SCENES / 'lf_bin_basket'))))
    sample = maker.sample(np.random.default_rng(0))
    assert sample.frames.shape == (4, 32, 32, 3)
    assert 0.2 < sample.masks[0].mean() and sample.masks.mean() < 1.0
    with pytest.raises(ValueError, match='has no depth'):
        SampleMaker(replace(SMALL_DATA, scene_folders=(str(TRAIN_SCENES / 'dtu_scan24'),)))


def test_exported_walks_stand_in_for_procedural_scenes(tmp_path):
    data = replace(SMALL_DATA, clip_frames=4)
    export_walk(tmp_path / 'walks' / 'a', 1000, frames=6, config=data)
    maker = SampleMaker(replace(data, walk_folders=walk_folders(tmp_path / 'walks')))
    sample = maker.sample(np.random.default_rng(0))
    assert sample.frames.shape == (4, 32, 32, 3) and sample.masks[0].mean() > 0.9
    with pytest.raises(ValueError, match='evaluation seed'):
        export_walk(tmp_path / 'b', 5, frames=2, config=data)


def test_samples_of_different_shapes_are_batched_apart():
    pipeline = untrained_pipeline(0)
    maker = SampleMaker(SMALL_DATA, seeds=range(1000, 1002))
    samples = [maker.sample(np.random.default_rng(seed)) for seed in range(6)]
    encoded = [encode_sample(pipeline.vae, sample) for sample in samples]
    batches = collate(encoded)
    assert sum(len(batch.clean) for batch in batches) == 6
    assert len(batches) == len({len(sample.captures) for sample in samples})
    loss = flow_matching_loss(pipeline.transformer, batches[0], torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    # Images of another size (a real scene's) are encoded in their own pass.
    small = replace(samples[1], captures=samples[1].captures[:, :16],
                    frames=samples[1].frames[:, :16], renders=samples[1].renders[:, :16],
                    masks=samples[1].masks[:, :16])
    together = encode_samples(pipeline.vae, [samples[0], small])
    for alone, sample in zip(together, [samples[0], small]):
        assert torch.allclose(alone.clean, encode_sample(pipeline.vae, sample).clean, atol=1e-5)


def test_the_command_line_names_every_option(tmp_path):
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args([
        'train', '--out', str(tmp_path), '--taef2', str(TAEF2), '--model', 'medium',
        '--fill-condition', '--unseen-weight', '3', '--ema', '0.999', '--batch-size', '4',
        '--procedural-share', '0.75', '--device', 'cpu', '--workers', '2'])
    config = train_cli.train_config(args)
    assert config.vae == f'taef2:{TAEF2}' and config.model['num_layers'] == 6
    assert (config.data.condition_fill, config.unseen_weight, config.ema) == ('telea', 3.0, 0.999)
    assert (config.batch_size, config.workers, config.data.procedural_share) == (4, 2, 0.75)
    defaults = train_cli.train_config(parser.parse_args(['train']))
    assert (defaults.vae, defaults.data.condition_fill, defaults.unseen_weight,
            defaults.ema, defaults.start_step, defaults.init) == ('', 'none', 1.0, 0.0, 0, '')
    refine = train_cli.train_config(parser.parse_args([
        'train', '--fill-condition', 'background', '--start-step', '3', '--init', str(tmp_path)]))
    assert (refine.data.condition_fill, refine.start_step, refine.init) == (
        'background', 3, str(tmp_path))


def test_worker_processes_make_the_samples_the_training_process_would(tmp_path):
    data = replace(SMALL_DATA, clip_frames=4, condition_fill='telea')
    config = TrainConfig(out=str(tmp_path), steps=2, batch_size=2, data=data, workers=1)
    pooled = list(Trainer(config, log=lambda line: None)._batches(0))
    local = list(Trainer(replace(config, workers=0), log=lambda line: None)._batches(0))
    assert [len(batch) for batch in pooled] == [2, 2]
    for ours, theirs in zip(sum(pooled, []), sum(local, [])):
        assert np.array_equal(ours.frames, theirs.frames)
        assert np.array_equal(ours.condition_renders, theirs.condition_renders)
    # Sample i of step s depends on (seed, s, i) only: a resumed run draws new samples.
    resumed = list(Trainer(replace(config, workers=0), log=lambda line: None)._batches(1))
    assert np.array_equal(resumed[0][1].frames, local[1][1].frames)
