# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Distribution matching distillation into the 4-step student (``anyrecon distill``).

Three copies of the transformer: the trained teacher (frozen; the real
score), a fake-score network trained on the student's samples, and the
student, which samples with the 4 fixed timesteps of the official sampler
(flow matching, shift 5). One step:

1. The student denoises from pure noise along the fixed timesteps, without
   gradient, up to a randomly chosen one of them, and predicts the clean
   latents from there, with gradient (backward simulation, so it trains on
   the inputs it will meet when sampling).
2. Its prediction is noised again at a random level; the teacher and the
   fake network each predict the clean latents. Their difference, scaled by
   the distance to the teacher's prediction, is the distribution-matching
   gradient; the student regresses onto its own prediction minus that
   gradient, held fixed (the pseudo-regression objective with stop-gradient).
3. The fake network learns flow matching on the student's (detached)
   samples, before each student update.
"""

import copy
from dataclasses import dataclass
from dataclasses import replace
import json
from pathlib import Path
import time

import numpy as np
import torch
import torch.nn.functional as F

from anyrecon_ros.model.models.transformer import pack_conditioning
from anyrecon_ros.model.pipelines.scheduling import DISTILLED_SIGMAS
from anyrecon_ros.model.pipelines.scheduling import schedule_sigmas
from anyrecon_ros.model.training.data import DataConfig
from anyrecon_ros.model.training.data import encode_sample
from anyrecon_ros.model.training.data import EncodedSample
from anyrecon_ros.model.training.data import SampleMaker
from anyrecon_ros.model.training.flow_matching import flow_matching_loss
from anyrecon_ros.model.training.flow_matching import shifted_sigma


def student_sigmas() -> torch.Tensor:
    """Return the student's noise levels: the official 4 (1, 0.9375, 0.8333, 0.625), then 0."""
    return schedule_sigmas(len(DISTILLED_SIGMAS))


def predict_clean(model, latents, sigma, encoded: EncodedSample) -> torch.Tensor:
    """Return the clean latents a flow model implies at noise level ``sigma``: x - sigma * v."""
    velocity = model(hidden_states=pack_conditioning(latents, encoded.mask, encoded.condition),
                     timestep=sigma.reshape(1) * 1000, return_dict=False)[0]
    return latents - sigma * velocity


@dataclass
class DistillConfig:
    """``anyrecon distill`` settings."""

    out: str = 'out/distill'
    steps: int = 500
    learning_rate: float = 1e-4
    fake_learning_rate: float = 1e-4
    fake_steps_per_student_step: int = 1
    seed: int = 2000
    log_every: int = 25


class Distiller:
    """One teacher, one fake-score network, one student; see the module docstring."""

    def __init__(self, pipeline, config: DistillConfig = DistillConfig(), maker=None,
                 log=print, working_width: int = None, data: DataConfig = None):
        """Distil ``pipeline``'s transformer; clips as ``data`` says (procedural by default).

        The samples' condition renders are filled as the teacher's pipeline
        fills them (its ``condition_fill``), whatever ``data`` says.
        """
        self.config = config
        self.working_width = working_width
        self.pipeline = pipeline
        self.teacher = pipeline.transformer.eval().requires_grad_(False)
        self.student = copy.deepcopy(self.teacher).train().requires_grad_(True)
        self.fake = copy.deepcopy(self.teacher).train().requires_grad_(True)
        self.student_optimizer = torch.optim.AdamW(self.student.parameters(),
                                                   lr=config.learning_rate, weight_decay=0.0)
        self.fake_optimizer = torch.optim.AdamW(self.fake.parameters(),
                                                lr=config.fake_learning_rate, weight_decay=0.0)
        width = working_width or DataConfig.width
        self.condition_fill = pipeline.config.get('condition_fill', 'none')
        self.maker = maker or SampleMaker(replace(
            data or DataConfig(), width=width, height=round(width * 3 / 4 / 16) * 16,
            condition_fill=self.condition_fill))
        self.rng = np.random.default_rng(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.sigmas = student_sigmas()
        self.log = log

    def student_sample(self, encoded: EncodedSample, stop: int) -> torch.Tensor:
        """Run the student's sampler from noise to step ``stop``; predict clean latents there."""
        latents = torch.randn(encoded.clean.shape, generator=self.generator)
        with torch.no_grad():
            for index in range(stop):
                clean = predict_clean(self.student, latents, self.sigmas[index], encoded)
                # Flow matching: re-noise the prediction at the next level.
                noise = (latents - (1 - self.sigmas[index]) * clean) / self.sigmas[index]
                latents = (1 - self.sigmas[index + 1]) * clean + self.sigmas[index + 1] * noise
        return predict_clean(self.student, latents, self.sigmas[stop], encoded)

    def distribution_matching_loss(self, clean: torch.Tensor, encoded: EncodedSample):
        """Return the pseudo-regression loss of the student's ``clean`` prediction."""
        sigma = shifted_sigma(torch.rand(1, generator=self.generator).clamp(0.02, 0.98))
        noise = torch.randn(clean.shape, generator=self.generator)
        noisy = (1 - sigma) * clean.detach() + sigma * noise
        with torch.no_grad():
            real = predict_clean(self.teacher, noisy, sigma, encoded)
            fake = predict_clean(self.fake, noisy, sigma, encoded)
            # Normalised so the step size does not depend on how far off the sample is.
            scale = (clean.detach() - real).abs().mean().clamp_min(1e-6)
            gradient = (fake - real) / scale
            target = (clean - gradient).detach()
        return 0.5 * F.mse_loss(clean, target)

    def step(self, encoded: EncodedSample) -> dict:
        """Update the fake network on the student's samples, then the student; return losses.

        The fake network goes first (and ``fake_steps_per_student_step`` times,
        as DMD2's two time-scale update): it starts as a copy of the teacher,
        so until it has seen the student's samples there is nothing to match.
        """
        stop = int(self.rng.integers(0, len(self.sigmas) - 1))
        fake_losses = []
        for _ in range(self.config.fake_steps_per_student_step):
            with torch.no_grad():
                samples = self.student_sample(encoded, stop)
            on_student = EncodedSample(clean=samples, condition=encoded.condition,
                                       mask=encoded.mask)
            fake_loss = flow_matching_loss(self.fake, on_student, self.generator)
            self.fake_optimizer.zero_grad()
            fake_loss.backward()
            torch.nn.utils.clip_grad_norm_(self.fake.parameters(), 1.0)
            self.fake_optimizer.step()
            fake_losses.append(fake_loss.item())
        clean = self.student_sample(encoded, stop)
        loss = self.distribution_matching_loss(clean, encoded)
        self.student_optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.student.parameters(), 1.0)
        self.student_optimizer.step()
        return {'dmd': loss.item(), 'fake': float(np.mean(fake_losses))}

    def run(self) -> list:
        """Distill for ``config.steps`` steps; write the student checkpoint; return the log."""
        out = Path(self.config.out)
        out.mkdir(parents=True, exist_ok=True)
        history, started = [], time.monotonic()
        for step in range(1, self.config.steps + 1):
            encoded = encode_sample(self.pipeline.vae, self.maker.sample(self.rng))
            history.append(self.step(encoded))
            if step % self.config.log_every == 0 or step == self.config.steps:
                recent = history[-self.config.log_every:]
                line = {'step': step, 'dmd': float(np.mean([h['dmd'] for h in recent])),
                        'fake': float(np.mean([h['fake'] for h in recent]))}
                with open(out / 'loss.jsonl', 'a') as stream:
                    stream.write(json.dumps(line) + '\n')
                self.log(f'distill step {step}/{self.config.steps}: dmd {line["dmd"]:.4f} '
                         f'fake {line["fake"]:.4f} '
                         f'({(time.monotonic() - started) / step:.2f} s/step)')
        self.save(out / 'checkpoint')
        return history

    def save(self, folder) -> Path:
        """Write the student as a generator checkpoint (the teacher's VAE and scheduler)."""
        from anyrecon_ros.model.pipelines.generator import save_checkpoint
        from anyrecon_ros.model.pipelines.pipeline import AnyReconPipeline
        student = AnyReconPipeline(transformer=self.student.eval(), vae=self.pipeline.vae,
                                   scheduler=self.pipeline.scheduler,
                                   condition_fill=self.condition_fill)
        return save_checkpoint(student, folder, self.working_width)
