# SPDX-License-Identifier: Apache-2.0
"""Example mixtures of recipe stage 6: which mixture each task pattern shows,
the cells of its figure, and the figures' names and place.

For each task pattern of a scores table (:mod:`tuss_plugin.scoring.tables`),
the mixture whose mean SI-SNRi over its outputs is the median of that
pattern's mixtures (the lower middle one for an even count) is drawn
(``tuss_plugin.bin.plot_examples``; the drawing is
:func:`tuss_plugin.scoring.figures.spectrogram_grid`) as
``<exp>/images/examples/<inference dir>/<TASK>_<utt>.png``; the RESULTS.md
writer links them (:func:`examples_section`). This module owns their names
and place.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

EXAMPLES_DIR = Path("images") / "examples"  # of an experiment dir: <EXAMPLES_DIR>/<inference dir>/<figure>
FIGURE_SUFFIX = ".png"
# the figures the last run wrote into --output_dir (the only files a later run removes)
MANIFEST_NAME = ".tuss-plot-examples.manifest"


def figure_name(task: str, utt: str) -> str:
    """``<TASK>_<utt>.png``; :func:`examples_section` reads the task back from it."""
    return f"{task}_{utt}{FIGURE_SUFFIX}"


def examples_section(exp: Path, link_root: Path, task_order: Sequence[str] = ()) -> List[str]:
    """The RESULTS.md lines that link (relative to ``link_root``, where RESULTS.md
    goes) to the figures of ``<exp>/images/examples/<inference dir>/``, by inference
    dir and then in ``task_order`` (other tasks after, by name); [] when there are none."""

    def rank(f: Path) -> tuple:
        task = f.stem.partition("_")[0]
        return (f.parent.name, task_order.index(task) if task in task_order else len(task_order), f.name)

    figures = sorted(exp.glob(f"{EXAMPLES_DIR.as_posix()}/*/*{FIGURE_SUFFIX}"), key=rank)
    if not figures:
        return []
    lines = [
        "",
        "### Spectrograms (one mixture per task pattern: the median mean SI-SNRi)",
        "",
        "|dataset|task|mixture|figure|",
        "|---|---|---|---|",
    ]
    for f in figures:
        task, _, utt = f.stem.partition("_")
        link = Path(os.path.relpath(f, link_root)).as_posix()
        lines.append(f"|{f.parent.name}|{task}|{utt}|[{f.name}]({link})|")
    return lines


def pick_examples(rows: List[dict]) -> Dict[str, Tuple[str, float]]:
    """task -> (utterance, its mean SI-SNRi): the median mixture of each task pattern."""
    per_utt: Dict[Tuple[str, str], List[float]] = defaultdict(list)
    for r in rows:
        if np.isfinite(r["si_snri"]):
            per_utt[(r["task"], r["utt"])].append(r["si_snri"])
    by_task: Dict[str, List[Tuple[float, str]]] = defaultdict(list)
    for (task, utt), v in per_utt.items():
        by_task[task].append((float(np.mean(v)), utt))
    out = {}
    for task, items in sorted(by_task.items()):
        items.sort()
        mean, utt = items[(len(items) - 1) // 2]
        out[task] = (utt, mean)
    return out


def figure_rows(entry, rows: List[dict]) -> Tuple[List[list], int]:
    """The cells of one mixture's figure and the rate: the mixture, then
    (reference, output) per pair of the scoring."""
    from tuss_plugin.scoring.pairing import pair_outputs, read_mono

    mix, fs = read_mono(entry.mix)
    refs = [read_mono(p)[0] for p in entry.refs]
    outs = [read_mono(p)[0] for p in entry.outs]
    snri = {int(r["output"]): r["si_snri"] for r in rows}
    cells = [[(mix, "mixture"), None]]
    for i, r in pair_outputs(entry, refs, outs):
        prompt = entry.ref_prompts[r]
        value = snri.get(i + 1, float("nan"))
        cells.append(
            [
                (refs[r], f"reference {r + 1}: {prompt}"),
                (outs[i], f"output {i + 1}: {entry.out_prompts[i]}  (SI-SNRi {value:.2f} dB)"),
            ]
        )
    return cells, fs
