# SPDX-License-Identifier: Apache-2.0
"""Spectrograms of example test mixtures: one per task pattern (recipe stage 6).

    python -m tuss_plugin.bin.plot_examples --ref_dir dump/raw/test \\
        --inf_dir exp/enh_x/enhanced_test --output_dir exp/enh_x/images/examples/enhanced_test

For each task pattern of ``<inf_dir>/scoring/scores.tsv`` (written by
``tuss_plugin.bin.score``), the mixture whose mean SI-SNRi over its outputs is
the median of that pattern's mixtures (the lower middle one for an even count)
is drawn as one figure ``<output_dir>/<TASK>_<utt>.png``: the mixture on top,
then one row per scored output, its reference on the left and the output on
the right, titled with the prompt and the output's SI-SNRi; the figure's title
names the prompts and the mean SI-SNRi. Outputs are paired with references as
the scoring pairs them. Earlier figures of this command in ``<output_dir>`` (listed in its manifest
``.tuss-plot-examples.manifest``) are replaced; other files stay.
``tuss_plugin.bin.show_results`` links the figures from RESULTS.md
(:func:`examples_section`); this module owns their names and place.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tuss_plugin.utils.cli import CLIError, run_main

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


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref_dir", required=True, help="data dir of the references (wav.scp, spk.scp, utt2prompts)")
    parser.add_argument("--inf_dir", required=True, help="inference dir (spk<k>.scp, utt2prompts, scoring/scores.tsv)")
    parser.add_argument("--output_dir", required=True, help="the figures go here (<TASK>_<utt>.png)")
    return parser


def main(cmd: Optional[List[str]] = None) -> int:
    return run_main("plot_examples", run, get_parser().parse_args(cmd))


def run(args: argparse.Namespace) -> int:
    """The command; problems raise ``CLIError``."""
    from tuss_plugin.bin.score import read_lists, read_scores, refusal
    from tuss_plugin.fileio.output_dirs import Manifest, check_output_dir

    ref, inf, out_dir = Path(args.ref_dir), Path(args.inf_dir), Path(args.output_dir)
    try:
        check_output_dir(out_dir, [("--ref_dir", ref), ("--inf_dir", inf)])
    except ValueError as e:
        raise CLIError(str(e)) from None
    scores = inf / "scoring" / "scores.tsv"
    if not scores.is_file():
        raise CLIError(f"{scores}: missing (score the outputs first: tuss_plugin.bin.score)")
    try:
        _, _, rows = read_scores(scores)
        lists = read_lists(ref, inf)
    except (OSError, ValueError) as e:
        raise CLIError(str(e)) from None
    from tuss_plugin.bin.score import make_entry
    from tuss_plugin.scoring.figures import spectrogram_grid

    picks = pick_examples(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for task, (utt, mean) in picks.items():
        entry = make_entry(utt, lists)
        problem = "not in the lists" if entry is None else refusal(entry)
        if problem:
            raise CLIError(f"{utt} of {scores}: {problem}")
        cells, fs = figure_rows(entry, [r for r in rows if r["utt"] == utt])
        path = out_dir / figure_name(task, utt)
        title = f"{utt} ({task}): prompts {' '.join(entry.out_prompts)}; mean SI-SNRi {mean:.2f} dB"
        spectrogram_grid(path, cells, fs, title=title)
        written.append(path)
        print(f"plot_examples: {task}: {utt} (mean SI-SNRi {mean:.2f} dB) -> {path}")
    Manifest(out_dir, MANIFEST_NAME).replace(p.name for p in written)  # earlier figures of ours only
    return 0


if __name__ == "__main__":
    sys.exit(main())
