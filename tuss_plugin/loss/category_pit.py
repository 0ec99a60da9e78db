# SPDX-License-Identifier: Apache-2.0
"""Category-wise permutation-invariant training (PIT).

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025,
Sec. II-B) asks for one output per prompt. Outputs of different prompts are
tied to their prompt's reference, but several prompts of the same category
(e.g. ``speech, speech``) are interchangeable, so the permutation is solved
independently inside each category of each mixture and never across
categories. Without prompts (a conventional separator) all outputs form one
category, which is plain PIT. The search is
:func:`tuss_plugin.loss.permutation.best_assignment` (brute force over the
permutations of a category, the first best wins ties).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from espnet2.enh.loss.criterions.abs_loss import AbsEnhLoss
from espnet2.enh.loss.wrappers.abs_wrapper import AbsLossWrapper

from tuss_plugin.loss.permutation import best_assignment, category_groups

__all__ = ["CategoryPITSolver"]


class CategoryPITSolver(AbsLossWrapper):
    """PIT solved within each prompt category of each mixture.

    Args:
        criterion: an ESPnet criterion returning per-item losses (B,); criteria
            with ``uses_mixture = True`` also receive the mixture (sum of refs).
        weight: weight of this loss in the total loss.
        average: ``category`` (mean over categories of the per-category mean loss,
            as described in the paper) or ``source`` (mean over all outputs, as
            the released training code computes it).
        independent_perm: if False and an earlier wrapper returned ``perm``,
            reuse it instead of searching again.
    """

    def __init__(
        self,
        criterion: AbsEnhLoss,
        weight: float = 1.0,
        average: str = "category",
        independent_perm: bool = True,
    ):
        super().__init__()
        if average not in ("category", "source"):
            raise ValueError(f"average must be 'category' or 'source', got {average!r}")
        self.criterion = criterion
        self.weight = weight
        self.average = average
        self.independent_perm = independent_perm

    def _pair_loss(self, ref, inf, i, j, mix) -> torch.Tensor:
        if getattr(self.criterion, "uses_mixture", False):
            return self.criterion(ref[i], inf[j], mix)
        return self.criterion(ref[i], inf[j])

    @staticmethod
    def _score_table(pair: List[List[Optional[torch.Tensor]]], B: int) -> torch.Tensor:
        """(B, N, N) detached pair losses on the CPU (``pair[i][j]``: (B,) loss of
        output j against reference i), NaN for pairs that share no category."""
        N = len(pair)
        needed = [(i, j) for i in range(N) for j in range(N) if pair[i][j] is not None]
        values = torch.stack([pair[i][j].detach() for i, j in needed]).cpu()  # (n_pairs, B)
        table = torch.full((B, N, N), float("nan"), dtype=values.dtype)  # (B, N, N)
        for k, (i, j) in enumerate(needed):
            table[:, i, j] = values[k]
        return table

    def forward(
        self,
        ref: List[torch.Tensor],
        inf: List[torch.Tensor],
        others: Optional[Dict] = None,
    ) -> Tuple[torch.Tensor, Dict, Dict]:
        """Category-wise PIT loss.

        Args:
            ref: N references, each (B, ...).
            inf: N estimates, each (B, ...), in prompt order.
            others: ``prompts`` (B, N) ids from the separator (absent: one
                category); ``perm`` from an earlier wrapper (optional).

        Returns:
            loss (scalar), stats ``{criterion.name: loss}``, and
            ``{"perm": (B, N)}`` with ``perm[b, i]`` = output index assigned to
            reference i (always an output of reference i's category).
        """
        others = others or {}
        N = len(ref)
        if len(inf) != N:
            raise ValueError(f"{len(inf)} outputs for {N} references")
        B = ref[0].shape[0]
        device = ref[0].device
        prompts = others.get("prompts")
        if prompts is None:
            rows = [[0] * N for _ in range(B)]
        else:
            if prompts.shape != (B, N):
                raise ValueError(f"prompts {tuple(prompts.shape)} do not match (B, N) = ({B}, {N})")
            rows = prompts.tolist()
        mix = torch.stack(ref).sum(0) if getattr(self.criterion, "uses_mixture", False) else None

        # pairwise losses, only for pairs that share a category in some item
        need = [[any(r[i] == r[j] for r in rows) for j in range(N)] for i in range(N)]
        pair = [[self._pair_loss(ref, inf, i, j, mix) if need[i][j] else None for j in range(N)] for i in range(N)]

        given = others.get("perm") if not self.independent_perm else None
        table = self._score_table(pair, B)  # (B, N, N), detached
        item_losses = []
        perm = torch.empty(B, N, dtype=torch.long)
        for b in range(B):
            group_losses = []
            source_losses = []
            for idx in category_groups(rows[b]):
                if given is not None:
                    chosen = [(i, int(given[b, i])) for i in idx]
                else:
                    chosen = best_assignment(table[b], [idx])  # the lowest summed loss of the category
                for i, j in chosen:
                    perm[b, i] = j
                    source_losses.append(pair[i][j][b])
                group_losses.append(sum(pair[i][j][b] for i, j in chosen) / len(idx))
            if self.average == "category":
                item_losses.append(torch.stack(group_losses).mean())
            else:
                item_losses.append(torch.stack(source_losses).mean())
        loss = torch.stack(item_losses).mean()
        stats = {self.criterion.name: loss.detach()}
        return loss, stats, {"perm": perm.to(device)}
