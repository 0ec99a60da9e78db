# SPDX-License-Identifier: Apache-2.0
"""DNS5 LibriVox read-speech pool (``speech``), URGENT 2024 pipeline, for TUSS (Saijo et al., ICASSP 2025).

Layout (``LIBRIVOX_URGENT`` in db.sh = the parent of ``dns5_fullband/``)::

    dns5_fullband/Track1_Headset/mnt/dnsv5/clean/read_speech/<6-hex>/<uid>.wav   (48 kHz)
    dns5_clean_read_speech.json.gz                  uid -> [path, bandwidth_Hz]
    dns5_clean_read_speech_resampled_dnsmos.json.gz uid -> {OVRL, SIG, BAK, P808_MOS}

The two lists are the ones shipped with the URGENT challenge data scripts
(also found in ``<root>/datafiles/``, or given with ``--bandwidth_json`` /
``--dnsmos_json``); list paths are relative to ``<root>`` (a leading ``./``
and the second extraction variant ``read_speech/read_speech/`` are accepted).
Pipeline, as in the authors' recipe and the URGENT challenge:

1. resample each clip to the smallest of 8, 16, 22.05, 24, 32, 44.1, 48 kHz
   that is >= 2 x its estimated bandwidth (48 kHz if none is); clips already at
   that rate keep their path, the others go to
   ``<out_dir>/resampled/<index // 5000 as 2 hex digits>/<uid>.wav`` (16-bit);
2. VAD with webrtcvad (mode 2, 10 ms frames; 22.05/24 kHz analysed at 16 kHz,
   44.1 kHz at 48 kHz); keep a clip when its speech fraction is >= 0.2;
3. keep a clip when its DNSMOS BAK is >= 3.0; clips missing from either list are dropped.

Stage results are cached in ``<out_dir>`` (``resampled.scp``, ``vad_fraction``)
so a re-run only redoes what changed. uid = ``librivox_<uid>``.

CLI::

    python -m tuss_plugin.dataprep.pools.librivox --root "$LIBRIVOX_URGENT" \
        --pool_dir data/pool_librivox --out_dir data/local/librivox --nj 4
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from tuss_plugin.dataprep.common import require_root, run_cli, safe_id
from tuss_plugin.dataprep.pools.pool import (
    PathLike,
    add_common_args,
    finish,
    parallel_map,
    up_to_date,
    write_wav_atomic,
)
from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.audio import resample
from tuss_plugin.fileio.pools import PoolEntry, make_key
from tuss_plugin.utils.errors import DataPrepError

log = logging.getLogger(__name__)

BANDWIDTH_JSON = "dns5_clean_read_speech.json.gz"
DNSMOS_JSON = "dns5_clean_read_speech_resampled_dnsmos.json.gz"
RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
#: webrtcvad accepts 8/16/32/48 kHz only
VAD_RATE = {22050: 16000, 24000: 16000, 44100: 48000}
FILES_PER_DIR = 5000


def target_rate(bandwidth: float) -> int:
    """Smallest rate of :data:`RATES` that is >= 2 x ``bandwidth`` (48 kHz if none)."""
    for r in RATES:
        if 2 * float(bandwidth) <= r:
            return r
    return RATES[-1]


def load_json(path: PathLike) -> dict:
    """A ``.json`` or ``.json.gz`` file; errors name the file."""
    path = Path(path)
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise DataPrepError(f"{path}: cannot read JSON ({exc})") from None


def find_list(root: Path, name: str, given: Optional[PathLike], option: str) -> Path:
    """``given``, else ``<root>/<name>`` or ``<root>/datafiles/<name>`` (``.json`` also accepted)."""
    if given:
        if not Path(given).is_file():
            raise DataPrepError(f"{given}: not found ({option})")
        return Path(given)
    plain = name[: -len(".gz")]
    for cand in (root / name, root / "datafiles" / name, root / plain, root / "datafiles" / plain):
        if cand.is_file():
            return cand
    raise DataPrepError(
        f"LIBRIVOX_URGENT={root}: {name} not found in it or in its datafiles/ "
        f"(the list shipped with the URGENT challenge data scripts; or pass {option})"
    )


def resolve_audio(root: Path, listed: str) -> Optional[Path]:
    """The file a bandwidth-list path points to, trying the known extraction variants."""
    p = listed[2:] if listed.startswith("./") else listed
    cands = []
    if Path(p).is_absolute():
        cands.append(Path(p))
        i = p.find("dns5_fullband/")
        if i >= 0:
            p = p[i:]
    if not Path(p).is_absolute():
        cands.append(root / p)
    more = []
    for c in cands:
        s = str(c)
        if "/read_speech/read_speech/" in s:
            more.append(Path(s.replace("/read_speech/read_speech/", "/read_speech/", 1)))
        elif "/clean/read_speech/" in s:
            more.append(Path(s.replace("/clean/read_speech/", "/clean/read_speech/read_speech/", 1)))
    for c in cands + more:
        if c.is_file():
            return c
    return None


def _resample_one(item: Tuple[int, str, str, float], out_dir: str) -> Optional[Tuple[str, int, str, int]]:
    """(index, uid, source, bandwidth) -> (uid, fs, path, num_samples), or None if unreadable."""
    idx, uid, src, bw = item
    est = target_rate(bw)
    try:
        info = sf.info(src)
    except Exception as exc:
        log.warning("%s: cannot read (%s); skipped", src, exc)
        return None
    if info.samplerate == est:
        return uid, est, src, info.frames
    out = Path(out_dir) / "resampled" / f"{idx // FILES_PER_DIR:02x}" / f"{uid}.wav"
    if out.is_file():
        try:
            oi = sf.info(str(out))
            if oi.samplerate == est:
                return uid, est, str(out), oi.frames
        except Exception:
            pass
    audio, fs = sf.read(src, dtype="float32")  # (T,) or (T, C)
    y = resample(audio, fs, est)
    write_wav_atomic(out, y, est, "PCM_16")
    return uid, est, str(out), int(y.shape[0])


def speech_fraction(audio: np.ndarray, fs: int, mode: int = 2, frame_ms: int = 10) -> float:
    """Fraction of samples webrtcvad marks as speech (channel 0; strict frame decisions).

    The tail shorter than a frame is judged on the last full frame, as in the
    URGENT pipeline. 22.05/24 kHz audio is analysed at 16 kHz, 44.1 kHz at 48 kHz.
    """
    try:
        import webrtcvad
    except ImportError:
        raise DataPrepError(
            "webrtcvad is not installed (the LibriVox pool needs it: run `make -C tools`, "
            "which installs webrtcvad-wheels from setup.py)"
        ) from None
    x = audio[:, 0] if audio.ndim == 2 else audio
    vfs = VAD_RATE.get(fs, fs)
    if vfs != fs:
        x = resample(x.astype(np.float32), fs, vfs)
    if vfs not in (8000, 16000, 32000, 48000):
        raise DataPrepError(f"webrtcvad cannot analyse {fs} Hz audio")
    n = vfs * frame_ms // 1000
    if x.shape[0] < n:
        return 0.0
    pcm = np.clip(np.asarray(x, dtype=np.float64) * 32768.0, -32768, 32767).astype(np.int16)
    vad = webrtcvad.Vad(mode)
    full = pcm.shape[0] // n
    voiced = 0
    for i in range(full):
        if vad.is_speech(pcm[i * n : (i + 1) * n].tobytes(), vfs):
            voiced += n
    tail = pcm.shape[0] - full * n
    if tail and vad.is_speech(pcm[-n:].tobytes(), vfs):
        voiced += tail
    return voiced / pcm.shape[0]


def _vad_one(item: Tuple[str, str], mode: int) -> Tuple[str, float]:
    uid, path = item
    audio, fs = sf.read(path, dtype="float32")
    return uid, speech_fraction(audio, fs, mode)


def _read_stage(path: Path, key_path: Path, key: str) -> Optional[List[List[str]]]:
    if not (path.is_file() and key_path.is_file() and key_path.read_text(encoding="utf-8").strip() == key):
        return None
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split(" ", 3) for line in f if line.strip()]


def _write_stage(path: Path, key_path: Path, key: str, rows: List[Sequence[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(" ".join(str(v) for v in r) + "\n" for r in rows))
    atomic_write_text(key_path, key + "\n")


def _resampled_clips(
    root: Path, out: Path, bw_path: Path, k1: str, nj: int, force: bool
) -> Dict[str, Tuple[int, int, str]]:
    """Stage 1: every clip of ``bw_path`` resampled to its bandwidth-determined
    rate (cached in ``out`` with key ``k1``) -> {uid: (fs, num_samples, path)}."""
    bandwidth = load_json(bw_path)
    rows = None if force else _read_stage(out / "resampled.scp", out / ".resampled.key", k1)
    if rows is None:
        items, missing = [], 0
        for idx, (uid, val) in enumerate(bandwidth.items()):
            if not (isinstance(val, (list, tuple)) and len(val) == 2):
                raise DataPrepError(f"{bw_path}: entry {uid} is not [path, bandwidth]")
            src = resolve_audio(root, str(val[0]))
            if src is None:
                missing += 1
                continue
            items.append((idx, uid, str(src), float(val[1])))
        if not items:
            raise DataPrepError(
                f"LIBRIVOX_URGENT={root}: none of the {len(bandwidth)} clips of {bw_path.name} exists "
                "(expected dns5_fullband/Track1_Headset/mnt/dnsv5/clean/read_speech/<6-hex>/<uid>.wav below it)"
            )
        if missing:
            log.warning("LibriVox: %d of %d listed clips not found below %s; skipped", missing, len(bandwidth), root)
        job = functools.partial(_resample_one, out_dir=str(out))
        results = [r for r in parallel_map(job, items, nj=nj, desc="LibriVox resample") if r is not None]
        rows = [[uid, fs, n, path] for uid, fs, path, n in results]
        _write_stage(out / "resampled.scp", out / ".resampled.key", k1, rows)
    return {r[0]: (int(r[1]), int(r[2]), r[3]) for r in rows}


def _vad_fractions(
    out: Path, clips: Dict[str, Tuple[int, int, str]], k1: str, vad_mode: int, nj: int, force: bool
) -> Dict[str, float]:
    """Stage 2: the VAD speech fraction of every clip (cached per clip set and mode)."""
    k2 = f"{k1} vad_mode={vad_mode}"
    vrows = None if force else _read_stage(out / "vad_fraction", out / ".vad_fraction.key", k2)
    if vrows is None or {r[0] for r in vrows} != set(clips):
        job = functools.partial(_vad_one, mode=vad_mode)
        vrows = [list(r) for r in parallel_map(job, [(u, c[2]) for u, c in clips.items()], nj=nj, desc="LibriVox VAD")]
        _write_stage(out / "vad_fraction", out / ".vad_fraction.key", k2, [[u, f"{float(v):.6f}"] for u, v in vrows])
    return {r[0]: float(r[1]) for r in vrows}


def build(
    root: PathLike,
    pool_dir: PathLike = "data/pool_librivox",
    out_dir: PathLike = "data/local/librivox",
    bandwidth_json: Optional[PathLike] = None,
    dnsmos_json: Optional[PathLike] = None,
    vad_mode: int = 2,
    vad_threshold: float = 0.2,
    bak_threshold: float = 3.0,
    nj: int = 1,
    force: bool = False,
) -> List[PoolEntry]:
    """Write ``pool_dir`` from the DNS5 LibriVox tree at ``root`` (see the module docstring)."""
    root = require_root("LIBRIVOX_URGENT", root, ["dns5_fullband"])
    bw_path = find_list(root, BANDWIDTH_JSON, bandwidth_json, "--bandwidth_json")
    mos_path = find_list(root, DNSMOS_JSON, dnsmos_json, "--dnsmos_json")
    out = Path(out_dir)
    key = make_key(
        "librivox",
        root=root.resolve(),
        bandwidth=bw_path.resolve(),
        dnsmos=mos_path.resolve(),
        out_dir=out.resolve(),
        vad_mode=vad_mode,
        vad_threshold=vad_threshold,
        bak_threshold=bak_threshold,
    )
    cached = up_to_date("librivox", pool_dir, key, force)
    if cached is not None:
        return cached
    dnsmos = load_json(mos_path)
    # 1. resample to the bandwidth-determined rate; 2. VAD speech fraction
    k1 = make_key("librivox-resample", root=root.resolve(), bandwidth=bw_path.resolve(), out_dir=out.resolve())
    clips = _resampled_clips(root, out, bw_path, k1, nj, force)
    fraction = _vad_fractions(out, clips, k1, vad_mode, nj, force)

    # 3. DNSMOS BAK
    entries = []
    n_vad = n_mos = 0
    for uid, (fs, n, path) in clips.items():
        if fraction[uid] < vad_threshold:
            n_vad += 1
            continue
        scores = dnsmos.get(uid)
        if not isinstance(scores, dict) or float(scores.get("BAK", -1e9)) < bak_threshold:
            n_mos += 1
            continue
        entries.append(PoolEntry(safe_id("librivox", uid), path, "speech", fs, n))
    log.info(
        "LibriVox: %d clips, %d dropped by VAD (< %.2f speech), %d by DNSMOS (BAK < %.1f or unscored), %d kept",
        len(clips),
        n_vad,
        vad_threshold,
        n_mos,
        bak_threshold,
        len(entries),
    )
    return finish("librivox", pool_dir, entries, key)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="LIBRIVOX_URGENT: the parent of dns5_fullband/")
    parser.add_argument("--bandwidth_json", default=None, help=f"default: <root>/{BANDWIDTH_JSON}")
    parser.add_argument("--dnsmos_json", default=None, help=f"default: <root>/{DNSMOS_JSON}")
    parser.add_argument("--vad_mode", type=int, default=2, choices=(0, 1, 2, 3), help="default: %(default)s")
    parser.add_argument("--vad_threshold", type=float, default=0.2, help="min speech fraction (default: %(default)s)")
    parser.add_argument("--bak_threshold", type=float, default=3.0, help="min DNSMOS BAK (default: %(default)s)")
    parser.add_argument("--nj", type=int, default=1, help="parallel processes (default: %(default)s)")
    add_common_args(parser, "librivox", derived=True)
    args = parser.parse_args(argv)
    build(
        args.root,
        args.pool_dir,
        args.out_dir,
        args.bandwidth_json,
        args.dnsmos_json,
        args.vad_mode,
        args.vad_threshold,
        args.bak_threshold,
        nj=args.nj,
        force=args.force,
    )


if __name__ == "__main__":
    sys.exit(run_cli(main))
