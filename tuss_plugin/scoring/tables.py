# SPDX-License-Identifier: Apache-2.0
"""The scores table of recipe stage 6 (``scores.tsv``, one tab-separated row per
scored reference) and ESPnet's per-metric ``result_<metric>.txt`` files beside it.

Columns: the labels :data:`LABEL_COLUMNS`, then the metrics: :data:`BASE_COLUMNS`
(SI-SNR, SI-SNRi, SNR, SDR and the authors' clamped ``si_sdr`` of Table III of
Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025), the speech
metrics (:data:`tuss_plugin.scoring.speech_metrics.SPEECH_COLUMNS`), and on
request ``museval_sdr`` and ESPnet's SIR and SAR
(:data:`tuss_plugin.scoring.bss_eval.BSS_COLUMNS`). Written by
``tuss_plugin.bin.score``; read by the RESULTS.md writer and the example figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.textfiles import read_lines
from tuss_plugin.scoring.bss_eval import BSS_COLUMNS
from tuss_plugin.scoring.metrics import item_mean
from tuss_plugin.scoring.speech_metrics import SPEECH_COLUMNS
from tuss_plugin.utils.errors import one_line

BASE_COLUMNS = ["utt", "output", "prompt", "task", "si_snr", "si_snri", "snr", "sdr", "si_sdr"]
COLUMNS = BASE_COLUMNS + SPEECH_COLUMNS  # the default header
LABEL_COLUMNS = ("utt", "output", "prompt", "task")  # every other column is a metric


def score_columns(speech: bool, museval: bool, bss_eval: bool) -> List[str]:
    """The header of a table with the speech metrics, ``museval_sdr`` and SIR / SAR as asked."""
    columns = BASE_COLUMNS + (SPEECH_COLUMNS if speech else []) + (["museval_sdr"] if museval else [])
    return columns + (BSS_COLUMNS if bss_eval else [])


def format_scores(rows: List[dict], columns: Sequence[str]) -> str:
    """The text of a scores table: the header, then one line per row (metrics with 4 decimals)."""
    lines = ["\t".join(columns)]
    for r in rows:
        lines.append("\t".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in columns))
    return "\n".join(lines) + "\n"


def result_files(rows: List[dict], metrics: Sequence[str]) -> Dict[str, str]:
    """ESPnet's ``result_<metric>.txt`` files of ``rows``: name -> text, one number of
    2 decimals each, the mean over utterances of each utterance's mean over its
    outputs, NaN cells left out (:func:`tuss_plugin.scoring.metrics.item_mean`)."""

    return {f"result_{m}.txt": f"{item_mean(rows, m)[0]:.2f}\n" for m in metrics}


def write_result_files(scoring_dir: Path, rows: List[dict], columns: Sequence[str]) -> None:
    """Write the result files of the metric columns of ``columns`` into ``scoring_dir``
    (atomically) and remove those of known metrics this table lacks (an earlier run's)."""
    metrics = [c for c in columns if c not in LABEL_COLUMNS]
    files = result_files(rows, metrics)
    for name, text in files.items():
        atomic_write_text(scoring_dir / name, text)
    for m in BASE_COLUMNS + SPEECH_COLUMNS + ["museval_sdr"] + BSS_COLUMNS:
        stale = scoring_dir / f"result_{m}.txt"
        if m not in LABEL_COLUMNS and stale.name not in files and stale.is_file():
            stale.unlink()


def is_scores_table(path: Path) -> bool:
    """Whether ``path`` starts like a table this command writes (the one kind of file it replaces)."""
    from tuss_plugin.fileio.textfiles import regular_file_problem

    try:
        if regular_file_problem(path):
            return False  # a FIFO or device: never opened
        with open(path, "rb") as f:
            return f.read(64).startswith("\t".join(LABEL_COLUMNS).encode())
    except OSError:
        return False


def read_scores(path: Path, header: Optional[List[str]] = None) -> Tuple[List[str], List[str], List[dict]]:
    """(header, data lines, rows with float metrics) of a scores table; ``ValueError``
    naming the file (and line) when it is not one, or its header is not ``header``."""
    lines = read_lines(path)  # a regular UTF-8 file, else one line naming it
    if not lines:
        raise ValueError(f"{path}: empty (no header)")
    columns = lines[0].split("\t")
    if columns[: len(LABEL_COLUMNS)] != list(LABEL_COLUMNS):
        raise ValueError(f"{path}:1: not a scores table (header {lines[0]!r})")
    if header is not None and columns != header:
        raise ValueError(f"{path}:1: columns {columns} differ from those of the first table {header}")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise ValueError(f"{path}:{n}: {len(cells)} fields for {len(columns)} columns")
        row = dict(zip(columns, cells))
        try:
            row.update({c: float(row[c]) for c in columns if c not in LABEL_COLUMNS})
        except ValueError:
            raise ValueError(f"{path}:{n}: a metric is not a number") from None
        rows.append(row)
    return columns, lines[1:], rows


def merge_tables(paths: Sequence[str]) -> Tuple[List[str], List[str], List[dict]]:
    """(header, data lines, rows) of the tables ``paths`` (of parallel scoring jobs)
    joined: equal headers, each (utterance, output) once in the whole set. A problem
    raises ``ValueError`` with one line naming the file (and line)."""
    header, lines, rows, seen = None, [], [], {}
    for f in paths:
        try:
            header, ls, rs = read_scores(Path(f), header)
            for n, r in enumerate(rs, 2):  # each (utterance, output) once in the whole set
                first = seen.setdefault((r["utt"], r["output"]), f"{f}:{n}")
                if first != f"{f}:{n}":
                    raise ValueError(f"{f}:{n}: {r['utt']} output {r['output']} is also in {first} (duplicate row)")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"{f}: {one_line(getattr(e, 'strerror', None) or e)}") from None
        except ValueError as e:
            raise ValueError(one_line(e)) from None
        lines += ls
        rows += rs
    return header, lines, rows
