# SPDX-License-Identifier: Apache-2.0
"""VCTK-DEMAND (Valentini et al., DataShare 10283/2791) evaluation sets for SE.

The speech-enhancement row of Table III of the TUSS paper (K. Saijo et al.,
"Task-aware Unified Source Separation", ICASSP 2025): each noisy file is
separated with the prompts ``speech sfxbg``.

    python -m tuss_plugin.dataprep.eval_sets.vctk_demand --root $VCTK_DEMAND --data_dir data

writes ``data/test_vctk_demand`` (all 824 files of ``noisy_testset_wav``) and
``data/dev_vctk_demand`` (the first 500, in name order, of the speakers p226
and p287 of ``noisy_trainset_28spk_wav``, the validation speakers of the
authors' setup and of ESPnet's ``vctk_noisy`` recipe).

The corpus ships no noise signal: noise = noisy - clean is written as 32-bit
float WAV (exact for the 16-bit sources) under ``--work_dir``, never into the
corpus root, which may be read-only. Each file is written atomically and kept
on a re-run, so an interrupted run resumes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf

from tuss_plugin.dataprep.common import Mixture, PathLike, eval_set_parser, require_root, run_eval_cli, write_sets
from tuss_plugin.fileio.atomic import atomic_write
from tuss_plugin.utils.errors import DataPrepError

CORPUS = "vctk_demand"
VARIABLE = "VCTK_DEMAND"
DEV_SPEAKERS = ("p226", "p287")
PROMPTS = ["speech", "sfxbg"]
# (noisy folder, clean folder, noise folder written under the work dir)
SPLITS = {
    "test": ("noisy_testset_wav", "clean_testset_wav", "noise_testset_wav"),
    "dev": ("noisy_trainset_28spk_wav", "clean_trainset_28spk_wav", "noise_trainset_28spk_wav"),
}


def check_root(root: PathLike, sets: Sequence[str] = ("dev", "test")) -> Path:
    """The root must hold the clean and noisy folders of the requested sets."""
    need: List[str] = []
    for s in ("test", "dev"):
        if s in sets:
            need += [f"{SPLITS[s][1]}/", f"{SPLITS[s][0]}/"]
    return require_root(VARIABLE, root, need)


def write_noise(noisy: Path, clean: Path, out: Path) -> None:
    """noise = noisy - clean as FLOAT WAV (kept if already complete)."""
    ni = sf.info(str(noisy))
    if out.exists():
        try:
            oi = sf.info(str(out))
            if oi.frames == ni.frames and oi.samplerate == ni.samplerate and oi.subtype == "FLOAT":
                return
        except RuntimeError:
            pass  # unreadable leftover: rewrite
    x, fs = sf.read(str(noisy), dtype="float64")
    s, fs_s = sf.read(str(clean), dtype="float64")
    if fs_s != fs or s.shape != x.shape:
        raise DataPrepError(f"{clean}: {s.shape} samples at {fs_s} Hz, but {noisy} has {x.shape} at {fs} Hz")
    noise = (x - s).astype(np.float32)
    atomic_write(out, lambda tmp: sf.write(tmp, noise, fs, subtype="FLOAT", format="WAV"))


def collect(root: Path, split: str, work_dir: Path, num: Optional[int]) -> List[Mixture]:
    noisy_dir, clean_dir, noise_name = SPLITS[split]
    names = sorted(p.name for p in (root / noisy_dir).glob("*.wav"))
    if split == "dev":
        names = [n for n in names if n[:4] in DEV_SPEAKERS]
    if num is not None:
        names = names[:num]
    if not names:
        raise DataPrepError(
            f"{VARIABLE}={root}: no .wav files in {noisy_dir}/"
            + (f" of the speakers {', '.join(DEV_SPEAKERS)}" if split == "dev" else "")
        )
    noise_dir = work_dir / noise_name
    noise_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        noisy, clean, noise = root / noisy_dir / name, root / clean_dir / name, noise_dir / name
        if not clean.is_file():
            raise DataPrepError(f"{clean}: missing (the clean speech of {noisy})")
        write_noise(noisy, clean, noise)
        out.append(Mixture(f"{CORPUS}_{Path(name).stem}", str(noisy), [str(clean), str(noise)], list(PROMPTS)))
    return out


def prepare(
    root: PathLike,
    data_dir: PathLike = "data",
    work_dir: Optional[PathLike] = None,
    sets: Sequence[str] = ("dev", "test"),
    num_dev: Optional[int] = 500,
    force: bool = False,
) -> Dict[str, Path]:
    """Write ``<data_dir>/{dev,test}_vctk_demand``; returns {set name: dir}.

    ``work_dir`` (default ``<data_dir>/local/vctk_demand``) receives the noise
    files; ``num_dev`` caps the validation set (None: all p226/p287 files).
    """
    base = check_root(root, sets)
    root_abs = Path(os.path.abspath(base))
    data_dir = Path(data_dir)
    work = Path(os.path.abspath(work_dir if work_dir is not None else data_dir / "local" / CORPUS))
    key = f"root={root_abs} work_dir={work} sets={' '.join(sets)} num_dev={num_dev}"
    return write_sets(
        CORPUS, data_dir, sets, key, force, lambda s: collect(root_abs, s, work, num_dev if s == "dev" else None)
    )


def main(argv: Optional[List[str]] = None) -> int:
    p = eval_set_parser(__doc__, CORPUS, VARIABLE)
    p.add_argument(
        "--work_dir",
        default=None,
        help="where noise = noisy - clean is written (default: <data_dir>/local/vctk_demand)",
    )
    p.add_argument("--num_dev", type=int, default=500, help="validation mixtures (default 500; <=0: all)")
    a = p.parse_args(argv)
    return run_eval_cli(prepare, a, work_dir=a.work_dir, num_dev=a.num_dev if a.num_dev > 0 else None)


if __name__ == "__main__":
    raise SystemExit(main())
