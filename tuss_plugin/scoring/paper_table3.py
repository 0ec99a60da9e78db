# SPDX-License-Identifier: Apache-2.0
"""Table III of the TUSS paper: its columns and its published rows.

Source: K. Saijo, J. Ebbers, F. G. Germain, G. Wichern, J. Le Roux,
"Task-aware Unified Source Separation", Proc. ICASSP 2025 (arXiv:2410.23987),
Table III.

Columns: one per (test set, prompt), in the paper's order: VCTK-DEMAND
{Speech, SFX-mix}, WHAM! {Speech, SFX-mix}, FUSS {SFX}, MUSDB-HQ {Vocals, Bass,
Drums, Other}, DnR {Speech, Music-mix, SFX-mix}. Metric: SI-SNR (dB), SNR (dB)
for MUSDB-HQ, as the authors compute them: the SI-SNR columns read the
``si_sdr`` column of ``scores.tsv`` (fast_bss_eval's SI-SDR without mean
removal, clamped to +-70 dB), the MUSDB-HQ columns ``snr`` (unclamped).

Rows: M0-M5 (Medium) and L3-L6s (Large); a label ending in "s" is the
single-prompt evaluation (one pass per prompt category) of the row without the
"s"; L6/L6s: L5 fine-tuned with prompt dropout. Every number and description
was entered from the paper's Table III (the project's copy: ``table3.tsv`` of
the shared paper folder, one row per label, 12 numbers in the order of
``COLUMNS``) and read a second time against it; ``tests/scoring/test_table3.py``
compares this module with that file.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class Column:
    """One Table III column.

    Args:
        corpus: key of the evaluation corpus (the recipe name): ``vctk_demand``,
            ``wham``, ``fuss``, ``musdb18hq`` or ``dnr``.
        prompt: the prompt whose outputs the column scores.
        metric: the column of ``scores.tsv`` it averages: ``si_sdr`` (the paper's
            SI-SNR, the authors' definition) or ``snr``.
        header: the paper's name of the column.
    """

    corpus: str
    prompt: str
    metric: str
    header: str


@dataclass(frozen=True)
class PaperRow:
    """One published row of Table III.

    Args:
        label: the paper's row label (e.g. ``L5``, ``L5s``).
        mode: ``all`` (all prompts in one pass) or ``single`` (one pass per prompt category).
        description: the paper's description of the row (conventional or prompting,
            data / task specialist or unified, fine-tuned).
        values: one number per entry of ``COLUMNS`` (dB).
    """

    label: str
    mode: str
    description: str
    values: Tuple[float, ...]


COLUMNS: Tuple[Column, ...] = (
    Column("vctk_demand", "speech", "si_sdr", "VCTK-DEMAND Speech"),
    Column("vctk_demand", "sfxbg", "si_sdr", "VCTK-DEMAND SFX-mix"),
    Column("wham", "speech", "si_sdr", "WHAM! Speech"),
    Column("wham", "sfxbg", "si_sdr", "WHAM! SFX-mix"),
    Column("fuss", "sfx", "si_sdr", "FUSS SFX"),
    Column("musdb18hq", "vocals", "snr", "MUSDB-HQ Vocals"),
    Column("musdb18hq", "bass", "snr", "MUSDB-HQ Bass"),
    Column("musdb18hq", "drums", "snr", "MUSDB-HQ Drums"),
    Column("musdb18hq", "other", "snr", "MUSDB-HQ Other"),
    Column("dnr", "speech", "si_sdr", "DnR Speech"),
    Column("dnr", "musicbg", "si_sdr", "DnR Music-mix"),
    Column("dnr", "sfxbg", "si_sdr", "DnR SFX-mix"),
)
CORPORA: Tuple[str, ...] = tuple(dict.fromkeys(c.corpus for c in COLUMNS))

# Saijo et al., ICASSP 2025, Table III: (label, description, numbers in the order of COLUMNS).
# The descriptions are the paper's; "all" / "single" follows from the label.
_PUBLISHED: Tuple[Tuple[str, str, Tuple[float, ...]], ...] = (
    ("M0", "Conventional data specialist", (17.4, 8.5, 9.3, 12.3, 8.3, 9.1, 6.5, 9.3, 5.6, 15.1, 7.0, 8.3)),
    ("M1", "Prompting data specialist", (17.6, 9.0, 9.3, 12.1, 10.2, 9.4, 7.1, 9.0, 5.9, 14.8, 6.9, 8.2)),
    ("M2", "Conventional task specialist", (20.4, 11.6, 8.2, 11.9, 8.3, 9.4, 7.4, 9.9, 6.0, 14.6, 6.1, 7.4)),
    ("M3", "Prompting task specialist", (20.2, 11.6, 8.5, 12.0, 10.2, 9.6, 7.6, 10.2, 5.9, 14.9, 6.6, 7.7)),
    ("M4", "Conventional unified", (19.2, 8.7, 3.4, 10.2, 8.1, 7.2, 2.5, 6.6, 3.1, 12.0, 3.8, 2.1)),
    ("M5", "Prompting unified", (19.4, 10.2, 7.0, 11.2, 9.6, 8.4, 5.7, 8.3, 4.7, 14.5, 5.7, 7.1)),
    ("L3", "Prompting task specialist", (20.4, 11.5, 10.1, 12.6, 10.0, 10.4, 8.4, 11.1, 6.5, 15.1, 7.0, 7.9)),
    ("L4", "Conventional unified", (19.2, 9.1, 6.5, 10.8, 9.9, 7.7, 4.5, 7.5, 4.2, 12.5, 5.6, 4.9)),
    ("L5", "Prompting unified", (19.8, 10.4, 8.7, 11.9, 12.2, 8.6, 6.3, 9.1, 5.4, 15.1, 7.0, 8.2)),
    ("L5s", "Prompting unified", (16.2, 10.2, 8.7, 6.5, 12.2, -6.5, -3.0, -2.9, -5.0, 13.0, -1.5, 0.4)),
    ("L6", "Prompting unified (fine-tuned)", (19.6, 9.8, 8.8, 11.8, 9.0, 7.3, 4.3, 8.3, 3.4, 14.9, 6.5, 7.8)),
    ("L6s", "Prompting unified (fine-tuned)", (18.7, 9.8, 8.8, 10.4, 9.0, 6.5, 3.9, 7.9, 2.4, 14.5, 3.8, 7.2)),
)

ROWS: Tuple[PaperRow, ...] = tuple(
    PaperRow(label, "single" if label.endswith("s") else "all", description, values)
    for label, description, values in _PUBLISHED
)

for _r in ROWS:
    if len(_r.values) != len(COLUMNS) or _r.mode not in ("all", "single"):
        raise ValueError(
            f"paper_table3: row {_r.label}: {len(_r.values)} values for {len(COLUMNS)} columns, mode {_r.mode!r}"
        )


def corpus_of_set(name: str) -> Optional[str]:
    """The Table III corpus of an evaluation set named ``<corpus>`` or ``<anything>_<corpus>``
    (the recipes' ``test_vctk_demand``, ``test_wham``, ...); None for other sets."""
    for corpus in CORPORA:
        if name == corpus or name.endswith("_" + corpus):
            return corpus
    return None


def paper_row(label: str, mode: str = "all") -> Optional[PaperRow]:
    """The published row a user row of evaluation ``mode`` reproduces, given the
    label the user names (``M5``, ``L5``, ``L6s``, ...): the label itself for
    ``all`` (``L5s`` -> ``L5``), the label with ``s`` for ``single`` (``L5`` ->
    ``L5s``); None when the paper has no such row (e.g. ``M5`` in ``single``)."""
    base = label[:-1] if label.endswith("s") and label[:-1] in _LABELS else label
    want = base + "s" if mode == "single" else base
    return _BY_LABEL.get(want)


_BY_LABEL = {r.label: r for r in ROWS}
_LABELS = frozenset(_BY_LABEL)


# the task pattern of each evaluation corpus, and the outputs per mixture of a prompt
# where a mixture has more than one (WHAM!: two speakers and the noise)
TASK_OF_CORPUS = {"vctk_demand": "SE", "wham": "SS", "fuss": "USS", "musdb18hq": "MSS", "dnr": "CASS"}
OUTPUTS_PER_MIXTURE = {("wham", "speech"): 2}


def task_values(row: PaperRow) -> Dict[str, float]:
    """The row per task pattern (``SE``, ``SS``, ``USS``, ``MSS``, ``CASS``): the
    columns of the task's corpus weighted by the outputs a mixture has of each
    prompt, i.e. what the mean over a mixture's outputs gives for the paper's
    per-prompt means (WHAM!: (2 speech + SFX-mix) / 3; FUSS: its one column)."""
    sums: Dict[str, float] = {}
    weights: Dict[str, float] = {}
    for col, value in zip(COLUMNS, row.values):
        task = TASK_OF_CORPUS[col.corpus]
        w = OUTPUTS_PER_MIXTURE.get((col.corpus, col.prompt), 1)
        sums[task] = sums.get(task, 0.0) + w * value
        weights[task] = weights.get(task, 0.0) + w
    return {task: sums[task] / weights[task] for task in sums}


def row_label(value: str) -> Optional[str]:
    """``--paper_row``: a label of Table III (``tuss_plugin.scoring.paper_table3.ROWS``), or none."""
    if str(value).lower() in ("none", "null", ""):
        return None
    labels = [r.label for r in ROWS]
    if value not in labels:
        raise argparse.ArgumentTypeError(f"{value!r} is not a row of Table III ({', '.join(labels)})")
    return value
