# SPDX-License-Identifier: Apache-2.0
"""WSJ0 speech pool (``speech``), a training corpus of TUSS (Saijo et al., ICASSP 2025).

Layout (``WSJ0`` in db.sh; LDC93S6A, one folder per CD)::

    11-1.1/wsj0/si_tr_s/01t/01to030v.wv1     (NIST SPHERE, shorten-compressed, 16 kHz)

or the same tree converted with ``sph2pipe -f wav`` (``.wav``; the CD folders
may be kept or merged into one ``wsj0/``). Selection as in the authors'
recipe: the *unique* utterances of columns 1 and 3 of the wsj0-2mix list
``mix_2_spk_tr.txt`` (lines ``<path1> <snr1> <path2> <snr2>``); the speaker is
the 3rd path component and its CD folder is found by scanning
``<disc>/wsj0/si_tr_s/<speaker>``; the extension is matched case-insensitively.

soundfile cannot decode shorten-compressed SPHERE. Uncompressed SPHERE and
WAV files are listed as they are; compressed ones are converted with
``sph2pipe -f wav`` into ``--out_dir`` when ``sph2pipe`` is on PATH, otherwise
the run stops and says what is needed. uid = ``wsj0_<utterance>``.

CLI::

    python -m tuss_plugin.dataprep.pools.wsj0 --root "$WSJ0" --mix_list mix_2_spk_tr.txt \
        --pool_dir data/pool_wsj0 --out_dir data/local/wsj0
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import PathLike, add_common_args, audio_info, finish, parallel_map, up_to_date
from tuss_plugin.fileio.atomic import atomic_write
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

AUDIO_SUFFIXES = (".wv1", ".wav")
NEED = (
    "put sph2pipe on PATH (the pool converts the files into --out_dir), or point WSJ0 at a tree "
    "converted with `sph2pipe -f wav` that keeps the <disc>/wsj0/si_tr_s/<speaker>/<utt>.wav layout"
)


def read_mix_list(path: PathLike) -> List[str]:
    """Unique utterance paths (columns 1 and 3) of a wsj0-2mix list, in first-seen order."""
    path = Path(path)
    if not path.is_file():
        raise DataPrepError(
            f"{path}: wsj0-2mix list not found (mix_2_spk_tr.txt from MERL's create-speaker-mixtures.zip; "
            "set WSJ0_2MIX_TR or pass --mix_list)"
        )
    out: Dict[str, None] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise DataPrepError(f"{path}:{lineno}: expected '<path1> <snr1> <path2> <snr2>', got {line.strip()!r}")
            for p in (parts[0], parts[2]):
                if len(p.split("/")) < 4:
                    raise DataPrepError(f"{path}:{lineno}: path {p!r} is not wsj0/<dir>/<speaker>/<utt>.<ext>")
                out[p] = None
    if not out:
        raise DataPrepError(f"{path}: empty wsj0-2mix list")
    return list(out)


def index_speakers(root: Path) -> Dict[str, Path]:
    """speaker -> its ``<disc>/wsj0/si_tr_s/<speaker>`` folder (the root itself may be the disc)."""
    bases = [root] + sorted(p for p in root.iterdir() if p.is_dir())
    spk: Dict[str, Path] = {}
    for base in bases:
        tr = base / "wsj0" / "si_tr_s"
        if tr.is_dir():
            for d in sorted(tr.iterdir()):
                if d.is_dir():
                    spk.setdefault(d.name, d)
    if not spk:
        raise DataPrepError(
            f"WSJ0={root}: no <disc>/wsj0/si_tr_s/<speaker>/ folders found "
            "(point WSJ0 at the LDC93S6A tree with its CD folders 11-1.1, 11-2.1, ..., or a converted copy)"
        )
    return spk


def index_files(spk_dir: Path) -> Dict[str, Path]:
    """utterance (lower case) -> audio file; ``.wav`` wins over ``.wv1`` (case-insensitive)."""
    out: Dict[str, Path] = {}
    for f in sorted(spk_dir.iterdir()):
        suf = f.suffix.lower()
        if suf in AUDIO_SUFFIXES and f.is_file():
            stem = f.stem.lower()
            if stem not in out or suf == ".wav":
                out[stem] = f
    return out


def sphere_coding(path: PathLike) -> Optional[str]:
    """``sample_coding`` of a NIST SPHERE header ('pcm' if absent), or None if not SPHERE."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head.startswith(b"NIST_1A"):
        return None
    for line in head.split(b"\n"):
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[0] == b"sample_coding":
            return fields[2].decode("ascii", "replace").strip()
        if line.strip() == b"end_head":
            break
    return "pcm"


def needs_conversion(path: PathLike) -> bool:
    """True for SPHERE files soundfile cannot read (shorten or other compressed codings)."""
    coding = sphere_coding(path)
    return coding is not None and any(c in coding.lower() for c in ("shorten", "wavpack", "shn"))


def _convert(item: Tuple[str, str], sph2pipe: str) -> str:
    src, dst = item
    dst_p = Path(dst)
    if dst_p.is_file():
        return dst
    dst_p.parent.mkdir(parents=True, exist_ok=True)

    def _w(tmp: str) -> None:
        res = subprocess.run([sph2pipe, "-f", "wav", src, tmp], capture_output=True)
        if res.returncode != 0:
            raise DataPrepError(f"{src}: sph2pipe failed: {res.stderr.decode(errors='replace').strip()}")

    atomic_write(dst_p, _w)
    return dst


def _header(path: str) -> Tuple[int, int]:
    info = audio_info(path)
    return info.samplerate, info.frames


def build(
    root: PathLike,
    mix_list: PathLike,
    pool_dir: PathLike = "data/pool_wsj0",
    out_dir: PathLike = "data/local/wsj0",
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` from WSJ0 at ``root`` and the wsj0-2mix ``mix_list``."""
    root = require_root("WSJ0", root, [])
    key = make_key("wsj0", root=root.resolve(), mix_list=Path(mix_list).resolve(), out_dir=Path(out_dir).resolve())
    cached = up_to_date("wsj0", pool_dir, key, force)
    if cached is not None:
        return cached
    utts = read_mix_list(mix_list)
    speakers = index_speakers(root)
    files: Dict[str, Dict[str, Path]] = {}
    found: List[Tuple[str, Path]] = []
    missing = []
    for rel in utts:
        parts = rel.split("/")
        spk, utt = parts[2], Path(parts[-1]).stem
        if spk not in speakers:
            missing.append(rel)
            continue
        if spk not in files:
            files[spk] = index_files(speakers[spk])
        f = files[spk].get(utt.lower())
        if f is None:
            missing.append(rel)
        else:
            found.append((utt, f))
    if missing:
        raise DataPrepError(
            f"WSJ0={root}: {len(missing)} of {len(utts)} utterances of {mix_list} not found "
            f"(e.g. {missing[0]} as <disc>/wsj0/si_tr_s/<speaker>/<utt>.wv1 or .wav)"
        )
    # compressed SPHERE -> WAV under out_dir (same relative layout below the corpus root)
    to_convert = [(utt, f) for utt, f in found if f.suffix.lower() == ".wv1" and needs_conversion(f)]
    paths = {utt: str(f) for utt, f in found}
    if to_convert:
        sph2pipe = shutil.which("sph2pipe")
        if sph2pipe is None:
            raise DataPrepError(
                f"WSJ0={root}: {to_convert[0][1]} (and {len(to_convert) - 1} more) is shorten-compressed NIST "
                f"SPHERE, which soundfile cannot decode: {NEED}"
            )
        jobs = [(str(f), str(Path(out_dir) / f.relative_to(root).with_suffix(".wav"))) for _, f in to_convert]
        conv = functools.partial(_convert, sph2pipe=sph2pipe)
        for (utt, _), dst in zip(to_convert, parallel_map(conv, jobs, nj=nj, desc="sph2pipe")):
            paths[utt] = dst
    order = sorted(paths)
    headers = list(parallel_map(_header, [paths[u] for u in order], nj=nj, desc="WSJ0 headers", chunksize=256))
    entries = [PoolEntry(safe_id("wsj0", utt), paths[utt], "speech", fs, n) for utt, (fs, n) in zip(order, headers)]
    return finish("wsj0", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="WSJ0: the LDC93S6A tree (CD folders) or a converted copy")
    parser.add_argument("--mix_list", required=True, help="wsj0-2mix mix_2_spk_tr.txt")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "wsj0", derived=True)
    args = parser.parse_args(argv)
    build(args.root, args.mix_list, args.pool_dir, args.out_dir, nj=args.nj, force=args.force)


if __name__ == "__main__":
    sys.exit(run_cli(main))
