# SPDX-License-Identifier: Apache-2.0
"""MUSDB18-HQ stem pool after source activity detection (``drums/bass/vocals/other``).

A training corpus of TUSS (Saijo et al., ICASSP 2025). Layout (``MUSDB18HQ``
in db.sh; ``musdb18hq.zip`` unpacks to ``train/`` and ``test/``)::

    train/<Artist - Title>/{mixture,drums,bass,other,vocals}.wav   (44.1 kHz stereo)

The 86 ``train`` tracks that are not in the official 14-track validation set
are run through the BSRNN-style SAD of :mod:`tuss_plugin.dataprep.pools.sad`
(``min_power 1e-5``, ``min_thres 1e-3``); kept 8 s windows are written to
``<out_dir>/data/<Track>/<stem>_<k>.wav``. uid = ``musdb_<Track>_<stem>_<k>``
(characters other than letters, digits, ``.``, ``+``, ``-`` become ``_``).

CLI::

    python -m tuss_plugin.dataprep.pools.musdb_sad --root "$MUSDB18HQ" \
        --pool_dir data/pool_musdb_sad --out_dir data/local/musdb_sad --nj 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.eval_sets.musdb18hq import VALIDATION_TRACKS  # official validation tracks (from train/)
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, finish, up_to_date
from tuss_plugin.dataprep.pools.sad import MUSDB_SAD, SADConfig, sad_files
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.prompts import MUSIC_STEMS
from tuss_plugin.utils.errors import DataPrepError

STEMS = MUSIC_STEMS


def train_tracks(root: PathLike) -> List[Path]:
    """Track folders of ``train/`` minus the validation tracks, sorted; each must hold the 4 stems."""
    root = require_root("MUSDB18HQ", root, ["train"])
    tracks = sorted(p for p in (root / "train").iterdir() if p.is_dir() and p.name not in VALIDATION_TRACKS)
    if not tracks:
        raise DataPrepError(f"MUSDB18HQ={root}: train/ holds no track folder outside the validation set")
    for t in tracks:
        missing = [s for s in STEMS if not (t / f"{s}.wav").is_file()]
        if missing:
            raise DataPrepError(f"MUSDB18HQ: {t} lacks {', '.join(s + '.wav' for s in missing)}")
    return tracks


def build(
    root: PathLike,
    pool_dir: PathLike = "data/pool_musdb_sad",
    out_dir: PathLike = "data/local/musdb_sad",
    window_seconds: float = 8.0,
    hop_seconds: float = 4.0,
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` (and the SAD windows under ``out_dir``) from MUSDB18-HQ at ``root``."""
    cfg = SADConfig(window_seconds=window_seconds, hop_seconds=hop_seconds, **MUSDB_SAD)
    tracks = train_tracks(root)
    key = make_key(
        "musdb_sad", root=Path(root).resolve(), out_dir=Path(out_dir).resolve(), sad=cfg.key(), tracks=len(tracks)
    )
    cached = up_to_date("musdb_sad", pool_dir, key, force)
    if cached is not None:
        return cached
    files = [(t, s) for t in tracks for s in STEMS]
    results = sad_files([t / f"{s}.wav" for t, s in files], out_dir, cfg, nj=nj, desc="MUSDB18-HQ SAD")
    entries = []
    for (track, stem), windows in zip(files, results):
        for k, w in enumerate(windows):
            uid = safe_id("musdb", track.name, stem, str(k))
            entries.append(PoolEntry(uid, w["path"], stem, w["fs"], w["num_samples"]))
    return finish("musdb_sad", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="MUSDB18HQ: the folder holding train/ and test/")
    parser.add_argument("--window_seconds", type=float, default=8.0, help="SAD window (default: %(default)s)")
    parser.add_argument("--hop_seconds", type=float, default=4.0, help="SAD hop (default: %(default)s)")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "musdb_sad", derived=True)
    args = parser.parse_args(argv)
    build(args.root, args.pool_dir, args.out_dir, args.window_seconds, args.hop_seconds, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
