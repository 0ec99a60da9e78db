# SPDX-License-Identifier: Apache-2.0
"""The prompt vocabulary of TUSS: names, aliases, exclusion rules, validation.

TUSS (Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025)
selects what to separate with one learnable vector per source category
(:class:`tuss_plugin.layers.prompt.PromptEncoder`). The vocabulary also decides
which prompt lists make sense: an SFX mix (``sfxbg``) already contains every
sound effect, so it cannot be asked for together with ``sfx``; a music mix
(``musicbg``) cannot be combined with single instruments.

This module needs only the standard library, so data preparation, list
checks (``utils/validate_data_dir.py``) and pools use the same rules as the
model without importing torch or ESPnet. A trained model's vocabulary can grow
(:mod:`tuss_plugin.bin.add_prompts`): new names are appended, so old ids keep
their meaning.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Sequence

DEFAULT_PROMPTS = ("speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg")

#: the four stems of MUSDB18(-HQ), in the order of the vocabulary (and of the
#: references of the MSS sets)
MUSIC_STEMS = ("drums", "bass", "vocals", "other")

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
    "musicbg": list(MUSIC_STEMS),
}

#: a canonical prompt name: lower-case letters, digits, ``_``, ``+``, ``-``
#: (names become parts of file names and of ``NAME=INIT`` / ``NAME:OTHER``
#: command-line values, so no dots, spaces, ``/``, ``=``, ``:`` or ``,``)
_NAME = re.compile(r"[a-z0-9][a-z0-9_+-]*")


def check_prompt_name(name: str, where: str = "") -> str:
    """The canonical form (stripped, lower-case) of a new prompt name.

    Raises:
        ValueError: (prefixed with ``where``) for an empty name or one with
            characters outside ``a-z 0-9 _ + -``.
    """
    key = str(name).strip().lower()
    if not _NAME.fullmatch(key):
        raise ValueError(
            f"{where + ': ' if where else ''}invalid prompt name {str(name)!r} "
            "(use lower-case letters, digits, '_', '+' or '-')"
        )
    return key


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
        names = [check_prompt_name(p) for p in prompts]
        if not names:
            raise ValueError("the prompt vocabulary is empty")
        if len(set(names)) != len(names):
            raise ValueError(f"the prompt vocabulary has duplicate names: {list(prompts)}")
        self.names: List[str] = names
        self._ids = {n: i + 1 for i, n in enumerate(names)}
        self.aliases: Dict[str, str] = {k: v for k, v in DEFAULT_ALIASES.items() if v in self._ids}
        for k, v in (aliases or {}).items():
            v = str(v).strip().lower()
            if v not in self._ids:
                raise ValueError(f"alias {k!r} points to unknown prompt {v!r}")
            k = str(k).strip().lower()
            if k in self._ids:
                raise ValueError(f"alias {k!r} is already a prompt name")
            self.aliases[k] = v
        excl = DEFAULT_EXCLUSIVE if exclusive is None else exclusive
        self.exclusive: Dict[str, set] = {}
        for a, others in excl.items():
            for b in others:
                if a in self._ids and b in self._ids:
                    self.exclusive.setdefault(a, set()).add(b)
                    self.exclusive.setdefault(b, set()).add(a)

    def exclusive_rules(self) -> Dict[str, List[str]]:
        """The exclusion rules as a config value (prompt -> sorted prompts, each
        pair once, listed under the prompt that comes first in the vocabulary)."""
        out: Dict[str, List[str]] = {}
        for a in self.names:
            later = sorted(b for b in self.exclusive.get(a, ()) if self._ids[b] > self._ids[a])
            if later:
                out[a] = later
        return out

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
                    f"prompt {a!r} cannot be combined with {', '.join(map(repr, clash))} in one prompt list {names}"
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


def model_vocabulary(config: Mapping) -> Optional[PromptVocabulary]:
    """The prompt vocabulary of the model a training config builds, read from
    the config alone (``separator_conf``: ``prompts``, ``prompt_aliases``,
    ``exclusive_prompts``, as ``TUSSSeparator`` takes them); ``None`` for a
    separator without prompts (e.g. ``bslocoformer``). ``ValueError`` for an
    invalid vocabulary."""
    if str(config.get("separator", "")).lower() != "tuss":
        return None
    conf = config.get("separator_conf") or {}
    if not isinstance(conf, Mapping):
        raise ValueError("separator_conf is not a mapping")
    return PromptVocabulary(
        conf.get("prompts") or DEFAULT_PROMPTS, conf.get("prompt_aliases"), conf.get("exclusive_prompts")
    )
