# SPDX-License-Identifier: Apache-2.0
"""WHAM! 48 kHz noise pool (``sfxbg``), a training corpus of TUSS (Saijo et al., ICASSP 2025).

Layout (``WHAM_NOISE`` in db.sh; ``high_res_wham.zip``; the root may also be
``high_res_wham/`` itself)::

    high_res_wham/audio/<name>.wav              (48 kHz, 2 channels, unsegmented)
    high_res_wham/high_res_metadata.csv         columns include Filename, WHAM! Split

As in the authors' recipe: rows whose ``WHAM! Split`` is ``Train``, cut into
full 8 s windows every 4 s (channels kept; files shorter than 8 s give none),
written to ``<out_dir>/<file stem>/000.wav, 001.wav, ...``. uid =
``whamnoise_<stem>_<NNN>``.

CLI::

    python -m tuss_plugin.dataprep.pools.wham_noise --root "$WHAM_NOISE" \
        --pool_dir data/pool_wham_noise --out_dir data/local/wham_noise
"""

from __future__ import annotations

import argparse
import csv
import functools
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, cut_windows, finish, parallel_map, up_to_date
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

METADATA = "high_res_metadata.csv"


def corpus_dir(root: PathLike) -> Path:
    """``<root>/high_res_wham`` (or ``root`` itself when it is that folder), checked."""
    r = Path(root) if root else None
    if r is not None and (r / "audio").is_dir() and (r / METADATA).is_file():
        return r
    r = require_root("WHAM_NOISE", root, ["high_res_wham/audio", f"high_res_wham/{METADATA}"])
    return r / "high_res_wham"


def train_files(corpus: Path) -> List[str]:
    """File names of the ``Train`` rows of the metadata csv (parsed by header name)."""
    path = corpus / METADATA
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in (reader.fieldnames or [])]
        for col in ("Filename", "WHAM! Split"):
            if col not in fields:
                raise DataPrepError(f"{path}: missing column {col!r} (header: {reader.fieldnames})")
        reader.fieldnames = fields
        names = [Path(row["Filename"].strip()).name for row in reader if (row["WHAM! Split"] or "").strip() == "Train"]
    if not names:
        raise DataPrepError(f"{path}: no row with 'WHAM! Split' = Train")
    return names


def _segment(name: str, corpus: str, out_dir: str, window: float, hop: float) -> List[dict]:
    src = Path(corpus) / "audio" / name
    if not src.is_file():
        raise DataPrepError(f"WHAM_NOISE: {src} (listed in {METADATA}) not found")
    stem = src.stem
    dest = Path(out_dir) / stem
    return cut_windows(src, dest, lambda i: f"{i:03d}.wav", window, hop, dest / ".segments.json")


def build(
    root: PathLike,
    pool_dir: PathLike = "data/pool_wham_noise",
    out_dir: PathLike = "data/local/wham_noise",
    window_seconds: float = 8.0,
    hop_seconds: float = 4.0,
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` (and the segments under ``out_dir``) from WHAM! noise at ``root``."""
    corpus = corpus_dir(root)
    key = make_key(
        "wham_noise", root=corpus.resolve(), out_dir=Path(out_dir).resolve(), window=window_seconds, hop=hop_seconds
    )
    cached = up_to_date("wham_noise", pool_dir, key, force)
    if cached is not None:
        return cached
    names = sorted(set(train_files(corpus)))
    job = functools.partial(_segment, corpus=str(corpus), out_dir=str(out_dir), window=window_seconds, hop=hop_seconds)
    entries = []
    for name, segs in zip(names, parallel_map(job, names, nj=nj, desc="WHAM! noise segments", chunksize=1)):
        for i, s in enumerate(segs):
            uid = safe_id("whamnoise", Path(name).stem, f"{i:03d}")
            entries.append(PoolEntry(uid, s["path"], "sfxbg", s["fs"], s["num_samples"]))
    return finish("wham_noise", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="WHAM_NOISE: the folder holding high_res_wham/")
    parser.add_argument("--window_seconds", type=float, default=8.0, help="default: %(default)s")
    parser.add_argument("--hop_seconds", type=float, default=4.0, help="default: %(default)s")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "wham_noise", derived=True)
    args = parser.parse_args(argv)
    build(args.root, args.pool_dir, args.out_dir, args.window_seconds, args.hop_seconds, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
