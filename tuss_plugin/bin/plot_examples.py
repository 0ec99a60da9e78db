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
(:func:`tuss_plugin.scoring.examples.examples_section`, which owns their names and place).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from tuss_plugin.scoring.examples import MANIFEST_NAME, figure_name, figure_rows, pick_examples
from tuss_plugin.utils.cli import CLIError, run_main


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
    from tuss_plugin.fileio.output_dirs import Manifest, check_output_dir
    from tuss_plugin.scoring.entries import make_entry, read_lists, refusal
    from tuss_plugin.scoring.tables import read_scores

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
