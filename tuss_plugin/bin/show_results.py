#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write RESULTS.md in ESPnet's style from the scores of recipe stage 6.

    python -m tuss_plugin.bin.show_results exp/enh_tuss_mini            # -> exp/enh_tuss_mini/RESULTS.md
    python -m tuss_plugin.bin.show_results --compare exp/enh_*  --output exp/RESULTS.md

Reads ``<exp>/<inference_tag>_<set>/scoring/scores.tsv`` and reports, per
evaluation set, the mean SI-SNR, SI-SNR improvement, SNR and SDR over all
outputs, per prompt and per task pattern (SE, SS, USS, MSS, CASS), so a TUSS
row can sit beside other ESPnet separators' rows.

Table III block ("Table III layout (dB)"): the layout of Table III of Saijo et
al., "Task-aware Unified Source Separation", ICASSP 2025. One column per (test
set, prompt), in the paper's order (``tuss_plugin.paper_table3.COLUMNS``):
VCTK-DEMAND Speech / SFX-mix, WHAM! Speech / SFX-mix, FUSS SFX, MUSDB-HQ
Vocals / Bass / Drums / Other, DnR Speech / Music-mix / SFX-mix; SI-SNR (dB),
and SNR (dB) for MUSDB-HQ. An evaluation set belongs to a column group when
its name is the corpus key or ends in ``_<corpus key>`` (``test_vctk_demand``,
``test_wham``, ``test_fuss``, ``test_musdb18hq``, ``test_dnr``). One row per
model, inference tag and evaluation mode ("all" prompts in one pass, or
"single": one pass per prompt category), each "single" row right after its
"all" row (as the paper's L5 / L5s), below the paper's published rows
(``tuss_plugin.paper_table3.ROWS``; cells not entered there stay empty).

Averaging, as the authors' evaluation does: each cell is the mean over the
set's mixtures of the mean over that mixture's outputs of the column's prompt,
so a FUSS mixture with 4 sources weighs as much as one with 2 (the per-task
and per-prompt tables average over outputs instead). A mixture is one
utterance of the evaluation set; MUSDB-HQ tracks are split into one mono
utterance per channel (``_CH1``/``_CH2``, ``utt2channel``) and each channel
utterance is one mixture, as the authors evaluate channel 0 and 1 as separate
test items and average over all items.

Metric definitions (s the reference, y the output). The Table III block uses
the authors' definitions, those of the test step of their release
(merlresearch/unified-source-separation): its SI-SNR columns read ``si_sdr``
of scores.tsv (``tuss_plugin.metrics.si_sdr``): fast_bss_eval's SI-SDR with
``zero_mean=False`` (no mean removal) and ``clamp_db=70``, i.e.
10 log10(|a s|^2 / |a s - y|^2) with the optimal scale a = <s, y> / |s|^2,
limited to [-70, 70] dB (an all-zero output scores -70 dB); its MUSDB-HQ
columns read ``snr``, 10 log10((|s|^2 + eps) / (|s - y|^2 + eps)) with eps
1e-8, unclamped, which is the authors' SNR. The per-task and per-prompt
tables keep ``si_snr`` (``tuss_plugin.metrics.si_snr``: the zero-mean SI-SNR,
estimate and reference mean-removed, eps 1e-8 in both terms, unclamped),
``si_snri``, ``snr`` and ``sdr``. A scores.tsv written before ``si_sdr``
existed leaves its Table III cells empty ("-"); re-run stage 6.

Pairing: outputs are paired with references by prompt (best zero-mean SI-SNR
inside repeated prompts); the outputs of a fixed-output separator without
output slots are paired by the padded assignment of ``tuss_plugin.bin.score``
(references padded with silence, the zero-reference SNR training criterion
over all outputs) and labelled with their reference's prompt, so such a model
gets a row in every table like any other. One pairing serves all metrics; the
authors' test step solves the assignment anew for each metric (SI-SDR and SNR
each maximised over the outputs of a repeated prompt, or of a conventional
model over all outputs), which can differ where the criteria disagree.

Figures: an experiment with spectrograms of example mixtures
(``<exp>/images/examples/<inference dir>/*.png``, recipe stage 6,
``tuss_plugin.bin.plot_examples``) gets a table of links to them.

Sets that are not one of the paper's five get a second table in the block,
one column per task pattern and set, averaged the same way.

Speech metrics: sets whose speech outputs carry the STOI, ESTOI and PESQ
columns of ``tuss_plugin.bin.score`` get a "Speech metrics" table, each cell
the number of ESPnet's ``scoring/result_<metric>.txt`` (mean over mixtures of
the per-mixture mean, NaN cells left out).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from tuss_plugin.bin.plot_examples import examples_section
from tuss_plugin.cli import CLIError, one_line, run_main
from tuss_plugin.fileio import atomic_write_text
from tuss_plugin.metrics import SI_SDR_CLAMP_DB, item_mean, summarize
from tuss_plugin.paper_table3 import COLUMNS as PAPER_COLUMNS
from tuss_plugin.paper_table3 import ROWS as PAPER_ROWS
from tuss_plugin.paper_table3 import corpus_of_set
from tuss_plugin.prompts import DEFAULT_PROMPTS
from tuss_plugin.speech_metrics import SPEECH_COLUMNS, SPEECH_PROMPTS
from tuss_plugin.textfiles import open_text

METRICS = ("si_snr", "si_snri", "snr", "sdr")
HEAD = "|SI_SNR|SI_SNRi|SNR|SDR|"
TASK_ORDER = ["SE", "SS", "USS", "MSS", "CASS"]
# speech metrics of scores.tsv (outputs of prompt speech; NaN elsewhere), as ESPnet reports them
SPEECH_METRICS = tuple(SPEECH_COLUMNS)
PROMPT_ORDER = list(DEFAULT_PROMPTS)


# metric of each task in the paper's Table III protocol: (scores.tsv column, name);
# the paper's SI-SNR is the authors' si_sdr (no mean removal, clamped to +-70 dB)
TASK_METRIC = {"MSS": ("snr", "SNR")}
DEFAULT_METRIC = ("si_sdr", "SI-SNR")
MODES = ["all", "single"]


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
        try:  # a regular UTF-8 file with numbers in the metric columns, else one line
            with open_text(f) as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            for n, r in enumerate(rows, 2):
                for m in METRICS + ("si_sdr", "museval_sdr") + SPEECH_METRICS:
                    if m in r:
                        r[m] = _number(r[m], f"{f}:{n}: {m}")
        except ValueError as e:
            raise CLIError(one_line(e)) from None
        out[f.parent.parent.name] = rows
    return out


def _number(text: Optional[str], where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: not a number ({text!r})") from None


def _fmt(s: Dict[str, float]) -> str:
    return "|" + "|".join(f"{s[m]:.2f}" for m in METRICS) + "|"


def _ordered(keys, order):
    return [k for k in order if k in keys] + sorted(k for k in keys if k not in order)


def environment() -> List[str]:
    """The "Environments" section of ESPnet's RESULTS.md (date, versions, commit)."""
    import tuss_plugin
    from tuss_plugin.profiling import software_versions

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


def _runs(exps: List[Path]) -> Iterator[Tuple[str, str, str, str, List[dict]]]:
    """(model, inference tag, mode, evaluation set, scores) of every scored inference dir."""
    for exp in exps:
        for name, rows in load_scores(exp).items():
            mode = eval_mode(exp / name)
            dset = eval_set(exp / name)
            tag = name[: -len(dset) - 1] if name.endswith("_" + dset) else name
            yield exp.name, tag, mode, dset, rows


def _row_order(key: Tuple[str, str, str, str]) -> tuple:
    """Sort key of a (model, tag, set or "", mode) row: by model and base tag, "single" right after "all"."""
    name, tag, dset, mode = key
    base = tag[: -len("_single")] if mode == "single" and tag.endswith("_single") else tag
    return name, base, dset, MODES.index(mode) if mode in MODES else len(MODES), mode, tag


def _label(key: Tuple[str, str, str, str]) -> str:
    """``|model|inference|prompts|`` cells of a row."""
    name, tag, dset, mode = key
    return f"|{name}|{tag} ({dset})|{mode}|" if dset else f"|{name}|{tag}|{mode}|"


def _cell(v: Optional[float], missing: str = "-") -> str:
    return missing if v is None or not np.isfinite(v) else f"{v:.2f}"


def paper_table(runs: List[Tuple[str, str, str, str, List[dict]]]) -> List[str]:
    """The paper's Table III: its published rows, then one row per model, tag and mode with
    one cell per (test set, prompt) of ``PAPER_COLUMNS``; [] when no set is a paper test set."""
    table: Dict[tuple, Dict[int, float]] = OrderedDict()
    for name, tag, mode, dset, rows in runs:
        corpus = corpus_of_set(dset)
        if corpus is None:
            continue
        vals = {}
        for i, col in enumerate(PAPER_COLUMNS):
            if col.corpus == corpus:
                v, n = item_mean([r for r in rows if r["prompt"] == col.prompt], col.metric)
                if n:
                    vals[i] = v
        key = (name, tag, "", mode)
        if set(vals) & set(table.get(key, {})):  # a second set of the same corpus: its own row
            key = (name, tag, dset, mode)
        table.setdefault(key, {}).update(vals)
    if not table:
        return []
    lines = [
        "|model|inference|prompts|" + "|".join(c.header for c in PAPER_COLUMNS) + "|",
        "|---|---|---|" + "|".join("---" for _ in PAPER_COLUMNS) + "|",
    ]
    for r in PAPER_ROWS:
        lines.append(
            f"|{r.label} (paper)|{r.description or ''}|{r.mode}|"
            + "|".join(_cell(v, missing="") for v in r.values)
            + "|"
        )
    for key in sorted(table, key=_row_order):
        lines.append(_label(key) + "|".join(_cell(table[key].get(i)) for i in range(len(PAPER_COLUMNS))) + "|")
    return lines


def other_sets_table(runs: List[Tuple[str, str, str, str, List[dict]]]) -> List[str]:
    """Sets that are not paper test sets: one column per (task pattern, set) with the task's
    Table III metric, averaged per mixture; [] when there are none."""
    table: Dict[tuple, Dict[tuple, float]] = OrderedDict()
    cols = set()
    for name, tag, mode, dset, rows in runs:
        if corpus_of_set(dset) is not None:
            continue
        for t in {r["task"] for r in rows}:
            metric = TASK_METRIC.get(t, DEFAULT_METRIC)[0]
            table.setdefault((name, tag, "", mode), {})[(t, dset)] = item_mean(
                [r for r in rows if r["task"] == t], metric
            )[0]
            cols.add((t, dset))
    if not table:
        return []
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    cols = sorted(cols, key=lambda c: (order.get(c[0], len(order)), c[0], c[1]))
    lines = [
        "|model|inference|prompts|"
        + "|".join(f"{t} {TASK_METRIC.get(t, DEFAULT_METRIC)[1]} ({d})" for t, d in cols)
        + "|",
        "|---|---|---|" + "|".join("---" for _ in cols) + "|",
    ]
    for key in sorted(table, key=_row_order):
        lines.append(_label(key) + "|".join(_cell(table[key].get(c)) for c in cols) + "|")
    return lines


def table3(exps: List[Path]) -> List[str]:
    """The Table III block: notes, the paper's table (paper test sets), the table of other sets."""
    runs = list(_runs(exps))
    paper, other = paper_table(runs), other_sets_table(runs)
    if not paper and not other:
        return []
    notes = []
    if paper:
        notes += [
            "- columns of Saijo et al., ICASSP 2025, Table III: SI-SNR (dB), SNR (dB) for MUSDB-HQ, "
            "the authors' definitions (SI-SNR: scores.tsv si_sdr, no mean removal, clamped to "
            f"[-{SI_SDR_CLAMP_DB:g}, {SI_SDR_CLAMP_DB:g}] dB; SNR unclamped); "
            "each cell: mean over the set's mixtures (MUSDB-HQ: channel utterances) of the mean over "
            "the mixture's outputs of that prompt",
            "- (paper) rows: the published Table III (tuss_plugin/paper_table3.py); "
            "an empty cell is a number or description not entered there",
        ]
    if other:
        notes += [
            "- sets other than the paper's five: one column per task pattern and set, "
            "averaged per mixture in the same way"
        ]
    lines = notes + [""] + paper
    if paper and other:
        lines.append("")
    return lines + other


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
    return run_main("show_results", run, get_parser().parse_args(cmd))


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
