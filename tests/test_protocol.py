# SPDX-License-Identifier: Apache-2.0
"""The training protocol of the paper's Table III runs: learning-rate schedule,
output slots of the conventional models, precision and loss averaging of the
shipped configs."""
from pathlib import Path
from typing import List

import pytest
import torch
from espnet2.tasks.abs_task import scheduler_classes
from espnet2.train.distributed_utils import DistributedOption
from espnet2.train.reporter import Reporter

from conftest import ROOT
from tuss_plugin.tasks.tuss import TUSSTask

PAPER_CONF = ROOT / "egs" / "unified" / "tuss1" / "conf" / "tuning" / "train_tuss_medium.yaml"


class _Tiny(torch.nn.Module):
    """A one-parameter model returning ESPnet's (loss, stats, weight)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor, **kwargs):
        loss = ((self.w * x) ** 2).mean()
        return loss, {"loss": loss.detach()}, torch.tensor(x.shape[0])


def _paper_args(tmp_path: Path, *extra: str):
    """ESPnet's namespace of a shipped paper config (optimiser and scheduler as trained)."""
    return TUSSTask.get_parser().parse_args(
        ["--config", str(PAPER_CONF), "--output_dir", str(tmp_path), *extra]
    )


def _build_optim(args, model: torch.nn.Module):
    """Optimiser and scheduler exactly as ESPnet's task builds them."""
    (optim,) = TUSSTask.build_optimizers(args, model=model)
    scheduler = scheduler_classes[args.scheduler](optim, **args.scheduler_conf)
    return optim, scheduler


def _rates_seen(optim: torch.optim.Optimizer) -> List[float]:
    """Learning rates in effect at each ``optimizer.step()`` (recorded by a pre-hook)."""
    seen: List[float] = []
    optim.register_step_pre_hook(lambda opt, *_: seen.append(float(opt.param_groups[0]["lr"])))
    return seen


# ------------------------------------------------------------------ warm-up


def test_warmup_starts_from_zero(tmp_path):
    """Paper: linear ramp from 0 to the peak over 10k steps; step k runs at k/10k of the peak."""
    args = _paper_args(tmp_path)
    peak, warmup = args.optim_conf["lr"], args.scheduler_conf["warmup_steps"]
    assert (peak, warmup) == (1.0e-3, 10000)
    model = _Tiny()
    optim, scheduler = _build_optim(args, model)
    seen = _rates_seen(optim)
    # the first steps through ESPnet's own training loop (it steps the scheduler
    # after every optimiser update)
    reporter = Reporter()
    reporter.set_epoch(1)
    batches = [([f"u{i}"], {"x": torch.ones(1, 4)}) for i in range(3)]
    with reporter.observe("train") as sub:
        TUSSTask.trainer.train_one_epoch(
            model=model, iterator=batches, optimizers=[optim], schedulers=[scheduler], scaler=None,
            reporter=sub, summary_writer=None, options=TUSSTask.trainer.build_options(args),
            distributed_option=DistributedOption(distributed=False, ngpu=0),
        )
    assert seen == pytest.approx([peak * 1 / warmup, peak * 2 / warmup, peak * 3 / warmup], rel=1e-9)
    # the rest of the ramp in the trainer's order (update, then scheduler step);
    # updates 4 .. 9998 only read the rate they would run at
    while len(seen) < warmup - 2:
        seen.append(float(optim.param_groups[0]["lr"]))
        scheduler.step()
    x = torch.ones(1, 4)
    while len(seen) < warmup + 2:
        optim.zero_grad()
        model(x)[0].backward()
        optim.step()
        scheduler.step()
    assert seen[3] == pytest.approx(peak * 4 / warmup, rel=1e-9)
    assert seen[warmup - 1] == pytest.approx(peak, rel=1e-9)  # step 10k: the peak
    assert seen[warmup] == pytest.approx(peak, rel=1e-9)  # and it stays there
    assert seen[warmup - 2] == pytest.approx(peak * (warmup - 1) / warmup, rel=1e-9)




def test_hold_then_halve_on_plateau_after_warmup(tmp_path):
    """The configs' hold (75 epochs) and halving (patience 5) still apply after the
    new ramp, batch steps after the ramp leave a halved rate alone, and a resumed
    scheduler continues the ramp where it stopped."""
    args = _paper_args(tmp_path)
    peak, warmup = args.optim_conf["lr"], args.scheduler_conf["warmup_steps"]
    conf = args.scheduler_conf
    assert (conf["keep_lr_epochs"], conf["factor"], conf["patience"]) == (75, 0.5, 5)
    optim, scheduler = _build_optim(args, _Tiny())
    lr = lambda: float(optim.param_groups[0]["lr"])  # noqa: E731

    # resume in the middle of the ramp (ESPnet: optimiser state, then scheduler state)
    for _ in range(123):
        scheduler.step()
    optim2, scheduler2 = _build_optim(args, _Tiny())
    optim2.load_state_dict(optim.state_dict())
    scheduler2.load_state_dict(scheduler.state_dict())
    assert float(optim2.param_groups[0]["lr"]) == pytest.approx(peak * 124 / warmup, rel=1e-9)
    scheduler2.step()
    assert float(optim2.param_groups[0]["lr"]) == pytest.approx(peak * 125 / warmup, rel=1e-9)

    for _ in range(warmup - 123):
        scheduler.step()
    assert lr() == pytest.approx(peak, rel=1e-9)
    for epoch in range(1, 76):  # hold: even a worsening loss keeps the peak
        scheduler.step(10.0 + epoch)
        assert lr() == pytest.approx(peak, rel=1e-9), epoch
    scheduler.step(1.0)  # epoch 76: first epoch that counts
    rates = []
    for _ in range(12):  # no improvement: halved after 6 epochs without improvement
        scheduler.step(1.0)
        rates.append(lr())
    assert rates == pytest.approx([peak] * 5 + [peak / 2] * 6 + [peak / 4], rel=1e-9)
    for _ in range(1000):  # batch steps after the ramp keep the reduced rate
        scheduler.step()
    assert lr() == pytest.approx(peak / 4, rel=1e-9)


def test_warmup_steps_must_be_positive():
    optim = torch.optim.AdamW([torch.nn.Parameter(torch.ones(1))], lr=1e-3)
    with pytest.raises(ValueError, match="warmup_steps must be > 0, got 0"):
        scheduler_classes["tusswarmupplateau"](optim, warmup_steps=0)
