#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Report of run_add_prompt.sh: a prompt added to a trained model.

Reads the scores (``<exp>/enhanced_<set>/scoring/scores.tsv``) of the base
model, of the model with the initial (copied or random) vector, and of the
model whose new vector was fine-tuned, and writes a Markdown report:

* SI-SNRi of every prompt on ``test_<prompt>`` (mixtures with the new
  category), initial vector vs fine-tuned vector, per task pattern too;
* SI-SNRi of every prompt on the old test set, base vs fine-tuned model;
* how many of the old test set's outputs are bit-identical between the base
  and the fine-tuned model (they all must be: only the new vector changed).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.fileio.atomic import atomic_write_text


def read_scores(path: Path) -> List[Dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (run the scoring stage first)")
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def mean_by(rows: List[Dict[str, str]], key: str, column: str = "si_snri") -> Dict[str, Tuple[float, int]]:
    acc: Dict[str, List[float]] = defaultdict(list)
    for r in rows:
        acc[r[key]].append(float(r[column]))
        acc["all"].append(float(r[column]))
    return {k: (sum(v) / len(v), len(v)) for k, v in acc.items()}


def table(title: str, columns: List[str], results: List[Dict[str, Tuple[float, int]]], keys: List[str]) -> List[str]:
    lines = [f"| {title} | " + " | ".join(columns) + " | outputs |", "| --- |" + " ---: |" * (len(columns) + 1)]
    for k in keys:
        cells = [f"{r[k][0]:.2f}" if k in r else "-" for r in results]
        n = next((r[k][1] for r in results if k in r), 0)
        lines.append(f"| {k} | " + " | ".join(cells) + f" | {n} |")
    return lines


def identical_outputs(a: Path, b: Path) -> Tuple[int, int]:
    """(outputs with bit-identical samples, outputs of ``a``) between two inference
    dirs' wavs/ (samples compared, not file bytes: libsndfile stamps the time into
    the PEAK chunk of float wav files)."""
    files = sorted(p.relative_to(a) for p in a.rglob("*.wav"))
    same = 0
    for f in files:
        if (b / f).is_file():
            x, fx = sf.read(a / f, dtype="float32", always_2d=True)
            y, fy = sf.read(b / f, dtype="float32", always_2d=True)
            same += int(fx == fy and x.shape == y.shape and np.array_equal(x.view(np.uint32), y.view(np.uint32)))
    return same, len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--base", type=Path, required=True, help="exp dir of the base model")
    parser.add_argument("--init", type=Path, required=True, help="exp dir of the model with the initial vector")
    parser.add_argument("--finetuned", type=Path, required=True, help="exp dir of the fine-tuned model")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    new_set = f"enhanced_test_{args.prompt}"
    try:
        init_rows = read_scores(args.init / new_set / "scoring" / "scores.tsv")
        ft_rows = read_scores(args.finetuned / new_set / "scoring" / "scores.tsv")
        base_rows = read_scores(args.base / "enhanced_test" / "scoring" / "scores.tsv")
        ft_old_rows = read_scores(args.finetuned / "enhanced_test" / "scoring" / "scores.tsv")
    except (OSError, ValueError) as e:
        print(f"new_prompt_report.py: {e}", file=sys.stderr)
        return 1
    init, ft = mean_by(init_rows, "prompt"), mean_by(ft_rows, "prompt")
    init_t, ft_t = mean_by(init_rows, "task"), mean_by(ft_rows, "task")
    base_old, ft_old = mean_by(base_rows, "prompt"), mean_by(ft_old_rows, "prompt")
    same, total = identical_outputs(args.base / "enhanced_test" / "wavs", args.finetuned / "enhanced_test" / "wavs")
    prompts = sorted(k for k in ft if k != "all")
    old_prompts = sorted(k for k in base_old if k != "all")
    lines = [f"# Prompt `{args.prompt}` added to `{args.base}`", ""]
    lines += [f"Mean SI-SNRi (dB) on `test_{args.prompt}` (mixtures with the new category):", ""]
    lines += table("prompt", ["initial vector", "fine-tuned vector"], [init, ft], prompts + ["all"]) + [""]
    lines += table(
        "task pattern", ["initial vector", "fine-tuned vector"], [init_t, ft_t], sorted(k for k in ft_t if k != "all")
    ) + [""]
    lines += ["Mean SI-SNRi (dB) on the old test set (the eight prompts):", ""]
    lines += table("prompt", ["base model", "fine-tuned model"], [base_old, ft_old], old_prompts + ["all"]) + [""]
    lines += [
        f"Old test set outputs bit-identical (samples) between the base and the fine-tuned model: {same} of {total}",
        "",
    ]
    atomic_write_text(args.output, "\n".join(lines))
    print("\n".join(lines))
    return 0 if same == total and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
