# SPDX-License-Identifier: Apache-2.0
"""Divide and Remaster v2 (DnR) evaluation sets for cinematic audio source separation.

The CASS row of Table III of the TUSS paper (K. Saijo et al., "Task-aware
Unified Source Separation", ICASSP 2025): each 60-s mixture is separated with
the prompts ``speech musicbg sfxbg`` (references ``speech.wav``, ``music.wav``,
``sfx.wav``), the order of the authors' data preparation (the prompts sit on
the rotary-position axis of the model, so the order changes the outputs).

    python -m tuss_plugin.dataprep.eval_sets.dnr --root $DNR --data_dir data

``$DNR`` is the ``dnr_v2`` folder (Zenodo 6949108) holding ``tr/``, ``cv/``
and ``tt/``, one sub-folder per mixture; other files in a split folder are
skipped. Writes ``data/test_dnr`` (all of ``tt``, 973 mixtures) and
``data/dev_dnr`` (the first 100 of ``cv`` in numeric folder order).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tuss_plugin.dataprep.common import (
    Mixture,
    PathLike,
    eval_set_parser,
    natural_key,
    require_root,
    run_eval_cli,
    write_sets,
)
from tuss_plugin.utils.errors import DataPrepError

CORPUS = "dnr"
VARIABLE = "DNR"
SPLITS = {"dev": "cv", "test": "tt"}
PROMPTS = ["speech", "musicbg", "sfxbg"]  # the authors' order
FILES = ["speech.wav", "music.wav", "sfx.wav"]  # references, in prompt order


def check_root(root: PathLike) -> Path:
    return require_root(VARIABLE, root, ["tr/", "cv/", "tt/"])


def collect(split_dir: Path, num: Optional[int]) -> List[Mixture]:
    folders = sorted((p for p in split_dir.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))
    if num is not None:
        folders = folders[:num]
    if not folders:
        raise DataPrepError(f"{VARIABLE}: {split_dir}: no mixture folders")
    out = []
    for d in folders:
        files = [d / "mix.wav"] + [d / f for f in FILES]
        for f in files:
            if not f.is_file():
                raise DataPrepError(f"{f}: missing (a DnR mixture folder holds mix.wav, {', '.join(FILES)})")
        out.append(Mixture(f"{CORPUS}_{d.name}", str(files[0]), [str(f) for f in files[1:]], list(PROMPTS)))
    return out


def prepare(
    root: PathLike,
    data_dir: PathLike = "data",
    sets: Sequence[str] = ("dev", "test"),
    num_dev: Optional[int] = 100,
    force: bool = False,
) -> Dict[str, Path]:
    """Write ``<data_dir>/{dev,test}_dnr``; returns {set name: dir}.

    ``num_dev`` caps the validation mixtures (default 100; None: all 487).
    """
    base = Path(os.path.abspath(check_root(root)))
    key = f"root={base} sets={' '.join(sets)} num_dev={num_dev}"
    return write_sets(
        CORPUS, data_dir, sets, key, force, lambda s: collect(base / SPLITS[s], num_dev if s == "dev" else None)
    )


def main(argv: Optional[List[str]] = None) -> int:
    p = eval_set_parser(__doc__, CORPUS, VARIABLE)
    p.add_argument("--num_dev", type=int, default=100, help="validation mixtures (default 100; <=0: all)")
    a = p.parse_args(argv)
    return run_eval_cli(prepare, a, num_dev=a.num_dev if a.num_dev > 0 else None)


if __name__ == "__main__":
    raise SystemExit(main())
