# SPDX-License-Identifier: Apache-2.0
"""RESULTS.md in ESPnet's style from the scores tables of recipe stage 6
(written by ``tuss_plugin.bin.show_results``).

The sections: the environment (date, versions, commit), per experiment the
mean SI-SNR, SI-SNR improvement, SNR and SDR over all outputs, per task
pattern (SE, SS, USS, MSS, CASS) and per prompt, the Table III block of Saijo
et al., "Task-aware Unified Source Separation", ICASSP 2025
(:mod:`tuss_plugin.scoring.table3_block`), the speech metrics, museval's SDR,
links to the example figures (:mod:`tuss_plugin.scoring.examples`); and a
cross-model comparison of SI-SNR improvements.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from tuss_plugin.fileio.textfiles import read_text
from tuss_plugin.prompts import DEFAULT_PROMPTS
from tuss_plugin.scoring.examples import examples_section
from tuss_plugin.scoring.metrics import item_mean, summarize
from tuss_plugin.scoring.speech_metrics import SPEECH_COLUMNS, SPEECH_PROMPTS
from tuss_plugin.scoring.table3_block import (
    METRICS,
    TASK_ORDER,
    load_scores,
    table3,
)
from tuss_plugin.scoring.table3_block import cell as _cell

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
