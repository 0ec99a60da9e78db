# SPDX-License-Identifier: Apache-2.0
"""FSD50K pool (``sfx`` / ``sfxbg``), a training corpus of TUSS (Saijo et al., ICASSP 2025).

Layout (``FSD50K`` in db.sh)::

    FSD50K.dev_audio/<fname>.wav                       (44.1 kHz mono)
    FSD50K.ground_truth/dev.csv                        fname,labels,mids,split  (smeared labels)
    FSD50K.metadata/collection/collection_dev.csv      fname,labels,mids        (raw annotations)
    ontology.json                                      AudioSet ontology (github audioset/ontology)

Selection as in the authors' recipe (dev clips, ``split == train`` for the pool):

1. label count = number of comma items of the *collection* label (empty = 1),
   joined on ``fname`` (the authors pair the two csvs by row position);
2. drop clips whose ground-truth ``mids`` contain a *descendant* (the node
   itself excluded) of Human voice ``/m/09l8g``, Respiratory sounds
   ``/m/09hlz4``, Human group actions ``/t/dd00012`` or Music ``/m/04rlf``;
3. duration < ``bg_seconds`` (8 s) = foreground, >= = background:
   single & fg -> ``sfx``; single & bg -> ``sfxbg``; multi & bg -> ``sfxbg``;
   multi & fg -> dropped.

uid = ``fsd50k_<fname>``.

CLI::

    python -m tuss_plugin.dataprep.pools.fsd50k --root "$FSD50K" --pool_dir data/pool_fsd50k
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, audio_info, finish, parallel_map, up_to_date
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

#: Human voice, Respiratory sounds, Human group actions, Music
EXCLUDED_ANCESTORS = ("/m/09l8g", "/m/09hlz4", "/t/dd00012", "/m/04rlf")
DEV_CSV = "FSD50K.ground_truth/dev.csv"
COLLECTION_CSV = "FSD50K.metadata/collection/collection_dev.csv"
AUDIO_DIR = "FSD50K.dev_audio"


def read_csv(path: PathLike, columns: Sequence[str]) -> List[Dict[str, str]]:
    """Rows of a csv with a header, checking that ``columns`` exist."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DataPrepError(f"{path}: missing column(s) {', '.join(missing)} (header: {reader.fieldnames})")
        return list(reader)


def descendants(ontology: Iterable[dict], ancestors: Sequence[str]) -> Set[str]:
    """All descendants of ``ancestors`` (the ancestors themselves excluded unless reachable as children)."""
    children = {node["id"]: list(node.get("child_ids", [])) for node in ontology}
    out: Set[str] = set()
    stack = [c for a in ancestors for c in children.get(a, [])]
    while stack:
        node = stack.pop()
        if node in out:
            continue
        out.add(node)
        stack.extend(children.get(node, []))
    return out


def label_count(collection_labels: Optional[str]) -> int:
    """Number of comma-separated raw labels; an empty label counts as 1."""
    if collection_labels is None or collection_labels.strip() == "":
        return 1
    return len(collection_labels.split(","))


def classify(num_labels: int, seconds: float, bg_seconds: float = 8.0) -> Optional[str]:
    """Prompt for a clip: ``sfx``, ``sfxbg`` or None (dropped: multi-label foreground)."""
    if seconds < bg_seconds:
        return "sfx" if num_labels == 1 else None
    return "sfxbg"


def select(
    dev_rows: Sequence[Dict[str, str]],
    collection_rows: Sequence[Dict[str, str]],
    excluded_mids: Set[str],
    split: str = "train",
) -> List[Tuple[str, int]]:
    """``(fname, label count)`` of the ``split`` clips that pass the ontology filter."""
    raw = {r["fname"].strip(): r.get("labels") for r in collection_rows}
    out = []
    for r in dev_rows:
        if r["split"].strip() != split:
            continue
        fname = r["fname"].strip()
        if fname not in raw:
            raise DataPrepError(f"{COLLECTION_CSV}: no row for clip {fname} of {DEV_CSV}")
        mids = {m.strip() for m in (r["mids"] or "").split(",") if m.strip()}
        if mids & excluded_mids:
            continue
        out.append((fname, label_count(raw[fname])))
    return out


def _header(path: str) -> Tuple[int, int]:
    info = audio_info(path)
    return info.samplerate, info.frames


def build(
    root: PathLike,
    pool_dir: PathLike = "data/pool_fsd50k",
    ontology: Optional[PathLike] = None,
    bg_seconds: float = 8.0,
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` from FSD50K at ``root``; ``ontology`` defaults to ``<root>/ontology.json``."""
    root = require_root("FSD50K", root, [AUDIO_DIR, DEV_CSV, COLLECTION_CSV])
    onto_path = Path(ontology) if ontology else root / "ontology.json"
    if not onto_path.is_file():
        raise DataPrepError(
            f"{onto_path}: AudioSet ontology.json not found (from github.com/audioset/ontology; "
            "put it in the FSD50K root or set FSD50K_ONTOLOGY / --ontology)"
        )
    key = make_key("fsd50k", root=root.resolve(), ontology=onto_path.resolve(), bg_seconds=bg_seconds)
    cached = up_to_date("fsd50k", pool_dir, key, force)
    if cached is not None:
        return cached
    try:
        onto = json.loads(onto_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataPrepError(f"{onto_path}: invalid JSON ({exc})") from None
    excluded = descendants(onto, EXCLUDED_ANCESTORS)
    dev = read_csv(root / DEV_CSV, ["fname", "labels", "mids", "split"])
    coll = read_csv(root / COLLECTION_CSV, ["fname", "labels"])
    chosen = select(dev, coll, excluded)
    paths = [str(root / AUDIO_DIR / f"{fname}.wav") for fname, _ in chosen]
    headers = list(parallel_map(_header, paths, nj=nj, desc="FSD50K headers", chunksize=256))
    entries = []
    for (fname, n_labels), path, (fs, n) in zip(chosen, paths, headers):
        prompt = classify(n_labels, n / fs, bg_seconds)
        if prompt is not None:
            entries.append(PoolEntry(safe_id("fsd50k", fname), path, prompt, fs, n))
    return finish("fsd50k", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="FSD50K: the folder with FSD50K.dev_audio/ etc.")
    parser.add_argument("--ontology", default=None, help="AudioSet ontology.json (default: <root>/ontology.json)")
    parser.add_argument(
        "--bg_seconds", type=float, default=8.0, help="foreground/background border (default: %(default)s)"
    )
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "fsd50k")
    args = parser.parse_args(argv)
    build(args.root, args.pool_dir, args.ontology, args.bg_seconds, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
