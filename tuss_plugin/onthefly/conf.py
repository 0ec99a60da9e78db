# SPDX-License-Identifier: Apache-2.0
"""The ``--onthefly_conf`` options of on-the-fly training (TUSS, Saijo et al.,
ICASSP 2025, Sec. II-C): their defaults, how missing ones are taken from the
other training options, the prompt table they describe, and categories beyond
the table (``new_prompts``, e.g. a prompt added to a trained model).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from tuss_plugin.fileio.kaldi_io import parse_fs
from tuss_plugin.onthefly.mixer import DEFAULT_DYNAMIC_MIXING_SOURCES
from tuss_plugin.onthefly.prompt_sampler import DEFAULT_NUM_PROMPTS_WEIGHTS, default_prompt_table
from tuss_plugin.prompts import check_prompt_name

PoolsOption = Union[str, Sequence[str], Mapping[str, Sequence[str]]]


@dataclass
class OnTheFlyOptions:
    """The keys of ``--onthefly_conf``, their types and defaults.

    ``None`` means: taken from the other training options when resolved
    (:func:`resolve_onthefly_conf`). Building one checks every key: an unknown
    key or a value of the wrong type raises ``ValueError`` naming the key.

    Args:
        pools: pool dirs (a list, or prompt -> list of dirs); required.
        prompts: the prompt table (None: the authors' unified table).
        prompt_overrides: prompt -> settings merged into the table.
        new_prompts: prompt -> settings of a category beyond the table (:func:`add_new_prompts`).
        allowed_prompts: restrict the table to these prompts.
        num_prompts_weights: N -> weight (None: 2, 3, 4 equally likely).
        dynamic_mixing_sources: mix category -> single-source prompts.
        fs: output rate (None: ``--fs``, then ``separator_conf.fs``, then 48000; ``16k`` works).
        chunk_seconds: mixture length (default 6.0).
        downsample_to_min_fs: mix at the lowest rate of the drawn sources (default True).
        batch_size: mixtures per step over all DDP ranks (None: ``--batch_size``).
        steps_per_epoch: None: ``--num_iters_per_epoch``, then 2500.
        num_workers: None: ``--num_workers``.
        seed: None: ``--seed``.
        prompt_dropout_prob: probability of dropping a prompt (default 0.0).
        sort_prompts: True: order prompts/references by vocabulary id; a list: by that order.
        emit_prompts: False: no ``prompts`` key (prompt-free baselines, plain PIT).
        on_bad_file: ``raise`` (default) or ``skip``.
        max_draws: attempts at a usable mixture before giving up (default 100).
    """

    pools: Optional[PoolsOption] = None
    prompts: Optional[Dict[str, Dict[str, Any]]] = None
    prompt_overrides: Optional[Dict[str, Dict[str, Any]]] = None
    new_prompts: Optional[Dict[str, Dict[str, Any]]] = None
    allowed_prompts: Optional[List[str]] = None
    num_prompts_weights: Optional[Dict[int, float]] = None
    dynamic_mixing_sources: Optional[Dict[str, List[str]]] = None
    fs: Optional[int] = None
    chunk_seconds: float = 6.0
    downsample_to_min_fs: bool = True
    batch_size: Optional[int] = None
    steps_per_epoch: Optional[int] = None
    num_workers: Optional[int] = None
    seed: Optional[int] = None
    prompt_dropout_prob: float = 0.0
    sort_prompts: Union[bool, List[str]] = False
    emit_prompts: bool = True
    on_bad_file: str = "raise"
    max_draws: int = 100

    @classmethod
    def from_conf(cls, conf: Optional[Mapping[str, Any]]) -> "OnTheFlyOptions":
        """The options of a ``--onthefly_conf`` dict; unknown keys are named."""
        conf = dict(conf or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(conf) - set(known))
        if unknown:
            raise ValueError(f"--onthefly_conf: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**copy.deepcopy(conf))

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            value = getattr(self, name)
            if value is not None:
                try:
                    setattr(self, name, check(value))
                except (TypeError, ValueError) as e:
                    raise ValueError(f"--onthefly_conf: {name}: {e}, got {value!r}") from None

    def as_dict(self) -> Dict[str, Any]:
        """``{key: value}``, the form the iterator factory takes."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("expected a number")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _mapping(value: Any) -> Dict:
    if not isinstance(value, Mapping):
        raise TypeError("expected a mapping")
    return dict(value)


def _names(value: Any) -> List[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError("expected a list of names")
    return [str(v) for v in value]


def _pools(value: Any) -> PoolsOption:
    if isinstance(value, str):
        return value
    return _mapping(value) if isinstance(value, Mapping) else _names(value)


def _weights(value: Any) -> Dict[int, float]:
    try:
        return {int(k): float(v) for k, v in _mapping(value).items()}
    except ValueError:
        raise ValueError("expected {number of prompts: weight}") from None


def _fs(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else parse_fs(value)


def _sort(value: Any) -> Union[bool, List[str]]:
    return value if isinstance(value, bool) else _names(value)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {list(allowed)}")
        return value

    return check


#: the type check (and normalisation) of each key that has a value
_CHECKS: Dict[str, Callable[[Any], Any]] = {
    "pools": _pools,
    "prompts": _mapping,
    "prompt_overrides": _mapping,
    "new_prompts": _mapping,
    "allowed_prompts": _names,
    "num_prompts_weights": _weights,
    "dynamic_mixing_sources": _mapping,
    "fs": _fs,
    "chunk_seconds": _number,
    "downsample_to_min_fs": _flag,
    "batch_size": _integer,
    "steps_per_epoch": _integer,
    "num_workers": _integer,
    "seed": _integer,
    "prompt_dropout_prob": _number,
    "sort_prompts": _sort,
    "emit_prompts": _flag,
    "on_bad_file": _choice("raise", "skip"),
    "max_draws": _integer,
}

#: Keys of ``--onthefly_conf`` and their defaults (``None``: taken from the
#: other training options, see :func:`resolve_onthefly_conf`).
ONTHEFLY_CONF_DEFAULTS: Dict[str, Any] = OnTheFlyOptions().as_dict()


def resolve_onthefly_conf(conf: Optional[Mapping], args: Any = None) -> Dict[str, Any]:
    """Fill the defaults of an ``--onthefly_conf`` dict (``args`` = ESPnet's
    namespace); every key is checked by :class:`OnTheFlyOptions`."""
    out = OnTheFlyOptions.from_conf(conf).as_dict()
    if not out["pools"]:
        raise ValueError("--onthefly_conf: 'pools' is required (pool dirs, see tuss_plugin.onthefly.mixer)")
    get = (lambda k, d=None: getattr(args, k, d)) if args is not None else (lambda k, d=None: d)
    if out["fs"] is None:
        out["fs"] = _fs(get("fs") or (get("separator_conf") or {}).get("fs") or 48000)
    if out["batch_size"] is None:
        out["batch_size"] = get("batch_size", 8) or 8
    if out["steps_per_epoch"] is None:
        out["steps_per_epoch"] = get("num_iters_per_epoch") or 2500
    if out["num_workers"] is None:
        out["num_workers"] = get("num_workers", 0) or 0
    if out["seed"] is None:
        out["seed"] = get("seed", 0) or 0
    out["prompts"] = _prompt_table(out)
    if out["num_prompts_weights"] is None:
        out["num_prompts_weights"] = _weights(DEFAULT_NUM_PROMPTS_WEIGHTS)
    p = out["prompt_dropout_prob"]
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"--onthefly_conf: prompt_dropout_prob must be in [0, 1], got {p}")
    for k in ("batch_size", "steps_per_epoch"):
        if int(out[k]) < 1:
            raise ValueError(f"--onthefly_conf: {k} must be >= 1, got {out[k]}")
    return out


def _prompt_table(out: Mapping[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The prompt table of resolved options: ``prompts`` (or the authors'),
    with ``prompt_overrides``, ``new_prompts`` and ``allowed_prompts`` applied."""
    table = out["prompts"] if out["prompts"] is not None else default_prompt_table()
    table = {str(p): dict(v) for p, v in table.items()}
    for p, v in (out["prompt_overrides"] or {}).items():
        if p not in table:
            raise ValueError(
                f"--onthefly_conf: prompt_overrides names unknown prompt {p!r} (a new category goes into new_prompts)"
            )
        table[p].update(v)
    table = add_new_prompts(table, out["new_prompts"])
    if out["allowed_prompts"] is None:
        return table
    allowed = out["allowed_prompts"]
    missing = sorted(set(allowed) - set(table))
    if missing:
        raise ValueError(f"--onthefly_conf: allowed_prompts {missing} are not in the prompt table")
    keep = set(allowed)
    # prompts used only inside dynamic mixing keep their gains but are never drawn
    dyn = out["dynamic_mixing_sources"] or DEFAULT_DYNAMIC_MIXING_SOURCES
    for p in allowed:
        if float(table[p].get("dynamic_mixing_prob", 0) or 0) > 0:
            keep.update(dyn.get(p, []))
    table = {p: v for p, v in table.items() if p in keep}
    for p, v in table.items():
        if p not in allowed:
            v["init_prob"] = 0.0
        v["next"] = {q: w for q, w in (v.get("next") or {}).items() if q in allowed}
    return table


#: settings of one category in the prompt table (``new_prompts`` entries may
#: also give ``incoming``: existing prompt -> transition weight towards it)
PROMPT_SETTINGS = (
    "init_prob",
    "next",
    "num_appear",
    "gain",
    "exclusive",
    "dynamic_mixing_prob",
    "num_sources_weights",
)


def add_new_prompts(table: Dict[str, Dict], new: Optional[Mapping[str, Mapping]]) -> Dict[str, Dict]:
    """The prompt table with categories beyond it (``--onthefly_conf new_prompts``).

    Each new category gives its settings as the table's entries do
    (``init_prob``, ``next``, ``num_appear``, ``gain``, ``exclusive``: prompts
    never drawn together with it), and ``incoming``: existing prompt -> the
    weight of the transition from it to the new one (added to that prompt's
    ``next`` row; missing: 0). E.g. a prompt ``bell`` added to a trained model::

        new_prompts:
          bell: {init_prob: 1.0, next: {speech: 0.4, musicbg: 0.3, sfx: 0.3},
                 num_appear: 1, gain: [-10, 0], exclusive: [sfxbg]}

    Raises ``ValueError`` naming the prompt and key for a name already in the
    table, an invalid name, an unknown setting or an unknown prompt in
    ``incoming``, ``next`` or ``exclusive``.
    """
    if not new:
        return table
    table = {p: dict(v) for p, v in table.items()}
    added = {}
    for name, settings in new.items():
        where = f"--onthefly_conf: new_prompts: {name!r}"
        key = check_prompt_name(name, "--onthefly_conf: new_prompts")
        if key in table:
            raise ValueError(f"{where} is already in the prompt table (change it with prompt_overrides)")
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(PROMPT_SETTINGS) - {"incoming"})
        if unknown:
            raise ValueError(f"{where}: unknown setting(s) {unknown}; known: {sorted(PROMPT_SETTINGS + ('incoming',))}")
        added[key] = settings
    names = set(table) | set(added)
    for key, settings in added.items():
        where = f"--onthefly_conf: new_prompts: {key!r}"
        for field in ("incoming", "next", "exclusive"):
            bad = sorted(set(settings.get(field) or ()) - names)
            if bad:
                raise ValueError(f"{where}: {field} names unknown prompts {bad}")
        for prev, w in (settings.pop("incoming", None) or {}).items():
            target = added[prev] if prev in added else table[prev]
            target["next"] = {**(target.get("next") or {}), key: float(w)}
        table[key] = settings
    return table


__all__ = ["ONTHEFLY_CONF_DEFAULTS", "OnTheFlyOptions", "PROMPT_SETTINGS", "add_new_prompts", "resolve_onthefly_conf"]
