# SPDX-License-Identifier: Apache-2.0
"""MoisesDB stem pool after source activity detection (``bass/drums/vocals/other``).

A training corpus of TUSS (Saijo et al., ICASSP 2025). Layout (``MOISESDB``
in db.sh: the folder holding ``moisesdb_v0.1/``, or that folder itself)::

    moisesdb_v0.1/<track-uuid>/data.json
    moisesdb_v0.1/<track-uuid>/<stemName>/<source-uuid>.wav     (44.1 kHz)

The split is the query-bandit ``reproducibility/splits.csv`` (header
``song_id,split``; folds 1-3 = train), given with ``--splits_csv`` (default
``<root>/splits.csv``). As in the authors' recipe, every source file listed
under ``stems[].tracks[].id`` of a train track's ``data.json`` is used
(``<stemName>/<id>.wav``); stems other than bass, drums and vocals are
``other``. Each file goes through the SAD of :mod:`tuss_plugin.dataprep.pools.sad`
(``min_power 1e-7``, ``min_thres 1e-5``), kept windows to
``<out_dir>/data/<stemName>/<id>_<k>.wav``. uid = ``moisesdb_<id>_<k>``.

CLI::

    python -m tuss_plugin.dataprep.pools.moisesdb --root "$MOISESDB" --splits_csv splits.csv \
        --pool_dir data/pool_moisesdb_sad --out_dir data/local/moisesdb_sad --nj 2
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, finish, up_to_date
from tuss_plugin.dataprep.pools.sad import MOISESDB_SAD, SADConfig, sad_files
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

TRAIN_FOLDS = (1, 2, 3)
NAMED_STEMS = ("bass", "drums", "vocals")


def prompt_of(stem_name: str) -> str:
    """bass/drums/vocals keep their name; every other stem is ``other``."""
    return stem_name if stem_name in NAMED_STEMS else "other"


def data_dir(root: PathLike) -> Path:
    """``<root>/moisesdb_v0.1`` (or ``root`` when it holds the track folders), checked."""
    r = Path(root) if root else None
    if r is not None and r.is_dir() and not (r / "moisesdb_v0.1").is_dir():
        if any((d / "data.json").is_file() for d in r.iterdir() if d.is_dir()):
            return r
    r = require_root("MOISESDB", root, ["moisesdb_v0.1"])
    return r / "moisesdb_v0.1"


def read_splits(path: PathLike, folds: Sequence[int] = TRAIN_FOLDS) -> List[str]:
    """Track ids of ``folds`` in the query-bandit splits csv (``song_id,split``)."""
    path = Path(path)
    if not path.is_file():
        raise DataPrepError(
            f"{path}: MoisesDB split file not found (reproducibility/splits.csv of the query-bandit "
            "repository; set MOISESDB_SPLITS or pass --splits_csv)"
        )
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not {"song_id", "split"} <= set(reader.fieldnames or []):
            raise DataPrepError(f"{path}: expected the header song_id,split, got {reader.fieldnames}")
        ids = []
        for lineno, row in enumerate(reader, 2):
            try:
                fold = int(row["split"])
            except (TypeError, ValueError):
                raise DataPrepError(f"{path}:{lineno}: fold {row['split']!r} is not an integer") from None
            if fold in folds:
                ids.append(row["song_id"].strip())
    if not ids:
        raise DataPrepError(f"{path}: no track in folds {list(folds)}")
    return ids


def track_sources(track_dir: Path) -> List[Tuple[str, Path]]:
    """``(prompt, file)`` for every source listed in ``data.json`` (``<stemName>/<id>.wav``)."""
    meta = track_dir / "data.json"
    try:
        stems = json.loads(meta.read_text(encoding="utf-8"))["stems"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataPrepError(f"{meta}: cannot read the stems list ({exc})") from None
    out = []
    for stem in stems:
        name = stem["stemName"]
        for tr in stem.get("tracks", []):
            f = track_dir / name / f"{tr['id']}.wav"
            if not f.is_file():
                raise DataPrepError(f"{meta}: listed source {f} not found")
            out.append((prompt_of(name), f))
    return out


def build(
    root: PathLike,
    splits_csv: Optional[PathLike] = None,
    pool_dir: PathLike = "data/pool_moisesdb_sad",
    out_dir: PathLike = "data/local/moisesdb_sad",
    window_seconds: float = 8.0,
    hop_seconds: float = 4.0,
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` (and SAD windows under ``out_dir``) from MoisesDB at ``root``."""
    ddir = data_dir(root)
    splits = Path(splits_csv) if splits_csv else Path(root) / "splits.csv"
    ids = read_splits(splits)
    cfg = SADConfig(window_seconds=window_seconds, hop_seconds=hop_seconds, **MOISESDB_SAD)
    key = make_key(
        "moisesdb_sad", root=ddir.resolve(), splits=splits.resolve(), out_dir=Path(out_dir).resolve(), sad=cfg.key()
    )
    cached = up_to_date("moisesdb_sad", pool_dir, key, force)
    if cached is not None:
        return cached
    missing = [i for i in ids if not (ddir / i / "data.json").is_file()]
    if missing:
        raise DataPrepError(
            f"MOISESDB={root}: {len(missing)} train tracks of {splits} have no {ddir.name}/<id>/data.json "
            f"(e.g. {missing[0]})"
        )
    sources: List[Tuple[str, Path]] = []
    for i in ids:
        sources.extend(track_sources(ddir / i))
    results = sad_files([f for _, f in sources], out_dir, cfg, nj=nj, desc="MoisesDB SAD")
    entries = []
    for (prompt, f), windows in zip(sources, results):
        for k, w in enumerate(windows):
            uid = safe_id("moisesdb", f.stem, str(k))
            entries.append(PoolEntry(uid, w["path"], prompt, w["fs"], w["num_samples"]))
    return finish("moisesdb_sad", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="MOISESDB: the folder holding moisesdb_v0.1/")
    parser.add_argument("--splits_csv", default=None, help="query-bandit splits.csv (default: <root>/splits.csv)")
    parser.add_argument("--window_seconds", type=float, default=8.0, help="SAD window (default: %(default)s)")
    parser.add_argument("--hop_seconds", type=float, default=4.0, help="SAD hop (default: %(default)s)")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "moisesdb_sad", derived=True)
    args = parser.parse_args(argv)
    build(
        args.root,
        args.splits_csv,
        args.pool_dir,
        args.out_dir,
        args.window_seconds,
        args.hop_seconds,
        nj=args.nj,
        force=args.force,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
