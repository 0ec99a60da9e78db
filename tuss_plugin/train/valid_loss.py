# SPDX-License-Identifier: Apache-2.0
"""Validation loss of a conventional (fixed-output) separator, as the TUSS authors compute it.

A conventional model has more outputs than most mixtures have sources; training
pads the references with silence and solves the permutation over all outputs
(the zero-reference terms of the loss push the extra outputs to silence). The
authors' validation keeps that permutation but reports only the real
references' loss terms, averaged per prompt: the mean over the prompt
categories of the mixture of each category's mean (their validation logs one
value per (dataset, prompt) and averages those), so the zero-reference terms do
not move the plateau halving or the choice of the best epochs (Saijo et al.,
"Task-aware Unified Source Separation", ICASSP 2025; the release's validation
step). ``model_conf: {conventional_valid_loss: all_outputs}`` keeps the training
loss (with the zero-reference terms) instead.
"""

from __future__ import annotations

from typing import List, Optional

import torch

from tuss_plugin.loss.permutation import category_groups

VALID_LOSSES = ("real_refs", "all_outputs")


def real_reference_loss(
    criterion,
    refs: List[torch.Tensor],
    ests: List[torch.Tensor],
    perm: torch.Tensor,
    n_real: int,
    prompts: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Mean over the batch of each item's mean over prompt categories of the category's
    mean loss over its real references.

    Args:
        criterion: the training criterion (``criterion(ref, est[, mix])`` -> (B,)); a
            criterion with ``uses_mixture`` gets the sum of the references.
        refs: N references (B, L), the first ``n_real`` real, the rest silence padding.
        ests: N estimates (B, L).
        perm: (B, N), ``perm[b, i]`` the output assigned to reference i (the training
            loss's permutation).
        n_real: the number of real references.
        prompts: (B, n_real) prompt ids of the real references, or None (one category).
    """
    mix = torch.stack(refs).sum(0)  # (B, L)
    item_losses = []
    for b in range(perm.shape[0]):
        cats = prompts[b, :n_real].tolist() if prompts is not None else [0] * n_real
        per_ref = []
        for i in range(n_real):
            ref, est = refs[i][b : b + 1], ests[int(perm[b, i])][b : b + 1]  # (1, L) each
            if getattr(criterion, "uses_mixture", False):
                per_ref.append(criterion(ref, est, mix[b : b + 1])[0])
            else:
                per_ref.append(criterion(ref, est)[0])
        means = [torch.stack([per_ref[i] for i in idx]).mean() for idx in category_groups(cats)]
        item_losses.append(torch.stack(means).mean())
    return torch.stack(item_losses).mean()
