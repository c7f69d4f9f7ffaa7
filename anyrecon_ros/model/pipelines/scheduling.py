# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Flow-matching schedules: the official 4-step distilled sampler and N-step teachers.

The official sampler casts each timestep to bfloat16 before the transformer
sees it (its whole network runs in bfloat16), so the distilled model was
trained and is run at 1000, 936, 832, 624, not 1000, 937.5, 833.3, 625; the
scheduler's own step keeps the exact sigmas. :func:`model_timestep` applies
that rounding where a checkpoint records ``timestep_rounding: bfloat16``.
"""

import functools

from diffusers import FlowMatchEulerDiscreteScheduler
import torch

TRAIN_TIMESTEPS = 1000
SHIFT = 5.0
# Unshifted sigmas of the distilled sampler; with shift 5 they become
# 1, 0.9375, 0.8333, 0.625 (timesteps 1000, 937.5, 833.3, 625), then 0.
DISTILLED_SIGMAS = (1.0, 0.75, 0.5, 0.25)
# What the transformer sees of a timestep: the exact value, or its bfloat16 rounding.
TIMESTEP_ROUNDINGS = ('none', 'bfloat16')


def make_scheduler() -> FlowMatchEulerDiscreteScheduler:
    """Return the flow-matching Euler scheduler AnyRecon samples with (shift 5)."""
    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=TRAIN_TIMESTEPS, shift=SHIFT)


def set_steps(scheduler: FlowMatchEulerDiscreteScheduler, steps: int, device=None) -> None:
    """Set ``steps`` sampling steps: the 4 fixed distilled steps, or N evenly spaced ones."""
    if steps < 1:
        raise ValueError(f'steps must be at least 1, got {steps}')
    if steps == len(DISTILLED_SIGMAS):
        scheduler.set_timesteps(sigmas=list(DISTILLED_SIGMAS), device=device)
    else:
        scheduler.set_timesteps(steps, device=device)


@functools.lru_cache(maxsize=None)
def _sigmas(steps: int) -> tuple:
    scheduler = make_scheduler()
    set_steps(scheduler, steps)
    return tuple(float(sigma) for sigma in scheduler.sigmas)


def schedule_sigmas(steps: int = len(DISTILLED_SIGMAS)) -> torch.Tensor:
    """Return the noise levels a ``steps``-step sampler runs at, then its final 0.

    For the 4 distilled steps: 1, 0.9375, 0.8333, 0.625, 0. The one place
    training (the refinement's start level, the DMD student) reads the
    sampler's schedule from; cached, as training asks every step.
    """
    return torch.tensor(_sigmas(steps))


def model_timestep(timestep: torch.Tensor, rounding: str = 'none') -> torch.Tensor:
    """Return ``timestep`` as the transformer sees it: float32, bfloat16-rounded if asked."""
    if rounding not in TIMESTEP_ROUNDINGS:
        raise ValueError(f'timestep_rounding must be one of {", ".join(TIMESTEP_ROUNDINGS)}, '
                         f'got {rounding!r}')
    timestep = torch.as_tensor(timestep, dtype=torch.float32)
    return timestep.to(torch.bfloat16).float() if rounding == 'bfloat16' else timestep
