# SPDX-License-Identifier: Apache-2.0
"""The ``--onthefly_conf`` options of on-the-fly training (TUSS, Saijo et al.,
ICASSP 2025, Sec. II-C): their defaults, how missing ones are taken from the
other training options, the prompt table they describe, and categories beyond
the table (``new_prompts``, e.g. a prompt added to a trained model).
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Mapping, Optional

from tuss_plugin.onthefly.mixer import DEFAULT_DYNAMIC_MIXING_SOURCES
from tuss_plugin.onthefly.prompt_sampler import DEFAULT_NUM_PROMPTS_WEIGHTS, default_prompt_table
from tuss_plugin.prompts import check_prompt_name

#: Keys of ``--onthefly_conf`` and their defaults (``None``: taken from the
#: other training options, see :func:`resolve_onthefly_conf`).
ONTHEFLY_CONF_DEFAULTS: Dict[str, Any] = {
    "pools": None,  # list of pool dirs, or prompt -> list of pool dirs (required)
    "prompts": None,  # prompt table (None: the authors' unified table)
    "prompt_overrides": None,  # prompt -> settings merged into the table
    "new_prompts": None,  # prompt -> settings of a category beyond the table (see add_new_prompts)
    "allowed_prompts": None,  # restrict the table to these prompts
    "num_prompts_weights": None,  # N -> weight (None: 2, 3, 4 equally likely)
    "dynamic_mixing_sources": None,  # mix category -> single-source prompts
    "fs": None,  # output rate (None: --fs, then separator_conf.fs, then 48000)
    "chunk_seconds": 6.0,
    "downsample_to_min_fs": True,
    "batch_size": None,  # None: --batch_size (global over DDP ranks)
    "steps_per_epoch": None,  # None: --num_iters_per_epoch, then 2500
    "num_workers": None,  # None: --num_workers
    "seed": None,  # None: --seed
    "prompt_dropout_prob": 0.0,
    "sort_prompts": False,  # true: order prompts/references by vocabulary id; a list: by that order
    "emit_prompts": True,  # False: no "prompts" key (prompt-free baselines, plain PIT)
    "on_bad_file": "raise",  # or "skip"
    "max_draws": 100,
}


def resolve_onthefly_conf(conf: Optional[Mapping], args: Any = None) -> Dict[str, Any]:
    """Fill the defaults of an ``--onthefly_conf`` dict (``args`` = ESPnet's namespace)."""
    conf = dict(conf or {})
    unknown = sorted(set(conf) - set(ONTHEFLY_CONF_DEFAULTS))
    if unknown:
        raise ValueError(f"--onthefly_conf: unknown key(s) {unknown}; known: {sorted(ONTHEFLY_CONF_DEFAULTS)}")
    out = {**copy.deepcopy(ONTHEFLY_CONF_DEFAULTS), **conf}
    if not out["pools"]:
        raise ValueError("--onthefly_conf: 'pools' is required (pool dirs, see tuss_plugin.onthefly.mixer)")
    get = (lambda k, d=None: getattr(args, k, d)) if args is not None else (lambda k, d=None: d)
    if out["fs"] is None:
        out["fs"] = get("fs") or (get("separator_conf") or {}).get("fs") or 48000
    if out["batch_size"] is None:
        out["batch_size"] = get("batch_size", 8) or 8
    if out["steps_per_epoch"] is None:
        out["steps_per_epoch"] = get("num_iters_per_epoch") or 2500
    if out["num_workers"] is None:
        out["num_workers"] = get("num_workers", 0) or 0
    if out["seed"] is None:
        out["seed"] = get("seed", 0) or 0
    table = out["prompts"] if out["prompts"] is not None else default_prompt_table()
    table = {str(p): dict(v) for p, v in table.items()}
    for p, v in (out["prompt_overrides"] or {}).items():
        if p not in table:
            raise ValueError(
                f"--onthefly_conf: prompt_overrides names unknown prompt {p!r} (a new category goes into new_prompts)"
            )
        table[p].update(v)
    table = add_new_prompts(table, out["new_prompts"])
    if out["allowed_prompts"] is not None:
        allowed = [str(p) for p in out["allowed_prompts"]]
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
    out["prompts"] = table
    if out["num_prompts_weights"] is None:
        out["num_prompts_weights"] = dict(DEFAULT_NUM_PROMPTS_WEIGHTS)
    out["num_prompts_weights"] = {int(k): float(v) for k, v in out["num_prompts_weights"].items()}
    p = float(out["prompt_dropout_prob"])
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"--onthefly_conf: prompt_dropout_prob must be in [0, 1], got {p}")
    for k in ("batch_size", "steps_per_epoch"):
        if int(out[k]) < 1:
            raise ValueError(f"--onthefly_conf: {k} must be >= 1, got {out[k]}")
    return out


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


__all__ = ["ONTHEFLY_CONF_DEFAULTS", "PROMPT_SETTINGS", "add_new_prompts", "resolve_onthefly_conf"]
