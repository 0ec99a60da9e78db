# SPDX-License-Identifier: Apache-2.0
"""Learning-rate schedule of the TUSS paper (Saijo et al., ICASSP 2025, Sec. III).

Linear warm-up to the peak rate, the peak kept for ``keep_lr_epochs`` epochs,
then halved whenever the validation loss has not improved for ``patience``
epochs. ESPnet's ``WarmupReduceLROnPlateau`` does the warm-up and the plateau
part; this subclass adds the hold period. Registered with ESPnet's scheduler
table as ``tusswarmupplateau``.
"""
from __future__ import annotations

from typing import Union

import torch
from espnet2.schedulers.warmup_reducelronplateau import WarmupReduceLROnPlateau


class TUSSWarmupPlateauLR(WarmupReduceLROnPlateau):
    """Linear warm-up, hold, then reduce on plateau.

    Args:
        optimizer: the optimiser (its ``lr`` is the peak rate).
        warmup_steps: optimiser steps of linear warm-up.
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

    def step(self, metrics=None, epoch=None):
        if metrics is not None:
            self.val_epochs += 1
            if self.val_epochs <= self.keep_lr_epochs:
                return
        super().step(metrics, epoch)
