# SPDX-License-Identifier: Apache-2.0
"""Prompt vocabulary and learnable prompt vectors of TUSS.

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025)
selects what to separate with one learnable vector per source category. The
vocabulary also decides which prompt lists make sense: an SFX mix (``sfxbg``)
already contains every sound effect, so it cannot be asked for together with
``sfx``; a music mix (``musicbg``) cannot be combined with single instruments.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch
import torch.nn as nn

DEFAULT_PROMPTS = ("speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg")

# the paper's names for the mix categories and the "other" stem
DEFAULT_ALIASES: Dict[str, str] = {
    "sfx-mix": "sfxbg",
    "sfx_mix": "sfxbg",
    "sfxmix": "sfxbg",
    "music-mix": "musicbg",
    "music_mix": "musicbg",
    "musicmix": "musicbg",
    "other inst.": "other",
    "other inst": "other",
    "other-inst": "other",
    "other_inst": "other",
}

# a prompt (key) that may not appear together with any of the listed prompts
DEFAULT_EXCLUSIVE: Dict[str, List[str]] = {
    "sfxbg": ["sfx"],
    "musicbg": ["drums", "bass", "vocals", "other"],
}

PromptList = Union[Sequence[str], Sequence[Sequence[str]], torch.Tensor]


class PromptVocabulary:
    """Names, ids and validity rules of prompts.

    Ids are 1-based positions in ``prompts`` (0 is the padding id of ESPnet's
    collate function). Names are matched after stripping and lower-casing,
    and aliases map onto canonical names.

    Args:
        prompts: canonical prompt names in id order (the release's order by default;
            new names may be appended, e.g. ``[..., "musicbg", "birds"]``).
        aliases: extra alias -> canonical name pairs (added to the paper's aliases
            ``sfx-mix``, ``music-mix`` and ``other inst.``).
        exclusive: prompt -> prompts it may not be combined with (symmetric);
            ``None`` gives ``sfxbg``/``sfx`` and ``musicbg``/instrument stems.
    """

    def __init__(
        self,
        prompts: Sequence[str] = DEFAULT_PROMPTS,
        aliases: Optional[Mapping[str, str]] = None,
        exclusive: Optional[Mapping[str, Sequence[str]]] = None,
    ):
        names = [str(p).strip().lower() for p in prompts]
        if not names:
            raise ValueError("the prompt vocabulary is empty")
        if len(set(names)) != len(names):
            raise ValueError(f"the prompt vocabulary has duplicate names: {list(prompts)}")
        for n in names:
            if not n or "." in n or " " in n:
                raise ValueError(f"invalid prompt name {n!r} (no dots or spaces allowed)")
        self.names: List[str] = names
        self._ids = {n: i + 1 for i, n in enumerate(names)}
        self.aliases: Dict[str, str] = {
            k: v for k, v in DEFAULT_ALIASES.items() if v in self._ids
        }
        for k, v in (aliases or {}).items():
            v = str(v).strip().lower()
            if v not in self._ids:
                raise ValueError(f"alias {k!r} points to unknown prompt {v!r}")
            self.aliases[str(k).strip().lower()] = v
        excl = DEFAULT_EXCLUSIVE if exclusive is None else exclusive
        self.exclusive: Dict[str, set] = {}
        for a, others in excl.items():
            for b in others:
                if a in self._ids and b in self._ids:
                    self.exclusive.setdefault(a, set()).add(b)
                    self.exclusive.setdefault(b, set()).add(a)

    def __len__(self) -> int:
        return len(self.names)

    def canonical(self, name: str) -> str:
        """Canonical name of a prompt or alias; ``ValueError`` if unknown."""
        key = str(name).strip().lower()
        key = self.aliases.get(key, key)
        if key not in self._ids:
            raise ValueError(
                f"unknown prompt {name!r}; valid prompts: {', '.join(self.names)}"
                + (f" (aliases: {', '.join(sorted(self.aliases))})" if self.aliases else "")
            )
        return key

    def validate(self, prompts: Sequence[str]) -> List[str]:
        """Check a prompt list and return its canonical names.

        Raises:
            ValueError: empty list, unknown name, or a forbidden combination.
        """
        if isinstance(prompts, str):
            prompts = prompts.split()
        names = [self.canonical(p) for p in prompts]
        if not names:
            raise ValueError("empty prompt list: give at least one prompt")
        present = set(names)
        for a in names:
            clash = sorted(present & self.exclusive.get(a, set()))
            if clash:
                raise ValueError(
                    f"prompt {a!r} cannot be combined with {', '.join(map(repr, clash))} "
                    f"in one prompt list {names}"
                )
        return names

    def encode(self, prompts: Sequence[str]) -> List[int]:
        """Validated prompt names -> 1-based ids."""
        return [self._ids[n] for n in self.validate(prompts)]

    def decode(self, ids: Sequence[int]) -> List[str]:
        """1-based ids -> names."""
        out = []
        for i in ids:
            i = int(i)
            if not 1 <= i <= len(self.names):
                raise ValueError(f"prompt id {i} outside 1..{len(self.names)}")
            out.append(self.names[i - 1])
        return out


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
        self.prompts = nn.ParameterDict(
            {n: nn.Parameter(torch.randn(emb_dim)) for n in self.vocab.names}
        )
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
