# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Flow-matching training of the generator (``anyrecon train``).

On samples of :mod:`anyrecon_ros.model.training.data`, the transformer
learns the flow-matching velocity (noise minus data, Wan's convention) of
the whole sequence, captures first. The frame-wise VAE is either the small
Wan VAE, trained first (``train_vae``) and then frozen, or the pretrained
TAEF2 autoencoder (``TrainConfig.vae = 'taef2:FOLDER'``), frozen, its latent
statistics calibrated on training frames; the transformer is built for the
VAE's latent channels (16 or 32).

Options that help a small model (each off by default, each recorded in
``training_config.json`` beside the checkpoint):

* ``DataConfig.condition_fill = 'telea'`` (or ``'background'``, the
  depth-aware fill): the renders' condition latents are encoded from the
  filled render, and the checkpoint's pipeline samples so
  (``AnyReconPipeline.condition_fill``);
* ``start_step`` k > 0: train the one regime a pipeline with that
  ``start_step`` samples in: the input is the condition latents noised to
  the 4-step schedule's level k (not the clean latents), the target still
  the clean latents; the checkpoint records ``start_step`` k. With ``init``
  (a checkpoint folder) the transformer and VAE start from it, its latent
  statistics kept: this refines a trained teacher for that one step;
* ``unseen_weight`` W: the velocity error of latent pixels the render did
  not cover (mask 0) weighs W, the others 1 (a weighted mean, so W = 1 is
  the plain mean squared error);
* ``ema`` decay d: an exponential moving average of the transformer's
  weights (decay ``min(d, (1 + step) / (10 + step))``) is what validation
  grids and the checkpoint's ``transformer/`` hold; the trained weights are
  kept beside it (``training_weights.safetensors``) for resuming.

Training runs through accelerate on ``device`` (``auto``: CUDA where there
is one), so the same code runs on this CPU and on a GPU; ``batch_size``
samples a step (shapes grouped into batches), made by ``workers`` processes
(0: in this one). Sample ``i`` of step ``s`` comes from the random generator
seeded ``(seed, s, i)``, whatever the workers, so a resumed run continues
with new samples. Checkpoints are written to a temporary folder and renamed,
so an interrupted run resumes from the last complete one.
"""

from collections import deque
import copy
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
import json
import math
from pathlib import Path
import shutil
import time

import numpy as np
from safetensors.torch import load_file
from safetensors.torch import save_file
import torch
import torch.nn.functional as F

from anyrecon_ros.core.image_grid import image_row
from anyrecon_ros.core.image_grid import stack_rows
from anyrecon_ros.core.image_grid import tint_holes
from anyrecon_ros.core.image_grid import write_rgb
from anyrecon_ros.model.models.transformer import AnyReconTransformer
from anyrecon_ros.model.models.transformer import channel_config
from anyrecon_ros.model.models.transformer import pack_conditioning
from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import encode_unnormalised
from anyrecon_ros.model.models.vae import latent_channels
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.pipelines.scheduling import make_scheduler
from anyrecon_ros.model.pipelines.scheduling import schedule_sigmas
from anyrecon_ros.model.pipelines.scheduling import SHIFT
from anyrecon_ros.model.training.data import check_training_path
from anyrecon_ros.model.training.data import collate
from anyrecon_ros.model.training.data import DataConfig
from anyrecon_ros.model.training.data import encode_samples
from anyrecon_ros.model.training.data import EncodedSample
from anyrecon_ros.model.training.data import SampleMaker

TAEF2_PREFIX = 'taef2:'
# Beside the pipeline folders in a training checkpoint.
TRAINING_STATE = 'training_state.json'
TRAINING_CONFIG = 'training_config.json'
TRAINING_WEIGHTS = 'training_weights.safetensors'   # the trained (not averaged) transformer
OPTIMIZER_STATE = 'optimizer.pt'


def shifted_sigma(uniform: torch.Tensor, shift: float = SHIFT) -> torch.Tensor:
    """Map uniform u in (0, 1) to the shifted sigma the sampler uses (more noise at shift 5)."""
    return shift * uniform / (1 + (shift - 1) * uniform)


def unseen_weights(mask: torch.Tensor, unseen_weight: float) -> torch.Tensor:
    """Return (B, 1, F, h, w) loss weights: ``unseen_weight`` where the latent mask is 0, else 1.

    ``mask`` is the transformer's (B, 4, F, h, w) mask input (ones for
    captures; render visibility, one value repeated over the 4 channels).
    """
    seen = mask[:, :1] > 0.5
    return torch.where(seen, torch.ones_like(mask[:, :1]),
                       torch.full_like(mask[:, :1], float(unseen_weight)))


def start_sigma(start_step: int, steps: int = 4) -> float:
    """Return the noise level a pipeline with ``start_step`` starts at (the sampler's schedule)."""
    return float(schedule_sigmas(steps)[min(start_step, steps - 1)])


def flow_matching_loss(transformer, encoded: EncodedSample, generator=None,
                       unseen_weight: float = 1.0, start_step: int = 0) -> torch.Tensor:
    """Return the velocity MSE at shifted random noise levels (Wan: v = noise - data).

    One noise level per batch element. ``generator`` (a CPU generator) draws
    the noise and the levels. ``unseen_weight`` != 1 weighs the squared
    error of latent pixels the render did not cover (see
    :func:`unseen_weights`): sum(w * e) / sum(w) over all elements.
    ``start_step`` k > 0: the level is the schedule's k-th and the noise is
    added to the condition latents, as the pipeline starts sampling; the
    velocity that leads from there to the clean latents is the target.
    """
    clean = encoded.clean
    batch = clean.shape[0]
    noise = torch.randn(clean.shape, generator=generator).to(clean)
    if start_step:
        sigma = torch.full((batch,), start_sigma(start_step)).to(clean)
        start = encoded.condition
    else:
        sigma = shifted_sigma(torch.rand(batch, generator=generator).clamp(1e-3, 1 - 1e-3))
        sigma, start = sigma.to(clean), clean
    level = sigma.view(batch, 1, 1, 1, 1)
    noisy = (1 - level) * start + level * noise
    # x_0 = x_t - sigma * v: the velocity that lands on the clean latents.
    target = (noisy - clean) / level
    velocity = transformer(hidden_states=pack_conditioning(noisy, encoded.mask, encoded.condition),
                           timestep=sigma * 1000, return_dict=False)[0]
    if unseen_weight == 1.0:
        return F.mse_loss(velocity, target)
    weights = unseen_weights(encoded.mask, unseen_weight).expand_as(clean)
    return ((velocity - target) ** 2 * weights).sum() / weights.sum()


def ema_decay(decay: float, step: int) -> float:
    """Return the EMA decay at ``step`` (1-based): ``decay``, lower early on (warm-up)."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def ema_update(average: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """Move ``average``'s weights to ``decay * average + (1 - decay) * model``; copy buffers."""
    for mean, weight in zip(average.parameters(), model.parameters()):
        mean.lerp_(weight.detach().to(mean), 1 - decay)
    for mean, buffer in zip(average.buffers(), model.buffers()):
        mean.copy_(buffer)


def vae_loss(vae, images: torch.Tensor, kl_weight: float = 1e-6) -> torch.Tensor:
    """Return the reconstruction MSE of one-frame videos through the posterior's mode + small KL.

    The mode, not a sample: inference encodes with the mode, and sampling with
    the untrained posterior's unit variance drowns the signal (training then
    stalls at the mean colour).
    """
    posterior = vae.encode(images.unsqueeze(2)).latent_dist
    reconstruction = vae.decode(posterior.mode()).sample[:, :, 0]
    return F.mse_loss(reconstruction, images) + kl_weight * posterior.kl().mean()


def calibrate_latent_statistics(vae, maker: 'SampleMaker', samples: int = 16,
                                seed: int = 0) -> None:
    """Set the VAE config's per-channel latent mean and std from encoded training frames.

    ``encode_frames`` normalises with them, so the transformer sees latents
    of about unit variance whatever the VAE learnt. Any frame-wise VAE
    (``AutoencoderKLWan``, ``TinyFrameAutoencoder``).
    """
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        latents = torch.cat([encode_unnormalised(vae, to_unit_range(maker.sample(rng).frames), 4)
                             for _ in range(samples)])
    channels = latents.transpose(0, 1).reshape(latents.shape[1], -1)
    vae.register_to_config(latents_mean=channels.mean(1).tolist(),
                           latents_std=channels.std(1).clamp_min(1e-3).tolist())


# ---- the training command ------------------------------------------------------------


@dataclass
class TrainConfig:
    """``anyrecon train`` settings."""

    out: str = 'out/train'
    steps: int = 2000
    vae_steps: int = 0            # > 0: train the small Wan VAE first, for this many steps
    vae: str = ''                 # '' the small Wan VAE; 'taef2:FOLDER' the pretrained TAEF2
    learning_rate: float = 3e-4
    vae_learning_rate: float = 1e-3
    seed: int = 1000
    log_every: int = 50
    validate_every: int = 500
    checkpoint_every: int = 500
    resume: bool = True
    unseen_weight: float = 1.0    # loss weight of latent pixels the render did not cover
    start_step: int = 0           # > 0: train the step the pipeline starts at (module docstring)
    init: str = ''                # a checkpoint folder to start the transformer and VAE from
    ema: float = 0.0              # > 0: EMA decay of the transformer the checkpoint holds
    batch_size: int = 1           # samples per step
    device: str = 'auto'          # auto (CUDA where there is one), cpu, cuda, cuda:1, ...
    workers: int = 0              # processes making samples (0: this one)
    max_minutes: float = 0.0      # > 0: stop (with a checkpoint) after this long
    model: dict = field(default_factory=lambda: small_config())
    data: DataConfig = field(default_factory=DataConfig)


def small_config() -> dict:
    """Return the transformer of the first default checkpoint: 1.2 M weights, CPU-trainable."""
    return {'num_layers': 4, 'num_attention_heads': 4, 'attention_head_dim': 32,
            'ffn_dim': 512, 'text_dim': 32, 'text_seq_len': 4, 'freq_dim': 64}


def medium_config() -> dict:
    """Return the TAEF2 default's transformer: 4 M weights (16 MB) at 32 latent channels.

    On a CPU the frozen TAEF2 encoder, not the transformer, takes most of a
    step (measured on the 2-core machine at 128x96: about 1 s per 8 frames,
    against 0.18 s for this transformer's forward and backward, 0.08 s for
    ``small_config``'s), so the larger transformer costs little time.
    """
    return {'num_layers': 6, 'num_attention_heads': 6, 'attention_head_dim': 32,
            'ffn_dim': 768, 'text_dim': 32, 'text_seq_len': 4, 'freq_dim': 64}


def tiny_config() -> dict:
    """Return a transformer for tests and smoke runs (latent channels added by the trainer)."""
    return {'num_layers': 1, 'num_attention_heads': 2, 'attention_head_dim': 16,
            'ffn_dim': 64, 'text_dim': 16, 'text_seq_len': 2, 'freq_dim': 32}


MODEL_PRESETS = {'tiny': tiny_config, 'small': small_config, 'medium': medium_config}


def taef2_folder(vae: str):
    """Return the TAEF2 weights folder ``vae`` names (``taef2:FOLDER``); None: the Wan VAE."""
    if not vae:
        return None
    if not vae.startswith(TAEF2_PREFIX) or not vae[len(TAEF2_PREFIX):]:
        raise ValueError(f'vae {vae!r}: use taef2:FOLDER (the TAEF2 weights) or nothing '
                         '(the small Wan VAE)')
    return Path(vae[len(TAEF2_PREFIX):])


def resolve_device(device: str) -> torch.device:
    """Return the torch device ``device`` names; ``auto`` is CUDA where there is one."""
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {device!r} was asked for but CUDA is not available')
    return torch.device(device)


# Sample making, in this process or in workers: sample i of step s from seed (seed, s, i).
_WORKER_MAKER = None


def _start_worker(data: DataConfig) -> None:
    global _WORKER_MAKER
    torch.set_num_threads(1)
    _WORKER_MAKER = SampleMaker(data)


def _worker_sample(key):
    return _WORKER_MAKER.sample(np.random.default_rng(key))


class Trainer:
    """Train a VAE (optionally) and the transformer; checkpoints resume where they stopped."""

    def __init__(self, config: TrainConfig, pipeline=None, log=print):
        from accelerate import Accelerator
        if config.vae and config.vae_steps:
            raise ValueError('vae_steps trains the small Wan VAE; the TAEF2 VAE is used frozen '
                             '(pass one or the other)')
        if config.batch_size < 1 or config.workers < 0 or config.ema >= 1 or config.ema < 0:
            raise ValueError('need batch_size >= 1, workers >= 0 and 0 <= ema < 1')
        if config.unseen_weight <= 0:
            raise ValueError(f'unseen_weight must be > 0, got {config.unseen_weight}')
        if config.start_step < 0:
            raise ValueError(f'start_step must be >= 0, got {config.start_step}')
        self.config = config
        self.out = Path(config.out)
        self.log = log
        self.device = resolve_device(config.device)
        self.maker = SampleMaker(config.data)   # checks the data (evaluation scenes refused)
        self.out.mkdir(parents=True, exist_ok=True)
        self.accelerator = Accelerator(cpu=self.device.type == 'cpu')
        if self.device.type == 'cuda':
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(config.seed)
        self.pipeline = pipeline if pipeline is not None else self._new_pipeline()
        self.rng = np.random.default_rng(config.seed)
        # On a CPU a few frames at a time through the VAE are fastest; on a GPU all at once.
        self.vae_batch_frames = 4 if self.device.type == 'cpu' else None
        self.samples_seen = 0

    def _new_pipeline(self):
        from anyrecon_ros.model.pipelines.generator import untrained_pipeline
        from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
        if self.config.init:
            return self._initial_pipeline()
        folder = taef2_folder(self.config.vae)
        if folder is None:
            pipeline = untrained_pipeline(self.config.seed)
            pipeline.transformer = AnyReconTransformer(**{
                **self.config.model, **channel_config(latent_channels(pipeline.vae))})
            pipeline.register_to_config(condition_fill=self.config.data.condition_fill)
            return pipeline
        from anyrecon_ros.model.models.taef2 import TinyFrameAutoencoder
        vae = TinyFrameAutoencoder.from_taef2_files(check_training_path(folder))
        transformer = AnyReconTransformer(**{**self.config.model,
                                             **channel_config(latent_channels(vae))})
        return AnyReconPipeline(transformer=transformer, vae=vae.requires_grad_(False),
                                scheduler=make_scheduler(),
                                condition_fill=self.config.data.condition_fill)

    def _initial_pipeline(self):
        """Return the ``init`` checkpoint's pipeline, sampling as this run trains."""
        from anyrecon_ros.model.pipelines.generator import load_checkpoint
        pipeline = load_checkpoint(check_training_path(self.config.init))
        pipeline.register_to_config(condition_fill=self.config.data.condition_fill,
                                    start_step=self.config.start_step)
        return pipeline

    # -- VAE

    def train_vae(self, batch: int = 8, crop: int = 48, pool_samples: int = 40) -> list:
        """Train the frame-wise VAE on random crops of a fixed pool of frames; return losses.

        The VAE is convolutional, so ``crop``-pixel crops (``batch`` at a time)
        teach it the full frames at a fraction of the cost; a fixed pool of
        ``pool_samples`` clips generalises better here than fresh clips every
        step (measured: 22.6 dB vs 16 dB on unseen frames after 1000 steps).
        Then its latent statistics are set (:func:`calibrate_latent_statistics`).
        """
        frames = np.concatenate([self.maker.sample(self.rng).frames
                                 for _ in range(pool_samples)])
        height, width = frames.shape[1:3]
        crop = min(crop, height // 8 * 8, width // 8 * 8)
        vae = self.pipeline.vae.train()
        optimizer = torch.optim.Adam(vae.parameters(), lr=self.config.vae_learning_rate)
        vae, optimizer = self.accelerator.prepare(vae, optimizer)
        losses = []
        for step in range(1, self.config.vae_steps + 1):
            # Crops on the 8-pixel grid of the VAE's downsampling.
            top = int(self.rng.integers(0, (height - crop) // 8 + 1)) * 8
            left = int(self.rng.integers(0, (width - crop) // 8 + 1)) * 8
            chosen = frames[self.rng.integers(0, len(frames), batch)]
            images = to_unit_range(chosen[:, top:top + crop, left:left + crop])
            loss = vae_loss(vae, images.to(self.accelerator.device))
            optimizer.zero_grad()
            self.accelerator.backward(loss)
            optimizer.step()
            losses.append(loss.item())
            if step % self.config.log_every == 0:
                recent = float(np.mean(losses[-self.config.log_every:]))
                self.log(f'vae step {step}/{self.config.vae_steps}: loss {recent:.4f} '
                         f'({10 * math.log10(4 / recent):.1f} dB)')
        self.pipeline.vae = self.accelerator.unwrap_model(vae).eval()
        self.pipeline.vae.requires_grad_(False)
        self._calibrate()
        return losses

    def _calibrate(self):
        calibrate_latent_statistics(self.pipeline.vae, self.maker)
        self.log(f'vae: {decode_check(self.pipeline.vae, self.maker.sample(self.rng).frames):.1f}'
                 ' dB on a new clip')

    # -- transformer

    def train(self) -> list:
        """Train the transformer with flow matching; return the loss log of this run."""
        config = self.config
        start = self._resume()
        self.pipeline.vae.to(self.device)
        # An init checkpoint's VAE and latent statistics are what its transformer knows.
        if start is None and not config.init and (config.vae_steps or config.vae):
            if config.vae_steps:
                self.train_vae()
            else:   # the frozen TAEF2: only its latent statistics come from the data
                self._calibrate()
            self._save(0)
        if start is None and config.init:
            self.log(f'starting from {config.init} (start_step {config.start_step}, '
                     f'condition_fill {config.data.condition_fill})')
        start = start or 0
        self.pipeline.vae.requires_grad_(False).eval()
        transformer = self.pipeline.transformer
        average = None
        if config.ema:
            # The checkpoint's transformer is the average; the trained weights lie beside.
            average = copy.deepcopy(transformer).eval().requires_grad_(False).to(self.device)
        trained = self._trained_weights()
        if trained is not None:
            transformer.load_state_dict(trained)
        transformer.train().requires_grad_(True)
        optimizer = torch.optim.AdamW(transformer.parameters(), lr=config.learning_rate,
                                      weight_decay=0.0)
        self._load_optimizer(optimizer)
        transformer, optimizer = self.accelerator.prepare(transformer, optimizer)
        self._write_config()
        losses, started = [], time.monotonic()
        batches = self._batches(start)
        try:
            self._steps(start, batches, transformer, optimizer, average, losses, started)
        finally:
            batches.close()   # stops the workers, if any
        self._use(transformer, average)
        return losses

    def _steps(self, start, batches, transformer, optimizer, average, losses, started):
        config = self.config
        for step, samples in zip(range(start + 1, config.steps + 1), batches):
            encoded = collate(encode_samples(self.pipeline.vae, samples, self.vae_batch_frames,
                                             self.device))
            noise = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            loss = sum(flow_matching_loss(transformer, group, noise, config.unseen_weight,
                                          config.start_step)
                       * len(group.clean) for group in encoded) / len(samples)
            optimizer.zero_grad()
            self.accelerator.backward(loss)
            self.accelerator.clip_grad_norm_(transformer.parameters(), 1.0)
            optimizer.step()
            if average is not None:
                ema_update(average, self.accelerator.unwrap_model(transformer),
                           ema_decay(config.ema, step))
            self.samples_seen += len(samples)
            losses.append(loss.item())
            self._log_loss(step, losses, started)
            out_of_time = (config.max_minutes
                           and time.monotonic() - started > 60 * config.max_minutes)
            last = step == config.steps or out_of_time
            if step % config.validate_every == 0 or last:
                self._use(transformer, average)
                self.validation_grid(self.out / f'validation_{step:06d}.png')
                transformer.train()
            if step % config.checkpoint_every == 0 or last:
                self._use(transformer, average)
                self._save(step, optimizer, transformer if average is not None else None)
                transformer.train()
            if out_of_time:
                self.log(f'stopping after {config.max_minutes} minutes at step {step}')
                break

    def _use(self, transformer, average):
        """Make the pipeline's transformer the one a checkpoint holds (the average, if any)."""
        model = average if average is not None else self.accelerator.unwrap_model(transformer)
        self.pipeline.transformer = model.eval()

    def _batches(self, start: int):
        """Yield each step's list of samples, from step ``start + 1`` on."""
        batch, seed = self.config.batch_size, self.config.seed
        keys = ([seed, step, index] for step in range(start + 1, self.config.steps + 1)
                for index in range(batch))
        if not self.config.workers:
            while True:
                chunk = [self.maker.sample(np.random.default_rng(key))
                         for key in _take(keys, batch)]
                if not chunk:
                    return
                yield chunk
        import multiprocessing
        # Spawned, not forked: the parent's torch threads and CUDA do not survive a fork.
        context = multiprocessing.get_context('spawn')
        with context.Pool(self.config.workers, _start_worker, (self.config.data,)) as pool:
            pending = deque()
            while True:
                while len(pending) < max(4 * self.config.workers, 2 * batch):
                    key = next(keys, None)
                    if key is None:
                        break
                    pending.append(pool.apply_async(_worker_sample, (key,)))
                if not pending:
                    return
                yield [pending.popleft().get() for _ in range(min(batch, len(pending)))]

    def _log_loss(self, step, losses, started):
        if step % self.config.log_every:
            return
        mean = float(np.mean(losses[-self.config.log_every:]))
        with open(self.out / 'loss.jsonl', 'a') as stream:
            stream.write(json.dumps({'step': step, 'loss': mean,
                                     'samples': self.samples_seen}) + '\n')
        self.log(f'step {step}/{self.config.steps}: loss {mean:.4f} '
                 f'({(time.monotonic() - started) / len(losses):.2f} s/step)')

    def validation_grid(self, path, steps: int = 8) -> Path:
        """Write rows of truth, renders (holes tinted) and generated frames of a fixed sample."""
        sample = self.maker.sample(np.random.default_rng(0))
        generated = self.pipeline(sample.captures, sample.renders, sample.masks,
                                  num_inference_steps=steps,
                                  generator=torch.Generator().manual_seed(0)).images
        rows = [image_row(list(sample.frames)),
                image_row([tint_holes(r, m) for r, m in zip(sample.renders, sample.masks)]),
                image_row(list(generated))]
        return write_rgb(path, stack_rows(rows))

    # -- checkpoints: diffusers folders (safetensors) + the optimizer, trained weights, step

    def recorded_config(self) -> dict:
        """Return the settings of this run as ``training_config.json`` records them."""
        recorded = asdict(self.config)
        recorded['condition_fill'] = self.config.data.condition_fill
        recorded['vae_class'] = type(self.pipeline.vae).__name__
        recorded['device'] = str(self.device)
        return recorded

    def _write_config(self):
        text = json.dumps(self.recorded_config(), indent=1, default=str)
        (self.out / TRAINING_CONFIG).write_text(text)

    def _save(self, step, optimizer=None, trained=None):
        """Write the checkpoint into a fresh folder, then swap it in: never half written."""
        from anyrecon_ros.model.pipelines.generator import save_checkpoint
        folder = self.out / 'checkpoint'
        partial, previous = self.out / 'checkpoint.partial', self.out / 'checkpoint.previous'
        shutil.rmtree(partial, ignore_errors=True)
        save_checkpoint(self.pipeline, partial, working_width=self.config.data.width)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), partial / OPTIMIZER_STATE)
        if trained is not None:
            state = self.accelerator.unwrap_model(trained).state_dict()
            save_file({key: value.detach().cpu().contiguous() for key, value in state.items()},
                      str(partial / TRAINING_WEIGHTS))
        (partial / TRAINING_CONFIG).write_text(json.dumps(self.recorded_config(), indent=1,
                                                          default=str))
        (partial / TRAINING_STATE).write_text(json.dumps({'step': step,
                                                          'samples': self.samples_seen}))
        shutil.rmtree(previous, ignore_errors=True)
        if folder.exists():
            folder.rename(previous)
        partial.rename(folder)
        shutil.rmtree(previous, ignore_errors=True)
        self.log(f'checkpoint at step {step}: {folder}')

    def _checkpoint_folder(self):
        folder = self.out / 'checkpoint'
        previous = self.out / 'checkpoint.previous'
        # Interrupted between the two renames of _save: the previous one is complete.
        if not (folder / TRAINING_STATE).is_file() and (previous / TRAINING_STATE).is_file():
            previous.rename(folder)
        return folder

    def _resume(self):
        """Load the last checkpoint; return its step (None when there is none to resume)."""
        from anyrecon_ros.model.pipelines.generator import load_checkpoint
        folder = self._checkpoint_folder()
        state = folder / TRAINING_STATE
        if not (self.config.resume and state.is_file()):
            return None
        pipeline = load_checkpoint(folder)
        fill = pipeline.config.get('condition_fill', 'none')
        if fill != self.config.data.condition_fill:
            raise ValueError(f'{folder} was trained with condition_fill {fill!r}, this run asks '
                             f'for {self.config.data.condition_fill!r} (set it so, or start '
                             'over with --no-resume)')
        wanted = 'TinyFrameAutoencoder' if self.config.vae else None
        if wanted and type(pipeline.vae).__name__ != wanted:
            raise ValueError(f'{folder} holds a {type(pipeline.vae).__name__}, this run asks for '
                             f'{self.config.vae} (start over with --no-resume)')
        self.pipeline = pipeline
        recorded = json.loads(state.read_text())
        step = int(recorded['step'])
        self.samples_seen = int(recorded.get('samples', step))
        self.log(f'resuming from step {step} ({folder})')
        return step

    def _trained_weights(self):
        path = self.out / 'checkpoint' / TRAINING_WEIGHTS
        if self.config.resume and path.is_file():
            return load_file(str(path))
        return None

    def _load_optimizer(self, optimizer):
        path = self.out / 'checkpoint' / OPTIMIZER_STATE
        if self.config.resume and path.is_file():
            # weights_only: plain tensors and numbers, nothing executable; saved on any
            # device (a GPU run continued on a CPU), loaded onto the parameters' device.
            optimizer.load_state_dict(torch.load(path, weights_only=True, map_location='cpu'))


def _take(iterator, count: int) -> list:
    return [item for _, item in zip(range(count), iterator)]


def decode_check(vae, images: np.ndarray) -> float:
    """Return the PSNR (dB) of the VAE's reconstruction of uint8 images."""
    with torch.no_grad():
        tensor = to_unit_range(images, next(vae.parameters()).device)
        decoded = decode_frames(vae, encode_frames(vae, tensor, 4), 4).clamp(-1, 1)
    mse = F.mse_loss((decoded + 1) * 127.5, (tensor + 1) * 127.5).item()
    return 10 * math.log10(255 ** 2 / max(mse, 1e-12))
