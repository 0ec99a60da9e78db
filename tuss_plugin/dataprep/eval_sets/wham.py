# SPDX-License-Identifier: Apache-2.0
"""WHAM! (max, 16 kHz) evaluation sets for noisy speech separation.

The noisy-SS row of Table III of the TUSS paper (K. Saijo et al., "Task-aware
Unified Source Separation", ICASSP 2025): each mixture is separated with the
prompts ``speech speech sfxbg``.

    python -m tuss_plugin.dataprep.eval_sets.wham --root $WHAM --data_dir data

``$WHAM`` holds ``wav16k/`` as written by the official generation scripts,
either the WHAM! tree (``wav16k/max/<split>/{mix_both,s1,s2,noise}``) or the
WHAMR! tree the authors read (``mix_both_anechoic, s1_anechoic, s2_anechoic,
noise``); the WHAMR! folders are used when both exist. Writes
``data/test_wham`` (``tt``, 3,000 mixtures) and ``data/dev_wham`` (the first
500 of ``cv`` in name order). The recipe downloads neither WSJ0 nor WHAM!:
the mixtures are generated from the licensed WSJ0 corpus.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tuss_plugin.dataprep.common import Mixture, PathLike, eval_set_parser, require_root, run_eval_cli, write_sets
from tuss_plugin.utils.errors import DataPrepError

CORPUS = "wham"
VARIABLE = "WHAM"
PROMPTS = ["speech", "speech", "sfxbg"]
SPLITS = {"dev": "cv", "test": "tt"}
# (mixture, speaker 1, speaker 2, noise) folders of each layout, preferred first
SCHEMES: Dict[str, Tuple[str, str, str, str]] = {
    "whamr": ("mix_both_anechoic", "s1_anechoic", "s2_anechoic", "noise"),
    "wham": ("mix_both", "s1", "s2", "noise"),
}
NEED = (
    "wav16k/ with wav16k/<mode>/{cv,tt}/ holding either mix_both/ s1/ s2/ noise/ (WHAM!) "
    "or mix_both_anechoic/ s1_anechoic/ s2_anechoic/ noise/ (WHAMR!)"
)


def find_scheme(split_dir: Path, scheme: str = "auto") -> Tuple[str, str, str, str]:
    """The folder names of the layout found in ``split_dir``."""
    for name in SCHEMES if scheme == "auto" else [scheme]:
        folders = SCHEMES[name]
        if all((split_dir / f).is_dir() for f in folders):
            return folders
    raise DataPrepError(
        f"{VARIABLE}: {split_dir}: neither a WHAM! (mix_both/ s1/ s2/ noise/) nor a WHAMR! "
        f"(mix_both_anechoic/ s1_anechoic/ s2_anechoic/ noise/) layout (the directory must hold {NEED})"
    )


def check_root(root: PathLike, sets: Sequence[str] = ("dev", "test"), mode: str = "max", scheme: str = "auto") -> Path:
    base = require_root(VARIABLE, root, ["wav16k/"])
    for s in sets:
        d = base / "wav16k" / mode / SPLITS[s]
        if not d.is_dir():
            raise DataPrepError(
                f"{VARIABLE}={root}: missing wav16k/{mode}/{SPLITS[s]}/ (the directory must hold {NEED})"
            )
        find_scheme(d, scheme)
    return base


def collect(split_dir: Path, scheme: str, num: Optional[int]) -> List[Mixture]:
    mix_dir, s1, s2, noise = find_scheme(split_dir, scheme)
    names = sorted(p.name for p in (split_dir / mix_dir).glob("*.wav"))
    if num is not None:
        names = names[:num]
    if not names:
        raise DataPrepError(f"{VARIABLE}: {split_dir / mix_dir}: no .wav files")
    out = []
    for name in names:
        refs = [split_dir / f / name for f in (s1, s2, noise)]
        for r in refs:
            if not r.is_file():
                raise DataPrepError(f"{r}: missing (a reference of {split_dir / mix_dir / name})")
        out.append(
            Mixture(
                f"{CORPUS}_{Path(name).stem}", str(split_dir / mix_dir / name), [str(r) for r in refs], list(PROMPTS)
            )
        )
    return out


def prepare(
    root: PathLike,
    data_dir: PathLike = "data",
    sets: Sequence[str] = ("dev", "test"),
    num_dev: Optional[int] = 500,
    mode: str = "max",
    scheme: str = "auto",
    force: bool = False,
) -> Dict[str, Path]:
    """Write ``<data_dir>/{dev,test}_wham``; returns {set name: dir}.

    ``mode`` is the WHAM! length mode (``max``, as in the paper, or ``min``);
    ``scheme`` forces a layout (``wham``/``whamr``, default ``auto``).
    """
    base = Path(os.path.abspath(check_root(root, sets, mode, scheme)))
    key = f"root={base} sets={' '.join(sets)} num_dev={num_dev} mode={mode} scheme={scheme}"
    return write_sets(
        CORPUS,
        data_dir,
        sets,
        key,
        force,
        lambda s: collect(base / "wav16k" / mode / SPLITS[s], scheme, num_dev if s == "dev" else None),
    )


def main(argv: Optional[List[str]] = None) -> int:
    p = eval_set_parser(__doc__, CORPUS, VARIABLE)
    p.add_argument("--num_dev", type=int, default=500, help="validation mixtures (default 500; <=0: all)")
    p.add_argument("--mode", choices=["max", "min"], default="max", help="WHAM! length mode (default max)")
    p.add_argument(
        "--scheme",
        choices=["auto", "wham", "whamr"],
        default="auto",
        help="folder layout (default: auto, WHAMR! names preferred)",
    )
    a = p.parse_args(argv)
    return run_eval_cli(prepare, a, num_dev=a.num_dev if a.num_dev > 0 else None, mode=a.mode, scheme=a.scheme)


if __name__ == "__main__":
    raise SystemExit(main())
