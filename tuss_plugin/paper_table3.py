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

Rows: M0-M5 and L3-L6s; a label ending in "s" is the single-prompt evaluation
(one pass per prompt category) of the row without the "s". The published
numbers and the description of each row (model size, conventional or TUSS,
prompt dropout) are entered only where they were read from the paper with
certainty; ``None`` marks a number or description that has not been entered,
and ``show_results`` leaves such cells empty with a footnote. When entering a
number, read it twice from the paper's Table III.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple


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
        description: what the row is (model size, conventional or TUSS, prompt
            dropout); None: not entered.
        values: one number per entry of ``COLUMNS`` (dB); None: not entered.
    """

    label: str
    mode: str
    description: Optional[str]
    values: Tuple[Optional[float], ...]


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

_NOT_ENTERED: Tuple[Optional[float], ...] = (None,) * len(COLUMNS)


def _row(label: str) -> PaperRow:
    """A row whose description and numbers have not been entered."""
    return PaperRow(label, "single" if label.endswith("s") else "all", None, _NOT_ENTERED)


# Saijo et al., ICASSP 2025, Table III. No number or description could be read
# from a copy of the paper with certainty when this table was written, so every
# cell is None (left empty in RESULTS.md).
ROWS: Tuple[PaperRow, ...] = tuple(
    _row(label) for label in ("M0", "M1", "M2", "M3", "M4", "M5", "L3", "L4", "L5", "L5s", "L6", "L6s")
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
