# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Flow-matching training of the generator (``anyrecon train``).

On samples of :mod:`anyrecon_ros.model.training.data`, the transformer
learns the flow-matching velocity (noise minus data, Wan's convention) of
the whole sequence, captures first. The frame-wise VAE can be trained first
(``train_vae``) for a small model, then frozen.

Training runs through accelerate, so the same code runs on this CPU and on
many GPUs (``accelerate launch -m anyrecon_ros.cli.main train ...``).
"""

from dataclasses import dataclass
from dataclasses import field
import json
import math
from pathlib import Path
import time

import numpy as np
import torch
import torch.nn.functional as F

from anyrecon_ros.core.image_grid import image_row
from anyrecon_ros.core.image_grid import stack_rows
from anyrecon_ros.core.image_grid import tint_holes
from anyrecon_ros.core.image_grid import write_rgb
from anyrecon_ros.model.models.transformer import AnyReconTransformer
from anyrecon_ros.model.models.transformer import pack_conditioning
from anyrecon_ros.model.models.vae import decode_frames
from anyrecon_ros.model.models.vae import encode_frames
from anyrecon_ros.model.models.vae import encode_unnormalised
from anyrecon_ros.model.models.vae import to_unit_range
from anyrecon_ros.model.pipelines.scheduling import SHIFT
from anyrecon_ros.model.training.data import DataConfig
from anyrecon_ros.model.training.data import encode_sample
from anyrecon_ros.model.training.data import EncodedSample
from anyrecon_ros.model.training.data import SampleMaker


def shifted_sigma(uniform: torch.Tensor, shift: float = SHIFT) -> torch.Tensor:
    """Map uniform u in (0, 1) to the shifted sigma the sampler uses (more noise at shift 5)."""
    return shift * uniform / (1 + (shift - 1) * uniform)


def flow_matching_loss(transformer, encoded: EncodedSample, generator=None) -> torch.Tensor:
    """Return the velocity MSE at a shifted random noise level (Wan: v = noise - data)."""
    noise = torch.randn(encoded.clean.shape, generator=generator)
    sigma = shifted_sigma(torch.rand(1, generator=generator).clamp(1e-3, 1 - 1e-3))
    noisy = (1 - sigma) * encoded.clean + sigma * noise
    velocity = transformer(hidden_states=pack_conditioning(noisy, encoded.mask, encoded.condition),
                           timestep=sigma * 1000, return_dict=False)[0]
    return F.mse_loss(velocity, noise - encoded.clean)


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
    vae_steps: int = 0            # > 0: train the frame-wise VAE first, for this many steps
    learning_rate: float = 3e-4
    vae_learning_rate: float = 1e-3
    seed: int = 1000
    log_every: int = 50
    validate_every: int = 500
    checkpoint_every: int = 500
    resume: bool = True
    model: dict = field(default_factory=lambda: small_config())
    data: DataConfig = field(default_factory=DataConfig)


def small_config() -> dict:
    """Return the transformer of the default checkpoint: a few million weights, CPU-trainable."""
    return {'num_layers': 4, 'num_attention_heads': 4, 'attention_head_dim': 32,
            'ffn_dim': 512, 'text_dim': 32, 'text_seq_len': 4, 'freq_dim': 64}


class Trainer:
    """Train a VAE (optionally) and the transformer; checkpoints resume where they stopped."""

    def __init__(self, config: TrainConfig, pipeline=None, log=print):
        from accelerate import Accelerator
        from anyrecon_ros.model.pipelines.generator import untrained_pipeline
        self.config = config
        self.out = Path(config.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        torch.manual_seed(config.seed)
        if pipeline is None:
            pipeline = untrained_pipeline(config.seed)
            pipeline.transformer = AnyReconTransformer(**config.model)
        self.pipeline = pipeline
        self.maker = SampleMaker(config.data)
        self.rng = np.random.default_rng(config.seed)

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
        calibrate_latent_statistics(self.pipeline.vae, self.maker)
        self.log(f'vae: {decode_check(self.pipeline.vae, self.maker.sample(self.rng).frames):.1f}'
                 ' dB on a new clip')
        return losses

    # -- transformer

    def train(self) -> list:
        """Train the transformer with flow matching; return the loss log of this run."""
        start = self._resume()
        if start == 0 and self.config.vae_steps:
            self.train_vae()
            self._save(0)
        self.pipeline.vae.requires_grad_(False)
        transformer = self.pipeline.transformer.train()
        optimizer = torch.optim.AdamW(transformer.parameters(), lr=self.config.learning_rate,
                                      weight_decay=0.0)
        self._load_optimizer(optimizer)
        transformer, optimizer = self.accelerator.prepare(transformer, optimizer)
        losses, started = [], time.monotonic()
        for step in range(start + 1, self.config.steps + 1):
            encoded = encode_sample(self.pipeline.vae, self.maker.sample(self.rng))
            loss = flow_matching_loss(transformer, encoded)
            optimizer.zero_grad()
            self.accelerator.backward(loss)
            self.accelerator.clip_grad_norm_(transformer.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
            self._log_loss(step, losses, started)
            if step % self.config.validate_every == 0 or step == self.config.steps:
                self.pipeline.transformer = self.accelerator.unwrap_model(transformer).eval()
                self.validation_grid(self.out / f'validation_{step:06d}.png')
                transformer.train()
            if step % self.config.checkpoint_every == 0 or step == self.config.steps:
                self.pipeline.transformer = self.accelerator.unwrap_model(transformer)
                self._save(step, optimizer)
        self.pipeline.transformer = self.accelerator.unwrap_model(transformer).eval()
        return losses

    def _log_loss(self, step, losses, started):
        if step % self.config.log_every:
            return
        mean = float(np.mean(losses[-self.config.log_every:]))
        with open(self.out / 'loss.jsonl', 'a') as stream:
            stream.write(json.dumps({'step': step, 'loss': mean}) + '\n')
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

    # -- checkpoints: diffusers folders (safetensors) + the optimizer and step

    def _save(self, step, optimizer=None):
        from anyrecon_ros.model.pipelines.generator import save_checkpoint
        folder = self.out / 'checkpoint'
        save_checkpoint(self.pipeline, folder, working_width=self.config.data.width)
        if optimizer is not None:
            torch.save(optimizer.state_dict(), folder / 'optimizer.pt')
        (folder / 'training_state.json').write_text(json.dumps({'step': step}))
        self.log(f'checkpoint at step {step}: {folder}')

    def _resume(self) -> int:
        from anyrecon_ros.model.pipelines.generator import load_checkpoint
        folder = self.out / 'checkpoint'
        state = folder / 'training_state.json'
        if not (self.config.resume and state.is_file()):
            return 0
        self.pipeline = load_checkpoint(folder)
        step = int(json.loads(state.read_text())['step'])
        self.log(f'resuming from step {step} ({folder})')
        return step

    def _load_optimizer(self, optimizer):
        path = self.out / 'checkpoint' / 'optimizer.pt'
        if self.config.resume and path.is_file():
            # weights_only: plain tensors and numbers, nothing executable.
            optimizer.load_state_dict(torch.load(path, weights_only=True))


def decode_check(vae, images: np.ndarray) -> float:
    """Return the PSNR (dB) of the VAE's reconstruction of uint8 images."""
    with torch.no_grad():
        tensor = to_unit_range(images)
        decoded = decode_frames(vae, encode_frames(vae, tensor, 4), 4).clamp(-1, 1)
    mse = F.mse_loss((decoded + 1) * 127.5, (tensor + 1) * 127.5).item()
    return 10 * math.log10(255 ** 2 / max(mse, 1e-12))
