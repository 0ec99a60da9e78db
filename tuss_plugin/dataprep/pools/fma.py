# SPDX-License-Identifier: Apache-2.0
"""FMA medium music pool (``musicbg``), a training corpus of TUSS (Saijo et al., ICASSP 2025).

Layout (``FMA`` in db.sh)::

    fma_medium/000/000002.mp3 ...              (30 s clips, mostly 44.1 kHz stereo)
    fma_metadata/tracks.csv                    2-row column header + index-name row "track_id"

As in the authors' recipe: tracks whose ``(set, subset)`` is not ``large``
(small + medium, i.e. the content of ``fma_medium``) and whose
``(set, split)`` is ``training``; a file is dropped when it is missing, fails
to decode, decodes to all zeros, or makes the MP3 decoder report
``dequantization failed`` / ``too large for available bit count``. Every file
is decoded once (``--nj`` processes help); ``num_samples`` is the decoded
length. soundfile decodes MP3 with libsndfile >= 1.1. uid = ``fma_<6-digit id>``.

CLI::

    python -m tuss_plugin.dataprep.pools.fma --root "$FMA" --pool_dir data/pool_fma --nj 2
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, finish, parallel_map, up_to_date
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

log = logging.getLogger(__name__)

AUDIO_DIR = "fma_medium"
TRACKS_CSV = "fma_metadata/tracks.csv"
DECODER_ERRORS = ("dequantization failed", "too large for available bit count")


def read_tracks(path: PathLike, split: str = "training") -> List[str]:
    """6-digit ids of the tracks with ``(set, subset) != large`` and ``(set, split) == split``.

    ``tracks.csv`` has two header rows (top level, sub level) and a third row
    naming the index (``track_id``); it is parsed with the csv module.
    """
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            top, sub, index_row = next(reader), next(reader), next(reader)
        except StopIteration:
            raise DataPrepError(f"{path}: fewer than 3 header rows") from None
        cols = list(zip(top, sub))
        try:
            i_subset = cols.index(("set", "subset"))
            i_split = cols.index(("set", "split"))
        except ValueError:
            raise DataPrepError(
                f"{path}: columns (set, subset) and (set, split) not found in the 2-row header"
            ) from None
        if not index_row or index_row[0] != "track_id":
            raise DataPrepError(f"{path}: third header row should start with track_id, got {index_row[:1]}")
        ids = []
        for lineno, row in enumerate(reader, 4):
            if not row:
                continue
            if len(row) <= max(i_subset, i_split):
                raise DataPrepError(f"{path}: record {lineno} has {len(row)} fields, expected {len(top)}")
            if row[i_subset] != "large" and row[i_split] == split:
                try:
                    ids.append(f"{int(row[0]):06d}")
                except ValueError:
                    raise DataPrepError(f"{path}: record {lineno}: track id {row[0]!r} is not an integer") from None
    return ids


class _CaptureStderr:
    """Capture what C libraries write to file descriptor 2 (the MP3 decoder's messages)."""

    def __enter__(self) -> "_CaptureStderr":
        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc: object) -> None:
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()


def check_file(path: str) -> Tuple[Optional[int], Optional[int], str]:
    """``(fs, num_samples, "")`` for a usable file, else ``(None, None, reason)``."""
    if not os.path.isfile(path):
        return None, None, "missing"
    with _CaptureStderr() as cap:
        try:
            audio, fs = sf.read(path, dtype="float32")
        except Exception as exc:
            audio, fs, err = None, None, f"undecodable ({str(exc).strip()[:80]})"
    if audio is None:
        return None, None, err
    for msg in DECODER_ERRORS:
        if msg in cap.text:
            return None, None, msg
    if audio.size == 0 or not np.any(audio):
        return None, None, "all zeros"
    return int(fs), int(audio.shape[0]), ""


def build(
    root: PathLike,
    pool_dir: PathLike = "data/pool_fma",
    split: str = "training",
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` from FMA at ``root`` (``fma_medium/`` + ``fma_metadata/tracks.csv``)."""
    root = require_root("FMA", root, [AUDIO_DIR, TRACKS_CSV])
    if "MP3" not in sf.available_formats():
        raise DataPrepError(
            f"FMA: this soundfile's libsndfile {sf.__libsndfile_version__} cannot decode MP3 (needs libsndfile >= 1.1; "
            "upgrade soundfile with `make -C tools`)"
        )
    key = make_key("fma", root=root.resolve(), split=split)
    cached = up_to_date("fma", pool_dir, key, force)
    if cached is not None:
        return cached
    ids = read_tracks(root / TRACKS_CSV, split)
    if not ids:
        raise DataPrepError(f"{root / TRACKS_CSV}: no small/medium track with (set, split) = {split}")
    paths = [str(root / AUDIO_DIR / i[:3] / f"{i}.mp3") for i in ids]
    entries, dropped = [], {}
    checks = parallel_map(check_file, paths, nj=nj, desc="FMA decode check", chunksize=8)
    for i, path, (fs, n, why) in zip(ids, paths, checks):
        if fs is None:
            dropped.setdefault(why.split(" (")[0], []).append(path)
            continue
        entries.append(PoolEntry(safe_id("fma", i), path, "musicbg", fs, n))
    for why, files in sorted(dropped.items()):
        log.warning("FMA: %d file(s) dropped (%s), e.g. %s", len(files), why, files[0])
    return finish("fma", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="FMA: the folder holding fma_medium/ and fma_metadata/")
    parser.add_argument(
        "--split", default="training", choices=("training", "validation", "test"), help="default: %(default)s"
    )
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "fma")
    args = parser.parse_args(argv)
    build(args.root, args.pool_dir, args.split, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
