# SPDX-License-Identifier: Apache-2.0
"""Learning-rate schedule of the TUSS paper (Saijo et al., ICASSP 2025, Sec. III).

Linear warm-up from 0 to the peak rate, the peak kept for ``keep_lr_epochs``
epochs, then halved whenever the validation loss has not improved for
``patience`` epochs. ESPnet's ``WarmupReduceLROnPlateau`` does the plateau
part; this subclass adds the hold period and starts the ramp at the first
update: ESPnet's trainer calls ``step()`` after every optimiser update, and
ESPnet's class leaves the first update at the full rate, so here the rate of
update k (1-based) is set before it runs: ``peak * min(1, k / warmup_steps)``
(update 1 at ``peak / warmup_steps``, update ``warmup_steps`` at the peak).
Registered with ESPnet's scheduler table as ``tusswarmupplateau``.

For short budgets (the embedded mini recipe trains 8 epochs on a CPU) the
plateau rule never lowers the rate; :class:`TUSSWarmupCosineLR`
(``tusswarmupcosine``) keeps the same warm-up and then decays the rate along a
cosine to ``min_lr`` at a given update, and holds it there (unlike ESPnet's
``CosineAnnealingWarmupRestarts``, which warms up again after its cycle).
"""

from __future__ import annotations

import math
from typing import List, Union

import torch
from espnet2.schedulers.abs_scheduler import AbsBatchStepScheduler
from espnet2.schedulers.warmup_reducelronplateau import WarmupReduceLROnPlateau
from torch.optim.lr_scheduler import LRScheduler


class TUSSWarmupPlateauLR(WarmupReduceLROnPlateau):
    """Linear warm-up, hold, then reduce on plateau.

    Args:
        optimizer: the optimiser (its ``lr`` is the peak rate).
        warmup_steps: optimiser updates of linear warm-up from 0 (> 0); update
            k runs at ``lr * min(1, k / warmup_steps)``.
        keep_lr_epochs: epochs whose validation loss does not change the rate.
        factor: multiplier applied on a plateau.
        patience: epochs without improvement before reducing.
        mode, threshold, threshold_mode, cooldown, min_lr, eps: as in
            ``torch.optim.lr_scheduler.ReduceLROnPlateau``.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_steps: Union[int, float] = 10000,
        keep_lr_epochs: int = 75,
        factor: float = 0.5,
        patience: int = 5,
        mode: str = "min",
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        if not warmup_steps > 0:
            raise ValueError(f"warmup_steps must be > 0, got {warmup_steps}")
        super().__init__(
            optimizer,
            warmup_steps=warmup_steps,
            mode=mode,
            factor=factor,
            patience=patience,
            threshold=threshold,
            threshold_mode=threshold_mode,
            cooldown=cooldown,
            min_lr=min_lr,
            eps=eps,
        )
        self.keep_lr_epochs = keep_lr_epochs
        self.val_epochs = 0
        self._set_warmup_lr()  # the rate of update 1

    def _set_warmup_lr(self) -> None:
        """Set the rate of the next update (``step_num + 1``) while warming up."""
        k = self.step_num + 1
        if k <= self.warmup_steps:
            for group, peak in zip(self.optimizer.param_groups, self.base_lrs):
                group["lr"] = peak * k / self.warmup_steps

    def step(self, metrics=None, epoch=None):
        """After an optimiser update (``metrics`` None): set the next update's
        rate; after validation: the hold period, then reduce on plateau."""
        if metrics is None:
            self.step_num += 1
            self._set_warmup_lr()
            return
        self.val_epochs += 1
        if self.val_epochs <= self.keep_lr_epochs:
            return
        super().step(metrics, epoch)


class TUSSWarmupCosineLR(LRScheduler, AbsBatchStepScheduler):
    """Linear warm-up, a cosine decay to ``min_lr``, then ``min_lr``.

    ESPnet's trainer calls ``step()`` after every optimiser update; update k
    (1-based) runs at ``peak * k / warmup_steps`` for ``k <= warmup_steps``
    (the ramp of :class:`TUSSWarmupPlateauLR`), then at
    ``min_lr + (peak - min_lr) * (1 + cos(pi * p)) / 2`` with
    ``p = (k - warmup_steps) / (total_steps - warmup_steps)``, and at ``min_lr``
    from update ``total_steps`` on (a run longer than planned is not warmed
    up again).

    Args:
        optimizer: the optimiser (its ``lr`` is the peak rate).
        warmup_steps: optimiser updates of linear warm-up from 0 (> 0).
        total_steps: the update that reaches ``min_lr`` (> ``warmup_steps``):
            ``max_epoch`` times the updates of an epoch.
        min_lr: the final rate (>= 0, at most the peak).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        warmup_steps: int = 50,
        total_steps: int = 1000,
        min_lr: float = 0.0,
        last_epoch: int = -1,
    ):
        if not warmup_steps > 0:
            raise ValueError(f"warmup_steps must be > 0, got {warmup_steps}")
        if not total_steps > warmup_steps:
            raise ValueError(f"total_steps must be > warmup_steps ({warmup_steps}), got {total_steps}")
        peaks = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        if not 0 <= min_lr <= min(peaks):
            raise ValueError(f"min_lr must be in [0, the peak rate {min(peaks)}], got {min_lr}")
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_lr = float(min_lr)
        super().__init__(optimizer, last_epoch)

    def rate(self, k: int, peak: float) -> float:
        """The rate of update ``k`` (1-based) for the peak ``peak``."""
        if k <= self.warmup_steps:
            return peak * k / self.warmup_steps
        p = min(1.0, (k - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr + (peak - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))

    def get_lr(self) -> List[float]:
        """The rates of the next update (``last_epoch`` updates are done)."""
        return [self.rate(self.last_epoch + 1, peak) for peak in self.base_lrs]
