#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write RESULTS.md in ESPnet's style from the scores of recipe stage 6.

    python -m tuss_plugin.bin.show_results exp/enh_tuss_mini            # -> exp/enh_tuss_mini/RESULTS.md
    python -m tuss_plugin.bin.show_results --compare exp/enh_*  --output exp/RESULTS.md

Reads ``<exp>/<inference_tag>_<set>/scoring/scores.tsv`` and reports, per
evaluation set, the mean SI-SNR, SI-SNR improvement, SNR and SDR over all
outputs, per prompt and per task pattern (SE, SS, USS, MSS, CASS), so a TUSS
row can sit beside other ESPnet separators' rows.

Table III block ("Table III layout (dB)"): the paper's Table III beside the
user's rows, with a difference row for each model that names the paper row
it reproduces (``paper_row``); see :mod:`tuss_plugin.scoring.table3_block`. The
per-task and per-prompt tables average over outputs and keep ``si_snr``
(zero-mean SI-SNR, unclamped), ``si_snri``, ``snr`` and ``sdr``; the Table III
block reads the authors' ``si_sdr`` and ``snr`` (:mod:`tuss_plugin.scoring.metrics`).
A scores.tsv written before ``si_sdr`` existed leaves its Table III cells
empty ("-"); re-run stage 6.

Figures: an experiment with spectrograms of example mixtures
(``<exp>/images/examples/<inference dir>/*.png``, recipe stage 6,
``tuss_plugin.bin.plot_examples``) gets a table of links to them.

Speech metrics: sets whose speech outputs carry the STOI, ESTOI and PESQ
columns of ``tuss_plugin.bin.score`` get a "Speech metrics" table, each cell
the number of ESPnet's ``scoring/result_<metric>.txt`` (mean over mixtures of
the per-mixture mean, NaN cells left out).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from tuss_plugin.bin.plot_examples import examples_section
from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.textfiles import read_text
from tuss_plugin.prompts import DEFAULT_PROMPTS
from tuss_plugin.scoring.metrics import item_mean, summarize
from tuss_plugin.scoring.speech_metrics import SPEECH_COLUMNS, SPEECH_PROMPTS
from tuss_plugin.scoring.table3_block import (
    METRICS,
    TASK_ORDER,
    load_scores,
    table3,
)
from tuss_plugin.scoring.table3_block import cell as _cell
from tuss_plugin.utils.cli import CLIError, run_main

HEAD = "|SI_SNR|SI_SNRi|SNR|SDR|"
# speech metrics of scores.tsv (outputs of prompt speech; NaN elsewhere), as ESPnet reports them
SPEECH_METRICS = tuple(SPEECH_COLUMNS)
PROMPT_ORDER = list(DEFAULT_PROMPTS)


def _fmt(s: Dict[str, float]) -> str:
    return "|" + "|".join(f"{s[m]:.2f}" for m in METRICS) + "|"


def _ordered(keys, order):
    return [k for k in order if k in keys] + sorted(k for k in keys if k not in order)


def environment() -> List[str]:
    """The "Environments" section of ESPnet's RESULTS.md (date, versions, commit)."""
    import tuss_plugin
    from tuss_plugin.benchmark.profiling import software_versions

    v = software_versions()
    lines = [
        "## Environments",
        f"- date: `{datetime.datetime.now().astimezone().strftime('%a %b %d %H:%M:%S %Z %Y')}`",
        f"- python version: `{v['python']}`",
        f"- espnet version: `espnet {v['espnet']}`",
        f"- pytorch version: `pytorch {v['torch']}`",
        f"- tuss_plugin version: `{v['tuss_plugin']}`",
    ]
    try:
        root = Path(tuss_plugin.__file__).resolve().parent.parent
        commit = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%H %cd"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        if commit:
            h, d = commit.split(" ", 1)
            lines.append(f"- Git hash: `{h}`")
            lines.append(f"  - Commit date: `{d}`")
    except (OSError, subprocess.SubprocessError):
        pass
    return lines


def exp_section(exp: Path, scores, link_root: Optional[Path] = None) -> List[str]:
    """The section of one experiment; ``link_root``: the directory of the RESULTS.md
    it goes into (for links to its figures; default ``exp``)."""
    lines = [f"## {exp.name}"]
    cfg = exp / "config.yaml"
    if cfg.exists():
        import yaml

        conf = yaml.safe_load(read_text(cfg)) or {}
        src = conf.get("config") or str(cfg)
        lines.append(f"- config: `{src}`")
        lines.append(f"- separator: `{conf.get('separator')}`")
    lines += ["", "Every mean below is over mixtures: first each mixture's mean over its outputs (of the row's"]
    lines += ["task or prompt), then the mean of those, as ESPnet's `result_<metric>.txt` (dB)."]
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
    lines += speech_table(scores)
    museval_sets = [(ds, rows) for ds, rows in scores.items() if rows and "museval_sdr" in rows[0]]
    if museval_sets:
        lines += [
            "",
            "### museval SDR (BSS Eval v4, median of 1-s windows; median / mean over outputs)",
            "",
            "|dataset|prompt|n_outputs|median|mean|",
            "|---|---|---|---|---|",
        ]
        for ds, rows in museval_sets:
            for p in _ordered({r["prompt"] for r in rows}, PROMPT_ORDER):
                v = np.array([r["museval_sdr"] for r in rows if r["prompt"] == p], dtype=float)
                v = v[np.isfinite(v)]
                med, mean = (np.median(v), v.mean()) if v.size else (float("nan"), float("nan"))
                lines.append(f"|{ds}|{p}|{v.size}|{med:.2f}|{mean:.2f}|")
    return lines + examples_section(exp, exp if link_root is None else link_root, TASK_ORDER)


def speech_table(scores) -> List[str]:
    """The speech-metric section: one row per set with speech outputs scored with them; each
    cell the value of ESPnet's ``scoring/result_<metric>.txt`` (mean over mixtures
    of the per-mixture mean, NaN cells left out); [] when no set has one."""
    lines = []
    for ds, rows in scores.items():
        speech = [r for r in rows if r["prompt"] in SPEECH_PROMPTS and all(m in r for m in SPEECH_METRICS)]
        if speech:
            cells = "|".join(_cell(item_mean(speech, m)[0]) for m in SPEECH_METRICS)
            lines.append(f"|{ds}|{len(speech)}|{cells}|")
    if not lines:
        return []
    return [
        "",
        "### Speech metrics (outputs of prompt speech; STOI and ESTOI in percent)",
        "",
        "|dataset|n_outputs|" + "|".join(m.upper() for m in SPEECH_METRICS) + "|",
        "|---|---|" + "|".join("---" for _ in SPEECH_METRICS) + "|",
    ] + lines


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


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exps", nargs="+", help="experiment dirs")
    parser.add_argument("--output", default=None, help="default: <exp>/RESULTS.md (one exp)")
    parser.add_argument("--compare", action="store_true", help="add a cross-model comparison table")
    return parser


def main(cmd: Optional[List[str]] = None) -> int:
    # a scores table that cannot be read (not a regular UTF-8 file, a metric that is not a number): one line
    return run_main("show_results", run, get_parser().parse_args(cmd), errors=(ValueError,))


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    missing = [e for e in args.exps if not Path(e).is_dir()]
    if missing:
        raise CLIError(f"{missing[0]}: no such experiment directory")
    exps = [Path(e) for e in args.exps]
    if not exps:
        raise CLIError("no experiment directory given")
    lines = ["<!-- Generated by tuss_plugin.bin.show_results -->", "# RESULTS", ""] + environment() + [""]
    if args.compare:
        lines += comparison(exps) + [""]
        t3 = table3(exps)
        if t3:
            lines += ["## Table III layout (dB)", ""] + t3 + [""]
    out = Path(args.output) if args.output else exps[0] / "RESULTS.md"
    if out.is_dir() or (args.output is not None and not args.output.strip()):
        raise CLIError(f"{args.output}: --output is a directory or empty; give a file name")
    found = False
    for exp in exps:
        scores = load_scores(exp)
        if scores:
            found = True
            lines += exp_section(exp, scores, out.parent) + [""]
    if not found:
        raise CLIError(f"no scoring/scores.tsv under {', '.join(map(str, exps))}")
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"show_results: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
