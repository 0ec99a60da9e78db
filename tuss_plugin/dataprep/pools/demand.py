# SPDX-License-Identifier: Apache-2.0
"""DEMAND noise pool (``sfxbg``), a training corpus of TUSS (Saijo et al., ICASSP 2025).

Layout (``DEMAND`` in db.sh; one ``<ENV>_48k.zip`` per environment)::

    DKITCHEN/ch01.wav ... ch16.wav     (48 kHz, one mono file per microphone)

As in the authors' recipe: the 13 environments that are not Valentini test
noises (DLIVING, OOFFICE, TBUS, PCAFETER, SPSQUARE are dropped), ``ch01.wav``
only, full 8 s windows every 4 s, written to ``<out_dir>/<ENV>_<NNN>.wav``.
Environments missing from the root are reported and skipped. uid =
``demand_<ENV>_<NNN>``.

CLI::

    python -m tuss_plugin.dataprep.pools.demand --root "$DEMAND" \
        --pool_dir data/pool_demand --out_dir data/local/demand
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, cut_windows, finish, parallel_map, up_to_date
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

log = logging.getLogger(__name__)

ENVIRONMENTS = (
    "DKITCHEN",
    "DLIVING",
    "DWASHING",
    "NFIELD",
    "NPARK",
    "NRIVER",
    "OHALLWAY",
    "OMEETING",
    "OOFFICE",
    "PCAFETER",
    "PRESTO",
    "PSTATION",
    "SCAFE",
    "SPSQUARE",
    "STRAFFIC",
    "TBUS",
    "TCAR",
    "TMETRO",
)
#: the Valentini (VCTK-DEMAND) test noises
TEST_ENVIRONMENTS = ("DLIVING", "OOFFICE", "TBUS", "PCAFETER", "SPSQUARE")
TRAIN_ENVIRONMENTS = tuple(e for e in ENVIRONMENTS if e not in TEST_ENVIRONMENTS)


def _segment(env: str, root: str, out_dir: str, window: float, hop: float) -> List[dict]:
    return cut_windows(
        Path(root) / env / "ch01.wav",
        out_dir,
        lambda i: f"{env}_{i:03d}.wav",
        window,
        hop,
        Path(out_dir) / f".{env}.segments.json",
    )


def build(
    root: PathLike,
    pool_dir: PathLike = "data/pool_demand",
    out_dir: PathLike = "data/local/demand",
    window_seconds: float = 8.0,
    hop_seconds: float = 4.0,
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` (and the segments under ``out_dir``) from DEMAND at ``root``."""
    root = require_root("DEMAND", root, [])
    present = [e for e in TRAIN_ENVIRONMENTS if (root / e / "ch01.wav").is_file()]
    if not present:
        raise DataPrepError(
            f"DEMAND={root}: none of the environments {', '.join(TRAIN_ENVIRONMENTS)} has <ENV>/ch01.wav "
            "(unzip the 48 kHz <ENV>_48k.zip files into it)"
        )
    absent = [e for e in TRAIN_ENVIRONMENTS if e not in present]
    if absent:
        log.warning("DEMAND=%s: environments %s missing (no <ENV>/ch01.wav); skipped", root, ", ".join(absent))
    key = make_key(
        "demand",
        root=root.resolve(),
        out_dir=Path(out_dir).resolve(),
        envs=",".join(present),
        window=window_seconds,
        hop=hop_seconds,
    )
    cached = up_to_date("demand", pool_dir, key, force)
    if cached is not None:
        return cached
    job = functools.partial(_segment, root=str(root), out_dir=str(out_dir), window=window_seconds, hop=hop_seconds)
    entries = []
    for env, segs in zip(present, parallel_map(job, present, nj=nj, desc="DEMAND segments", chunksize=1)):
        for i, s in enumerate(segs):
            uid = safe_id("demand", env, f"{i:03d}")
            entries.append(PoolEntry(uid, s["path"], "sfxbg", s["fs"], s["num_samples"]))
    return finish("demand", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="DEMAND: the folder holding the <ENV>/ folders")
    parser.add_argument("--window_seconds", type=float, default=8.0, help="default: %(default)s")
    parser.add_argument("--hop_seconds", type=float, default=4.0, help="default: %(default)s")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "demand", derived=True)
    args = parser.parse_args(argv)
    build(args.root, args.pool_dir, args.out_dir, args.window_seconds, args.hop_seconds, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
