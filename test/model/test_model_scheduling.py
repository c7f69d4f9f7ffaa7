# Copyright 2026 The anyrecon_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The 4-step distilled schedule matches the official sampler; N-step teachers work too."""

import pytest
import torch

from anyrecon_ros.model.pipelines.scheduling import make_scheduler
from anyrecon_ros.model.pipelines.scheduling import set_steps


def test_distilled_steps_are_the_official_timesteps():
    scheduler = make_scheduler()
    set_steps(scheduler, 4)
    assert torch.allclose(scheduler.timesteps, torch.tensor([1000.0, 937.5, 833.3333, 625.0]))
    assert torch.allclose(scheduler.sigmas, torch.tensor([1.0, 0.9375, 0.833333, 0.625, 0.0]))


def test_teacher_steps_run_from_noise_to_data():
    scheduler = make_scheduler()
    set_steps(scheduler, 50)
    assert len(scheduler.timesteps) == 50
    assert scheduler.sigmas[0] == 1.0 and scheduler.sigmas[-1] == 0.0
    assert torch.all(scheduler.sigmas[1:] <= scheduler.sigmas[:-1])
    with pytest.raises(ValueError):
        set_steps(scheduler, 0)
