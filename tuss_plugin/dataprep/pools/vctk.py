# SPDX-License-Identifier: Apache-2.0
"""VCTK 0.92 speech pool (``speech``), a training corpus of TUSS (Saijo et al., ICASSP 2025).

Layout (``VCTK`` in db.sh = the folder ``VCTK-Corpus-0.92`` unpacks into)::

    wav48_silence_trimmed/p225/p225_001_mic1.flac   (48 kHz mono FLAC)

Selection as in the authors' recipe: every speaker folder except p226 and
p287 (VCTK-DEMAND validation) and p232 and p257 (VCTK-DEMAND test), and only
``*_mic1.flac``. uid = ``vctk_<file stem>``.

CLI::

    python -m tuss_plugin.dataprep.pools.vctk --root "$VCTK" --pool_dir data/pool_vctk
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, audio_info, finish, parallel_map, up_to_date
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

EXCLUDED_SPEAKERS = ("p226", "p287", "p232", "p257")
AUDIO_DIR = "wav48_silence_trimmed"


def select_files(root: PathLike) -> List[Path]:
    """The ``*_mic1.flac`` files of the kept speakers, sorted."""
    root = require_root("VCTK", root, [AUDIO_DIR])
    files = []
    for spk in sorted(p for p in (root / AUDIO_DIR).iterdir() if p.is_dir()):
        if spk.name in EXCLUDED_SPEAKERS:
            continue
        files.extend(sorted(f for f in spk.iterdir() if f.name.endswith("_mic1.flac")))
    if not files:
        raise DataPrepError(f"VCTK={root}: no {AUDIO_DIR}/<speaker>/*_mic1.flac files found")
    return files


def _entry(path: Path) -> PoolEntry:
    info = audio_info(path)
    return PoolEntry(safe_id("vctk", path.name[: -len(".flac")]), str(path), "speech", info.samplerate, info.frames)


def build(root: PathLike, pool_dir: PathLike = "data/pool_vctk", nj: int = 1, force: bool = False) -> List[PoolEntry]:
    """Write ``pool_dir`` from the VCTK tree at ``root``; returns the entries."""
    root = require_root("VCTK", root, [AUDIO_DIR])
    key = make_key("vctk", root=root.resolve())
    cached = up_to_date("vctk", pool_dir, key, force)
    if cached is not None:
        return cached
    files = select_files(root)
    entries = list(parallel_map(_entry, files, nj=nj, desc="VCTK headers", chunksize=256))
    return finish("vctk", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="VCTK: the VCTK-Corpus-0.92 folder")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "vctk")
    args = parser.parse_args(argv)
    build(args.root, args.pool_dir, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
