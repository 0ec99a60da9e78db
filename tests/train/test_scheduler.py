# SPDX-License-Identifier: Apache-2.0
"""The warm-up + cosine schedule for short budgets (``tusswarmupcosine``)."""

import math

import pytest
import torch
from espnet2.schedulers.abs_scheduler import AbsBatchStepScheduler
from espnet2.tasks.abs_task import scheduler_classes

from tuss_plugin.registry import register

register()  # the plugin's schedules in ESPnet's table, as importing the enhancement task does


def _optim(lr=1.0):
    return torch.optim.AdamW([torch.nn.Parameter(torch.ones(1))], lr=lr)


def _rates(scheduler, optim, n):
    """The rate of each of the next ``n`` updates, stepped as ESPnet's trainer does."""
    out = []
    for _ in range(n):
        out.append(optim.param_groups[0]["lr"])
        optim.step()
        scheduler.step()
    return out


def test_warmup_cosine_then_the_final_rate_without_a_restart():
    optim = _optim(1.0)
    scheduler = scheduler_classes["tusswarmupcosine"](optim, warmup_steps=2, total_steps=6, min_lr=0.1)
    assert isinstance(scheduler, AbsBatchStepScheduler)  # ESPnet steps it after every update
    cos = [0.1 + 0.45 * (1 + math.cos(math.pi * p)) for p in (0.25, 0.5, 0.75)]
    # updates 1..2 ramp up, 3..5 decay, 6 reaches min_lr, later ones stay there
    assert _rates(scheduler, optim, 10) == pytest.approx([0.5, 1.0, *cos, 0.1, 0.1, 0.1, 0.1, 0.1], rel=1e-12)


def test_resumed_schedule_continues_where_it_stopped():
    """ESPnet's resume: a new optimiser and schedule, then both state dicts."""
    optim = _optim(2e-3)
    scheduler = scheduler_classes["tusswarmupcosine"](optim, warmup_steps=5, total_steps=40, min_lr=1e-4)
    _rates(scheduler, optim, 17)
    states = optim.state_dict(), scheduler.state_dict()
    rest = _rates(scheduler, optim, 30)
    optim2 = _optim(2e-3)
    scheduler2 = scheduler_classes["tusswarmupcosine"](optim2, warmup_steps=5, total_steps=40, min_lr=1e-4)
    optim2.load_state_dict(states[0])
    scheduler2.load_state_dict(states[1])
    assert _rates(scheduler2, optim2, 30) == pytest.approx(rest, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"warmup_steps": 0}, "warmup_steps must be > 0, got 0"),
        ({"warmup_steps": 10, "total_steps": 10}, r"total_steps must be > warmup_steps \(10\), got 10"),
        ({"min_lr": 2.0}, r"min_lr must be in \[0, the peak rate 1.0\], got 2.0"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scheduler_classes["tusswarmupcosine"](_optim(1.0), **kwargs)
