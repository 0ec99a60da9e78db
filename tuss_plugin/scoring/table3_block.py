# SPDX-License-Identifier: Apache-2.0
"""The Table III block of RESULTS.md (written by :mod:`tuss_plugin.bin.show_results`).

The layout of Table III of Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025: one column per (test set, prompt), in the paper's
order (:data:`tuss_plugin.scoring.paper_table3.COLUMNS`); SI-SNR (dB), SNR (dB) for
MUSDB-HQ. An evaluation set belongs to a column group when its name is the
corpus key or ends in ``_<corpus key>`` (``test_vctk_demand``, ``test_wham``,
``test_fuss``, ``test_musdb18hq``, ``test_dnr``). The paper's published rows
(:data:`tuss_plugin.scoring.paper_table3.ROWS`, every cell filled) come first, then
one row per model, inference tag and evaluation mode ("all" prompts in one
pass, or "single": one pass per prompt category), each "single" row right after
its "all" row (as the paper's L5 / L5s).

Difference rows: a model that names the paper row it reproduces gets, right
under each of its rows, a row ``<model> - <label> (paper)`` with its cell minus
the paper's, column by column (dB; "-" where either is missing). The label is
the ``paper_row`` key of the experiment's ``config.yaml`` (``tuss_train
--paper_row M5``, or ``paper_row: M5`` in the training config), else the first
word of a ``paper_row`` file in the experiment dir (for models trained
elsewhere). A "single" row is compared with the label's ``s`` row (``L5`` ->
``L5s``) where the paper has one (:func:`tuss_plugin.scoring.paper_table3.paper_row`).

Averaging, as the authors' evaluation does: each cell is the mean over the
set's mixtures of the mean over that mixture's outputs of the column's prompt,
so a FUSS mixture with 4 sources weighs as much as one with 2. MUSDB-HQ tracks
are split into one mono utterance per channel (``_CH1``/``_CH2``) and each is
one mixture, as the authors evaluate channel 0 and 1 as separate test items.

Metrics: the SI-SNR columns read ``si_sdr`` of scores.tsv (the authors'
SI-SDR: no mean removal, clamped to +-70 dB), the MUSDB-HQ columns ``snr``.
Stage 6 pairs outputs with references separately for each metric, as the
authors' test step (:mod:`tuss_plugin.scoring.pairing`). Sets that are not one of
the paper's five get a second table, one column per task pattern and set,
averaged the same way.
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np

from tuss_plugin.fileio.textfiles import open_text, read_text
from tuss_plugin.scoring.metrics import SI_SDR_CLAMP_DB, item_mean
from tuss_plugin.scoring.paper_table3 import COLUMNS as PAPER_COLUMNS
from tuss_plugin.scoring.paper_table3 import ROWS as PAPER_ROWS
from tuss_plugin.scoring.paper_table3 import corpus_of_set, paper_row, task_values
from tuss_plugin.scoring.speech_metrics import SPEECH_COLUMNS

METRICS = ("si_snr", "si_snri", "snr", "sdr")
TASK_ORDER = ["SE", "SS", "USS", "MSS", "CASS"]
# metric of each task in the paper's Table III protocol: (scores.tsv column, name);
# the paper's SI-SNR is the authors' si_sdr (no mean removal, clamped to +-70 dB)
TASK_METRIC = {"MSS": ("snr", "SNR")}
DEFAULT_METRIC = ("si_sdr", "SI-SNR")
MODES = ["all", "single"]
PAPER_ROW_KEY = "paper_row"  # config.yaml key / file name naming the reproduced paper row

Run = Tuple[str, str, str, str, List[dict]]  # (model, inference tag, mode, set, scores)


def eval_mode(inf_dir: Path) -> str:
    """``all`` or ``single``: written by recipe stage 5 into each inference dir."""
    f = inf_dir / "eval_mode"
    return f.read_text().strip() if f.is_file() else "all"


def eval_set(inf_dir: Path) -> str:
    """The evaluation set of an inference dir (recipe stage 5 writes ``eval_set``)."""
    f = inf_dir / "eval_set"
    return f.read_text().strip() if f.is_file() else inf_dir.name


def load_scores(exp: Path) -> "OrderedDict[str, List[dict]]":
    """``{inference dir name: rows of its scoring/scores.tsv}`` (metrics as
    floats); a table that is not a regular UTF-8 file, or holds a metric that
    is not a number, is one :class:`ValueError` naming the file (and line)."""
    out = OrderedDict()
    for f in sorted(exp.glob("*/scoring/scores.tsv")):
        with open_text(f) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        for n, r in enumerate(rows, 2):
            for m in METRICS + ("si_sdr", "museval_sdr") + tuple(SPEECH_COLUMNS):
                if m in r:
                    r[m] = _number(r[m], f"{f}:{n}: {m}")
        out[f.parent.parent.name] = rows
    return out


def _number(text: Optional[str], where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: not a number ({text!r})") from None


def paper_label(exp: Path) -> Optional[str]:
    """The paper row ``exp`` reproduces (see the module doc), or None."""
    cfg = exp / "config.yaml"
    if cfg.is_file():
        import yaml

        label = (yaml.safe_load(read_text(cfg)) or {}).get(PAPER_ROW_KEY)
        if label:
            return str(label)
    f = exp / PAPER_ROW_KEY
    if f.is_file():
        words = read_text(f).split()
        return words[0] if words else None
    return None


def cell(v: Optional[float], missing: str = "-") -> str:
    return missing if v is None or not np.isfinite(v) else f"{v:.2f}"


def runs(exps: List[Path]) -> Iterator[Run]:
    """(model, inference tag, mode, evaluation set, scores) of every scored inference dir."""
    for exp in exps:
        for name, rows in load_scores(exp).items():
            mode = eval_mode(exp / name)
            dset = eval_set(exp / name)
            tag = name[: -len(dset) - 1] if name.endswith("_" + dset) else name
            yield exp.name, tag, mode, dset, rows


def row_order(key: Tuple[str, str, str, str]) -> tuple:
    """Sort key of a (model, tag, set or "", mode) row: by model and base tag, "single" right after "all"."""
    name, tag, dset, mode = key
    base = tag[: -len("_single")] if mode == "single" and tag.endswith("_single") else tag
    return name, base, dset, MODES.index(mode) if mode in MODES else len(MODES), mode, tag


def label_cells(key: Tuple[str, str, str, str]) -> str:
    """``|model|inference|prompts|`` cells of a row."""
    name, tag, dset, mode = key
    return f"|{name}|{tag} ({dset})|{mode}|" if dset else f"|{name}|{tag}|{mode}|"


def _difference(key: Tuple[str, str, str, str], vals: Dict[int, float], label: Optional[str]) -> List[str]:
    """The difference row of a user row against the paper row it reproduces; [] without one."""
    ref = paper_row(label, key[3]) if label else None
    if ref is None:
        return []
    diffs = [vals[i] - v if i in vals and np.isfinite(vals[i]) else None for i, v in enumerate(ref.values)]
    return [
        f"|{key[0]} - {ref.label} (paper)|{key[1]}|{key[3]}|"
        + "|".join("-" if d is None else f"{d:+.2f}" for d in diffs)
        + "|"
    ]


def paper_table(all_runs: List[Run], labels: Optional[Dict[str, str]] = None) -> List[str]:
    """The paper's Table III: its published rows, then one row per model, tag and mode with
    one cell per (test set, prompt) of ``PAPER_COLUMNS`` (each followed by its difference
    row when ``labels`` names the model's paper row); [] when no set is a paper test set."""
    labels = labels or {}
    table: Dict[tuple, Dict[int, float]] = OrderedDict()
    for name, tag, mode, dset, rows in all_runs:
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
        lines.append(f"|{r.label} (paper)|{r.description}|{r.mode}|" + "|".join(cell(v) for v in r.values) + "|")
    for key in sorted(table, key=row_order):
        lines.append(label_cells(key) + "|".join(cell(table[key].get(i)) for i in range(len(PAPER_COLUMNS))) + "|")
        lines += _difference(key, table[key], labels.get(key[0]))
    return lines


def other_sets_table(all_runs: List[Run], with_paper: bool = False) -> List[str]:
    """Sets that are not paper test sets: one column per (task pattern, set) with the task's
    Table III metric, averaged per mixture; [] when there are none. ``with_paper``: then
    the published rows per task pattern (:func:`tuss_plugin.scoring.paper_table3.task_values`)."""
    table: Dict[tuple, Dict[tuple, float]] = OrderedDict()
    cols = set()
    for name, tag, mode, dset, rows in all_runs:
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
    for key in sorted(table, key=row_order):
        lines.append(label_cells(key) + "|".join(cell(table[key].get(c)) for c in cols) + "|")
    for r in PAPER_ROWS if with_paper else ():
        per_task = task_values(r)
        lines.append(f"|{r.label} (paper, per task)|{r.description}|{r.mode}|" + "|".join(
            cell(per_task.get(t)) for t, _ in cols) + "|")  # fmt: skip
    return lines


def table3(exps: List[Path]) -> List[str]:
    """The Table III block: notes, the paper's table (paper test sets), the table of other sets."""
    all_runs = list(runs(exps))
    labels = {exp.name: lab for exp in exps if (lab := paper_label(exp))}
    paper = paper_table(all_runs, labels)
    other = other_sets_table(all_runs, with_paper=not paper)
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
            "- (paper) rows: the published Table III (tuss_plugin/scoring/paper_table3.py); "
            "a '<model> - <label> (paper)' row: the model's cells minus those of the paper row it "
            f"reproduces ({PAPER_ROW_KEY} of its config.yaml)",
        ]
    if other:
        notes += [
            "- sets other than the paper's five: one column per task pattern and set, "
            "averaged per mixture in the same way"
        ]
        if not paper:
            notes.append(
                "- (paper, per task) rows: the published Table III on the paper's own test sets "
                "(SE: VCTK-DEMAND, SS: WHAM!, USS: FUSS, MSS: MUSDB-HQ, CASS: DnR), each task's columns "
                "averaged as a mixture's outputs are; a reference, not the same sets"
            )
    lines = notes + [""] + paper
    if paper and other:
        lines.append("")
    return lines + other
