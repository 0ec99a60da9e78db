# SPDX-License-Identifier: Apache-2.0
"""FUSS (Free Universal Sound Separation, dry ``ssdata``) evaluation sets for USS.

The universal-sound-separation row of Table III of the TUSS paper (K. Saijo
et al., "Task-aware Unified Source Separation", ICASSP 2025): each mixture is
separated with one ``sfx`` prompt per non-silent source.

    python -m tuss_plugin.dataprep.eval_sets.fuss --root $FUSS --data_dir data

``$FUSS`` holds ``ssdata/`` (``FUSS_ssdata.tar.gz``, Zenodo 3743844). As in the
authors' setup, the references of an example are the files of
``<id>_sources/`` that are not all zeros (in name order), and only mixtures
with 2-4 such sources are kept (single-source mixtures removed). Writes
``data/test_fuss`` (``eval``) and ``data/dev_fuss`` (``validation``, the first
200 examples of each source count).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf

from tuss_plugin.dataprep.common import Mixture, PathLike, eval_set_parser, require_root, run_eval_cli, write_sets
from tuss_plugin.utils.errors import DataPrepError

CORPUS = "fuss"
VARIABLE = "FUSS"
SPLITS = {"dev": "validation", "test": "eval"}


def check_root(root: PathLike, sets: Sequence[str] = ("dev", "test")) -> Path:
    base = require_root(VARIABLE, root, ["ssdata/"])
    for s in sets:
        if not (base / "ssdata" / SPLITS[s]).is_dir():
            raise DataPrepError(
                f"{VARIABLE}={root}: missing ssdata/{SPLITS[s]}/ (the directory must hold ssdata/ "
                f"with validation/ and eval/ from FUSS_ssdata.tar.gz)"
            )
    return base


def is_silent(path: Path) -> bool:
    """True when every sample of the file is zero."""
    try:
        x, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except RuntimeError as e:
        raise DataPrepError(f"{path}: unreadable ({e})") from None
    return not np.any(x)


def collect(split_dir: Path, min_sources: int, max_sources: int, num_per_count: Optional[int]) -> List[Mixture]:
    counts: Dict[int, int] = {}
    out = []
    for mix in sorted(split_dir.glob("example*.wav")):
        src_dir = split_dir / f"{mix.stem}_sources"
        if not src_dir.is_dir():
            raise DataPrepError(f"{src_dir}: missing (the sources of {mix})")
        active = [p for p in sorted(src_dir.glob("*.wav")) if not is_silent(p)]
        n = len(active)
        if not min_sources <= n <= max_sources:
            continue
        if num_per_count is not None and counts.get(n, 0) >= num_per_count:
            continue
        counts[n] = counts.get(n, 0) + 1
        out.append(Mixture(f"{CORPUS}_{mix.stem}", str(mix), [str(p) for p in active], ["sfx"] * n))
    if not out:
        raise DataPrepError(f"{VARIABLE}: {split_dir}: no example with {min_sources}-{max_sources} non-silent sources")
    return out


def prepare(
    root: PathLike,
    data_dir: PathLike = "data",
    sets: Sequence[str] = ("dev", "test"),
    num_dev_per_count: Optional[int] = 200,
    min_sources: int = 2,
    max_sources: int = 4,
    force: bool = False,
) -> Dict[str, Path]:
    """Write ``<data_dir>/{dev,test}_fuss``; returns {set name: dir}.

    ``num_dev_per_count`` caps the validation examples per number of sources
    (None: all); ``min_sources``/``max_sources`` bound the non-silent sources.
    """
    base = Path(os.path.abspath(check_root(root, sets)))
    key = f"root={base} sets={' '.join(sets)} num_dev_per_count={num_dev_per_count} sources={min_sources}-{max_sources}"

    def mixtures_of(s: str) -> List[Mixture]:
        num = num_dev_per_count if s == "dev" else None
        return collect(base / "ssdata" / SPLITS[s], min_sources, max_sources, num)

    return write_sets(CORPUS, data_dir, sets, key, force, mixtures_of)


def main(argv: Optional[List[str]] = None) -> int:
    p = eval_set_parser(__doc__, CORPUS, VARIABLE)
    p.add_argument(
        "--num_dev_per_count",
        type=int,
        default=200,
        help="validation examples per source count (default 200; <=0: all)",
    )
    p.add_argument("--min_sources", type=int, default=2, help="fewest non-silent sources kept (default 2)")
    p.add_argument("--max_sources", type=int, default=4, help="most non-silent sources kept (default 4)")
    a = p.parse_args(argv)
    return run_eval_cli(
        prepare,
        a,
        num_dev_per_count=a.num_dev_per_count if a.num_dev_per_count > 0 else None,
        min_sources=a.min_sources,
        max_sources=a.max_sources,
    )


if __name__ == "__main__":
    raise SystemExit(main())
