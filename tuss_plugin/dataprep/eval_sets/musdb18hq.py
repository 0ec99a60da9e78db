# SPDX-License-Identifier: Apache-2.0
"""MUSDB18-HQ evaluation sets for music source separation.

The MSS row of Table III of the TUSS paper (K. Saijo et al., "Task-aware
Unified Source Separation", ICASSP 2025): each mixture is separated with the
prompts ``drums bass vocals other``. As in the authors' evaluation, the two
channels of a stereo track are scored separately as mono signals: every track
gives two utterances, ``musdb18hq_<track>_CH1`` (channel 0) and ``..._CH2``
(channel 1), and ``utt2channel`` tells stage 2 which channel to take from the
mixture and from every stem.

    python -m tuss_plugin.dataprep.eval_sets.musdb18hq --root $MUSDB18HQ --data_dir data

``$MUSDB18HQ`` holds ``train/`` and ``test/`` (``musdb18hq.zip``, Zenodo
3338373). Writes ``data/test_musdb18hq`` (the 50 test tracks) and
``data/dev_musdb18hq`` (the first 12, in name order, of the official
14-track validation set, taken from ``train/``; channel 0 only, ``..._CH1``,
as the authors validate on one channel). Track folder names hold
spaces and '&': the lists keep them verbatim (the rest of an scp line is the
path), utterance ids replace them with '_'.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import soundfile as sf

from tuss_plugin.dataprep.common import (
    Mixture,
    PathLike,
    eval_set_parser,
    require_root,
    run_eval_cli,
    safe_id,
    write_sets,
)
from tuss_plugin.prompts import MUSIC_STEMS
from tuss_plugin.utils.errors import DataPrepError

CORPUS = "musdb18hq"
VARIABLE = "MUSDB18HQ"
STEMS = list(MUSIC_STEMS)  # output order of the references
DEV_CHANNELS = (0,)  # validation: one channel of each track, as the authors validate
# the official validation tracks (a subset of train/; musdb / torchaudio list)
VALIDATION_TRACKS = (
    "Actions - One Minute Smile",
    "Alexander Ross - Goodbye Bolero",
    "ANiMAL - Rockshow",
    "Clara Berry And Wooldog - Waltz For My Victims",
    "Fergessen - Nos Palpitants",
    "James May - On The Line",
    "Johnny Lokke - Promises & Lies",
    "Leaf - Summerghost",
    "Meaxic - Take A Step",
    "Patrick Talbot - A Reason To Leave",
    "Skelpolu - Human Mistakes",
    "Traffic Experiment - Sirens",
    "Triviul - Angelsaint",
    "Young Griffo - Pennies",
)


def check_root(root: PathLike) -> Path:
    return require_root(VARIABLE, root, ["train/", "test/"])


def track_mixtures(track: Path, channels: Optional[Sequence[int]] = None) -> List[Mixture]:
    """One utterance per channel of a track folder (``channels``: only these
    0-based channels, those the track has; default None: all)."""
    files = [track / "mixture.wav"] + [track / f"{s}.wav" for s in STEMS]
    for f in files:
        if not f.is_file():
            raise DataPrepError(f"{f}: missing (a MUSDB18-HQ track holds mixture.wav and {', '.join(STEMS)}.wav)")
    try:
        n_channels = sf.info(str(files[0])).channels
    except RuntimeError as e:
        raise DataPrepError(f"{files[0]}: unreadable ({e})") from None
    base = f"{CORPUS}_{safe_id(track.name)}"
    keep = range(n_channels) if channels is None else [c for c in channels if c < n_channels]
    return [Mixture(f"{base}_CH{c + 1}", str(files[0]), [str(f) for f in files[1:]], list(STEMS), c) for c in keep]


def collect(root: Path, split: str, num_dev: Optional[int]) -> List[Mixture]:
    if split == "test":
        tracks = sorted(p for p in (root / "test").iterdir() if p.is_dir())
    else:
        tracks = sorted(p for p in (root / "train").iterdir() if p.is_dir() and p.name in VALIDATION_TRACKS)
        if num_dev is not None:
            tracks = tracks[:num_dev]
    if not tracks:
        raise DataPrepError(
            f"{VARIABLE}={root}: no track folders in "
            + ("test/" if split == "test" else "train/ among the official validation tracks")
        )
    out: List[Mixture] = []
    ids: Dict[str, Path] = {}
    for t in tracks:
        for m in track_mixtures(t, None if split == "test" else DEV_CHANNELS):
            if m.utt in ids and ids[m.utt] != t:
                raise DataPrepError(f"{t}: utterance id {m.utt} clashes with {ids[m.utt]}")
            ids[m.utt] = t
            out.append(m)
    return out


def prepare(
    root: PathLike,
    data_dir: PathLike = "data",
    sets: Sequence[str] = ("dev", "test"),
    num_dev: Optional[int] = 12,
    force: bool = False,
) -> Dict[str, Path]:
    """Write ``<data_dir>/{dev,test}_musdb18hq`` (with ``utt2channel``; dev: channel 0
    only); returns {set name: dir}.

    ``num_dev`` caps the validation tracks (default 12 of the 14, as the
    authors; None: all 14).
    """
    base = Path(os.path.abspath(check_root(root)))
    key = f"root={base} sets={' '.join(sets)} num_dev={num_dev} dev_channels={list(DEV_CHANNELS)}"
    return write_sets(CORPUS, data_dir, sets, key, force, lambda s: collect(base, s, num_dev))


def main(argv: Optional[List[str]] = None) -> int:
    p = eval_set_parser(__doc__, CORPUS, VARIABLE)
    p.add_argument("--num_dev", type=int, default=12, help="validation tracks (default 12; <=0: all 14)")
    a = p.parse_args(argv)
    return run_eval_cli(prepare, a, num_dev=a.num_dev if a.num_dev > 0 else None)


if __name__ == "__main__":
    raise SystemExit(main())
