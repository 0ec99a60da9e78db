#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write RESULTS.md in ESPnet's style from the scores of recipe stage 6.

    python -m tuss_plugin.bin.show_results exp/enh_tuss_mini            # -> exp/enh_tuss_mini/RESULTS.md
    python -m tuss_plugin.bin.show_results --compare exp/enh_*  --output exp/RESULTS.md

Reads ``<exp>/<inference_tag>_<set>/scoring/scores.tsv`` and reports, per
evaluation set, the mean SI-SNR, SI-SNR improvement, SNR and SDR over all
outputs, per prompt and per task pattern (SE, SS, USS, MSS, CASS), so a TUSS
row can sit beside other ESPnet separators' rows. A table in the layout of the
paper's Table III (Saijo et al., ICASSP 2025) gives one row per model and
evaluation mode ("all" prompts in one pass, or "single": one pass per prompt
category) and one column per evaluation set and task: SI-SNR (dB), and SNR
(dB) for music source separation, as in the paper's protocol.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import platform
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from tuss_plugin.fileio import atomic_write_text
from tuss_plugin.metrics import summarize

METRICS = ("si_snr", "si_snri", "snr", "sdr")
HEAD = "|SI_SNR|SI_SNRi|SNR|SDR|"
TASK_ORDER = ["SE", "SS", "USS", "MSS", "CASS"]
PROMPT_ORDER = ["speech", "sfx", "sfxbg", "drums", "bass", "vocals", "other", "musicbg"]


# metric of each task in the paper's Table III protocol
TASK_METRIC = {"MSS": ("snr", "SNR")}
DEFAULT_METRIC = ("si_snr", "SI-SNR")


def eval_mode(inf_dir: Path) -> str:
    """``all`` or ``single``: written by recipe stage 5 into each inference dir."""
    f = inf_dir / "eval_mode"
    return f.read_text().strip() if f.is_file() else "all"


def eval_set(inf_dir: Path) -> str:
    """The evaluation set of an inference dir (recipe stage 5 writes ``eval_set``)."""
    f = inf_dir / "eval_set"
    return f.read_text().strip() if f.is_file() else inf_dir.name


def load_scores(exp: Path) -> "OrderedDict[str, List[dict]]":
    out = OrderedDict()
    for f in sorted(exp.glob("*/scoring/scores.tsv")):
        with open(f, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        for r in rows:
            for m in METRICS + ("museval_sdr",):
                if m in r:
                    r[m] = float(r[m])
        out[f.parent.parent.name] = rows
    return out


def _fmt(s: Dict[str, float]) -> str:
    return "|" + "|".join(f"{s[m]:.2f}" for m in METRICS) + "|"


def _ordered(keys, order):
    return [k for k in order if k in keys] + sorted(k for k in keys if k not in order)


def environment() -> List[str]:
    import torch

    try:
        from importlib.metadata import version

        espnet_version = version("espnet")
    except Exception:  # noqa: BLE001
        espnet_version = "unknown"
    import tuss_plugin

    lines = [
        "## Environments",
        f"- date: `{datetime.datetime.now().astimezone().strftime('%a %b %d %H:%M:%S %Z %Y')}`",
        f"- python version: `{platform.python_version()}`",
        f"- espnet version: `espnet {espnet_version}`",
        f"- pytorch version: `pytorch {torch.__version__}`",
        f"- tuss_plugin version: `{tuss_plugin.__version__}`",
    ]
    try:
        root = Path(tuss_plugin.__file__).resolve().parent.parent
        commit = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%H %cd"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if commit:
            h, d = commit.split(" ", 1)
            lines.append(f"- Git hash: `{h}`")
            lines.append(f"  - Commit date: `{d}`")
    except (OSError, subprocess.SubprocessError):
        pass
    return lines


def exp_section(exp: Path, scores) -> List[str]:
    lines = [f"## {exp.name}"]
    cfg = exp / "config.yaml"
    if cfg.exists():
        import yaml

        conf = yaml.safe_load(cfg.read_text()) or {}
        src = conf.get("config") or str(cfg)
        lines.append(f"- config: `{src}`")
        lines.append(f"- separator: `{conf.get('separator')}`")
    lines += ["", "### All outputs", "", "|dataset|n_outputs" + HEAD, "|---|---|---|---|---|---|"]
    for ds, rows in scores.items():
        s = summarize(rows)
        lines.append(f"|{ds}|{s['n']}" + _fmt(s))
    t3 = table3([exp])
    if t3:
        lines += ["", "### Table III layout (dB)", ""] + t3
    lines += ["", "### Per task pattern", "", "|dataset|task|n_outputs" + HEAD, "|---|---|---|---|---|---|---|"]
    for ds, rows in scores.items():
        for t in _ordered({r["task"] for r in rows}, TASK_ORDER):
            s = summarize([r for r in rows if r["task"] == t])
            lines.append(f"|{ds}|{t}|{s['n']}" + _fmt(s))
    lines += ["", "### Per prompt", "", "|dataset|prompt|n_outputs" + HEAD, "|---|---|---|---|---|---|---|"]
    for ds, rows in scores.items():
        for p in _ordered({r["prompt"] for r in rows}, PROMPT_ORDER):
            s = summarize([r for r in rows if r["prompt"] == p])
            lines.append(f"|{ds}|{p}|{s['n']}" + _fmt(s))
    museval_sets = [(ds, rows) for ds, rows in scores.items() if rows and "museval_sdr" in rows[0]]
    if museval_sets:
        lines += ["", "### museval SDR (BSS Eval v4, median of 1-s windows; median / mean over outputs)", "",
                  "|dataset|prompt|n_outputs|median|mean|", "|---|---|---|---|---|"]
        for ds, rows in museval_sets:
            for p in _ordered({r["prompt"] for r in rows}, PROMPT_ORDER):
                v = np.array([r["museval_sdr"] for r in rows if r["prompt"] == p], dtype=float)
                v = v[np.isfinite(v)]
                med, mean = (np.median(v), v.mean()) if v.size else (float("nan"), float("nan"))
                lines.append(f"|{ds}|{p}|{v.size}|{med:.2f}|{mean:.2f}|")
    return lines


def table3(exps: List[Path]) -> List[str]:
    """Rows: model x inference run (tag, mode); columns: (task, set) with the task's metric."""
    table: Dict[tuple, Dict[tuple, float]] = OrderedDict()
    cols = set()
    for exp in exps:
        for name, rows in load_scores(exp).items():
            mode = eval_mode(exp / name)
            dset = eval_set(exp / name)
            tag = name[: -len(dset) - 1] if name.endswith("_" + dset) else name
            for t in {r["task"] for r in rows}:
                key, _ = TASK_METRIC.get(t, DEFAULT_METRIC)
                val = summarize([r for r in rows if r["task"] == t])[key]
                table.setdefault((exp.name, tag, mode), {})[(t, dset)] = val
                cols.add((t, dset))
    if not table:
        return []
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    cols = sorted(cols, key=lambda c: (order.get(c[0], len(order)), c[0], c[1]))
    lines = ["|model|inference|prompts|"
             + "|".join(f"{t} {TASK_METRIC.get(t, DEFAULT_METRIC)[1]} ({d})" for t, d in cols) + "|",
             "|---|---|---|" + "|".join("---" for _ in cols) + "|"]
    modes = ["all", "single"]
    for (name, tag, mode), vals in sorted(table.items(), key=lambda kv: (
            kv[0][0], modes.index(kv[0][2]) if kv[0][2] in modes else len(modes), kv[0][1])):
        lines.append(f"|{name}|{tag}|{mode}|" + "|".join(f"{vals[c]:.2f}" if c in vals else "-" for c in cols) + "|")
    return lines


def comparison(exps: List[Path]) -> List[str]:
    """One row per model and task: the table to paste beside other separators."""
    lines = ["## Comparison (SI-SNR improvement, dB)", ""]
    table: Dict[tuple, Dict[str, float]] = {}
    tasks = set()
    for exp in exps:
        for ds, rows in load_scores(exp).items():
            for t in {r["task"] for r in rows}:
                table.setdefault((exp.name, ds), {})[t] = summarize([r for r in rows if r["task"] == t])["si_snri"]
                tasks.add(t)
            table[(exp.name, ds)]["all"] = summarize(rows)["si_snri"]
    cols = _ordered(tasks, TASK_ORDER) + ["all"]
    lines.append("|model|dataset|" + "|".join(cols) + "|")
    lines.append("|---|---|" + "|".join("---" for _ in cols) + "|")
    for (name, ds), vals in sorted(table.items()):
        lines.append(f"|{name}|{ds}|" + "|".join(f"{vals[c]:.2f}" if c in vals else "-" for c in cols) + "|")
    return lines


def main(cmd: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exps", nargs="+", help="experiment dirs")
    parser.add_argument("--output", default=None, help="default: <exp>/RESULTS.md (one exp)")
    parser.add_argument("--compare", action="store_true", help="add a cross-model comparison table")
    args = parser.parse_args(cmd)
    exps = [Path(e) for e in args.exps if Path(e).is_dir()]
    if not exps:
        print("show_results: error: no experiment directory given", file=sys.stderr)
        return 1
    lines = ["<!-- Generated by tuss_plugin.bin.show_results -->", "# RESULTS", ""] + environment() + [""]
    if args.compare:
        lines += comparison(exps) + [""]
        t3 = table3(exps)
        if t3:
            lines += ["## Table III layout (dB)", ""] + t3 + [""]
    found = False
    for exp in exps:
        scores = load_scores(exp)
        if scores:
            found = True
            lines += exp_section(exp, scores) + [""]
    if not found:
        print(f"show_results: error: no scoring/scores.tsv under {', '.join(map(str, exps))}", file=sys.stderr)
        return 1
    out = Path(args.output) if args.output else exps[0] / "RESULTS.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"show_results: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
