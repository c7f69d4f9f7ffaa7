# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Flow-matching schedules: the official 4-step distilled sampler and N-step teachers."""

from diffusers import FlowMatchEulerDiscreteScheduler

TRAIN_TIMESTEPS = 1000
SHIFT = 5.0
# Unshifted sigmas of the distilled sampler; with shift 5 they become
# 1, 0.9375, 0.8333, 0.625 (timesteps 1000, 937.5, 833.3, 625), then 0.
DISTILLED_SIGMAS = (1.0, 0.75, 0.5, 0.25)


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
