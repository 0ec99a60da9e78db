# SPDX-License-Identifier: Apache-2.0
"""Random prompt lists for on-the-fly training mixtures.

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025,
Sec. II-C and Table II) trains on mixtures simulated at every step. The
number of prompts N is drawn once per mini-batch; each mixture's prompt list
is then a Markov chain: the first prompt comes from ``init_prob``, every next
one from the previous prompt's ``next`` row. A candidate is drawn again when
it already appears ``num_appear`` times or when any prompt already chosen has
a zero ``next`` weight towards it; after ``max_redraws`` failed draws the
chain starts over. The default tables are the ones of the authors' unified
training configurations (see ``DEFAULT_PROMPT_TABLE``).

On top of the tables, pairs that make the task ill-posed are never produced:
``sfxbg`` with ``sfx`` and ``musicbg`` with a single instrument stem
(:data:`tuss_plugin.prompts.DEFAULT_EXCLUSIVE`, or the rules of the model's
vocabulary), nor pairs a table entry lists under ``exclusive``.
"""

from __future__ import annotations

import copy
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from tuss_plugin.prompts import DEFAULT_EXCLUSIVE, DEFAULT_PROMPTS

_STEMS = ("bass", "drums", "vocals", "other")
_NEXT_ORDER = ("speech", "sfx", "sfxbg", "bass", "drums", "vocals", "other", "musicbg")
_NEXT_ROWS = {  # row = previous prompt, columns in _NEXT_ORDER
    "speech": (0.4, 0.1, 0.2, 0.025, 0.025, 0.025, 0.025, 0.2),
    "sfx": (0.2, 0.5, 0.0, 0.025, 0.025, 0.025, 0.025, 0.2),
    "sfxbg": (0.5, 0.0, 0.0, 0.025, 0.025, 0.025, 0.025, 0.4),
    "bass": (0.0333, 0.0333, 0.0333, 0.0, 0.30, 0.30, 0.30, 0.0),
    "drums": (0.0333, 0.0333, 0.0333, 0.30, 0.0, 0.30, 0.30, 0.0),
    "vocals": (0.0333, 0.0333, 0.0333, 0.30, 0.30, 0.0, 0.30, 0.0),
    "other": (0.0333, 0.0333, 0.0333, 0.30, 0.30, 0.30, 0.0, 0.0),
    "musicbg": (0.33, 0.33, 0.33, 0.0, 0.0, 0.0, 0.0, 0.0),
}
_DYN_MIX_K = {1: 0.1, 2: 0.4, 3: 0.4, 4: 0.1}

#: Per-prompt settings of the authors' unified configurations (paper Table II):
#: ``init_prob`` (first prompt), ``next`` (transition weights), ``num_appear``
#: (maximum count in one mixture), ``gain`` (dB range after RMS normalisation),
#: ``dynamic_mixing_prob`` (mix categories only: probability of building the
#: background from single sources) and ``num_sources_weights`` (how many).
DEFAULT_PROMPT_TABLE: Dict[str, Dict] = {
    p: {
        "init_prob": {"speech": 0.2, "sfx": 0.2, "sfxbg": 0.2, "musicbg": 0.2}.get(p, 0.05),
        "next": dict(zip(_NEXT_ORDER, _NEXT_ROWS[p])),
        "num_appear": 100 if p in ("speech", "sfx") else 1,
        "gain": [-20.0, 0.0] if p in ("sfx", "sfxbg", "musicbg") else [-10.0, 0.0],
        **({"dynamic_mixing_prob": 0.25, "num_sources_weights": dict(_DYN_MIX_K)} if p in ("sfxbg", "musicbg") else {}),
    }
    for p in DEFAULT_PROMPTS
}

#: N (prompts per mixture) -> weight; drawn once per mini-batch.
DEFAULT_NUM_PROMPTS_WEIGHTS: Dict[int, float] = {2: 1 / 3, 3: 1 / 3, 4: 1 / 3}


def default_prompt_table() -> Dict[str, Dict]:
    """A deep copy of :data:`DEFAULT_PROMPT_TABLE`."""
    return copy.deepcopy(DEFAULT_PROMPT_TABLE)


def _normalise(weights: Sequence[float], what: str) -> np.ndarray:
    w = np.asarray([float(x) for x in weights], dtype=np.float64)
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError(f"{what}: weights must be finite and >= 0, got {list(weights)}")
    if w.sum() <= 0:
        raise ValueError(f"{what}: weights sum to zero")
    return w / w.sum()


class PromptSampler:
    """Draws the number of prompts per batch and the prompt list per mixture.

    Args:
        prompts: prompt -> settings; only ``init_prob``, ``next`` (prompt ->
            weight; missing entries are 0) and ``num_appear`` (default: no
            limit) and ``exclusive`` (prompts never drawn with it) are read
            here. ``None`` = :data:`DEFAULT_PROMPT_TABLE`. Categories beyond the
            paper's eight are welcome (e.g. a prompt added to a trained model).
            A prompt with ``init_prob`` 0 and zero weight in every ``next`` row
            is never drawn (it may still be listed for its gain, e.g. ``sfx``
            when only ``sfxbg`` is built from sound events).
        num_prompts_weights: N -> weight (default: 2, 3, 4 equally likely).
        exclusive: prompt -> prompts that may never be drawn together with it
            (symmetric; default ``sfxbg``/``sfx`` and ``musicbg``/stems).
        max_redraws: failed draws of one position before the chain restarts (100).
        max_restarts: chain restarts before giving up with an error (1000).
    """

    def __init__(
        self,
        prompts: Optional[Mapping[str, Mapping]] = None,
        num_prompts_weights: Optional[Mapping[int, float]] = None,
        exclusive: Optional[Mapping[str, Sequence[str]]] = None,
        max_redraws: int = 100,
        max_restarts: int = 1000,
    ):
        table = DEFAULT_PROMPT_TABLE if prompts is None else prompts
        if not table:
            raise ValueError("the prompt table is empty")
        self.names: List[str] = [str(p) for p in table]
        self.index = {p: i for i, p in enumerate(self.names)}
        n = len(self.names)
        init = [float(table[p].get("init_prob", 0.0)) for p in self.names]
        self.init_prob = _normalise(init, "init_prob")
        self.next = np.zeros((n, n))  # (previous, candidate)
        for i, p in enumerate(self.names):
            row = dict(table[p].get("next") or {})
            unknown = sorted(set(row) - set(self.names))
            if unknown:
                raise ValueError(f"prompt {p}: 'next' names unknown prompts {unknown}")
            for q, w in row.items():
                self.next[i, self.index[q]] = float(w)
            if (self.next[i] < 0).any():
                raise ValueError(f"prompt {p}: negative 'next' weight")
        self.num_appear = np.array([int(table[p].get("num_appear", 10**6)) for p in self.names], dtype=np.int64)
        excl = {a: list(bs) for a, bs in (DEFAULT_EXCLUSIVE if exclusive is None else exclusive).items()}
        for p in self.names:
            bs = table[p].get("exclusive") or []
            unknown = sorted(set(bs) - set(self.names))
            if unknown:
                raise ValueError(f"prompt {p}: 'exclusive' names unknown prompts {unknown}")
            excl.setdefault(p, []).extend(bs)
        self.exclusive = np.zeros((n, n), dtype=bool)
        for a, bs in excl.items():
            for b in bs:
                if a in self.index and b in self.index:
                    self.exclusive[self.index[a], self.index[b]] = True
                    self.exclusive[self.index[b], self.index[a]] = True
        weights = DEFAULT_NUM_PROMPTS_WEIGHTS if num_prompts_weights is None else num_prompts_weights
        self.num_choices = np.array([int(k) for k in weights], dtype=np.int64)
        if (self.num_choices < 1).any():
            raise ValueError(f"num_prompts_weights: N must be >= 1, got {sorted(weights)}")
        self.num_probs = _normalise(list(weights.values()), "num_prompts_weights")
        self.max_redraws = int(max_redraws)
        self.max_restarts = int(max_restarts)

    def sample_num_prompts(self, rng: np.random.Generator) -> int:
        """N for one mini-batch."""
        return int(rng.choice(self.num_choices, p=self.num_probs))

    def _chain(self, n: int, rng: np.random.Generator) -> Optional[List[int]]:
        chosen = [int(rng.choice(len(self.names), p=self.init_prob))]
        counts = np.zeros(len(self.names), dtype=np.int64)
        counts[chosen[0]] += 1
        while len(chosen) < n:
            row = self.next[chosen[-1]]
            if row.sum() <= 0:
                return None
            p = row / row.sum()
            # blocked: a chosen prompt has a zero transition towards it, or it
            # may not be combined with a chosen prompt
            blocked = (self.next[chosen] == 0).any(axis=0) | self.exclusive[chosen].any(axis=0)
            for _ in range(self.max_redraws):
                c = int(rng.choice(len(self.names), p=p))
                if counts[c] < self.num_appear[c] and not blocked[c]:
                    break
            else:
                return None
            chosen.append(c)
            counts[c] += 1
        return chosen

    def sample(self, n: int, rng: np.random.Generator) -> List[str]:
        """A prompt list of length ``n`` for one mixture."""
        for _ in range(self.max_restarts):
            chain = self._chain(n, rng)
            if chain is not None:
                return [self.names[i] for i in chain]
        raise ValueError(
            f"no valid list of {n} prompts found in {self.max_restarts} attempts: check "
            "init_prob, next and num_appear of the prompt table"
        )


__all__ = [
    "DEFAULT_NUM_PROMPTS_WEIGHTS",
    "DEFAULT_PROMPT_TABLE",
    "PromptSampler",
    "default_prompt_table",
]
