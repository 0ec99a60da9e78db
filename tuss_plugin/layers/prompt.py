# SPDX-License-Identifier: Apache-2.0
"""Learnable prompt vectors of TUSS (the prompt block of the paper's Fig. 1).

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025)
selects what to separate with one learnable vector per source category; the
names, aliases and exclusion rules are :mod:`tuss_plugin.prompts`.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn

from tuss_plugin.prompts import (
    DEFAULT_PROMPTS,
    PromptVocabulary,
)

PromptList = Union[Sequence[str], Sequence[Sequence[str]], torch.Tensor]


class PromptEncoder(nn.Module):
    """Learnable prompt vectors and the SOS token.

    Args:
        emb_dim: vector size C (the band-split embedding size).
        prompts, aliases, exclusive: see :class:`PromptVocabulary`.
        use_sos_token: learn a start-of-sequence token placed between the prompts
            and the frames.
    """

    def __init__(
        self,
        emb_dim: int,
        prompts: Sequence[str] = DEFAULT_PROMPTS,
        aliases: Optional[Mapping[str, str]] = None,
        exclusive: Optional[Mapping[str, Sequence[str]]] = None,
        use_sos_token: bool = True,
    ):
        super().__init__()
        self.vocab = PromptVocabulary(prompts, aliases, exclusive)
        self.prompts = nn.ParameterDict({n: nn.Parameter(torch.randn(emb_dim)) for n in self.vocab.names})
        self.sos_token = nn.Parameter(torch.randn(emb_dim)) if use_sos_token else None

    def to_ids(self, prompts: PromptList, batch_size: int, device=None) -> torch.Tensor:
        """Turn prompts into an id tensor (B, N).

        Args:
            prompts: one list of names for the whole batch, one list per item,
                or an int tensor of ids (B, N) (0 entries are not allowed).
            batch_size: B.
        """
        if isinstance(prompts, torch.Tensor):
            ids = prompts.long()
            if ids.dim() == 1:
                ids = ids.unsqueeze(0).expand(batch_size, -1)
            if ids.shape[0] != batch_size:
                raise ValueError(f"prompt ids for {ids.shape[0]} items, batch has {batch_size}")
            if ids.numel() == 0 or ids.shape[1] == 0:
                raise ValueError("empty prompt list: give at least one prompt")
            if (ids < 1).any() or (ids > len(self.vocab)).any():
                raise ValueError(f"prompt ids must lie in 1..{len(self.vocab)}: {ids.tolist()}")
            for row in ids.tolist():
                self.vocab.validate(self.vocab.decode(row))
            return ids.to(device) if device is not None else ids
        if isinstance(prompts, str) or (len(prompts) > 0 and isinstance(prompts[0], str)):
            rows = [self.vocab.encode(prompts)] * batch_size
        else:
            if len(prompts) != batch_size:
                raise ValueError(f"{len(prompts)} prompt lists for a batch of {batch_size}")
            rows = [self.vocab.encode(p) for p in prompts]
            if len({len(r) for r in rows}) > 1:
                raise ValueError("all items of a batch need the same number of prompts")
        if not rows or not rows[0]:
            raise ValueError("empty prompt list: give at least one prompt")
        return torch.tensor(rows, dtype=torch.long, device=device)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Prompt vectors for ids (B, N) -> (B, N, C)."""
        table = torch.stack([self.prompts[n] for n in self.vocab.names])  # (V, C)
        return table[ids - 1]  # (B, N, C)
