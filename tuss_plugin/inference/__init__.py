# SPDX-License-Identifier: Apache-2.0
"""Separate audio with a trained or imported TUSS model.

    from tuss_plugin.inference import SeparateAudio
    sep = SeparateAudio.from_pretrained("exp/tuss_medium")   # or an imported dir / packed zip
    est = sep(mixture, fs=44100, prompts=["speech", "sfxbg", "musicbg"])  # (3, n_samples)

    # long files: streamed from and to disk, memory bounded by the segment
    sep = SeparateAudio.from_pretrained("exp/tuss_medium", segment_size=6, hop_size=3)
    sep.separate_file("long.flac", ["speech.wav", "sfx.wav"], prompts=["speech", "sfxbg"])

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import yaml

from tuss_plugin.audio import resample

# the in-memory API refuses arrays with more channels (a channel-first array is the usual cause)
MAX_CHANNELS = 64
# highest input sampling rate accepted (Hz)
MAX_FS = 768_000

logger = logging.getLogger(__name__)

# model files of a directory, in order of preference; the first that exists is
# the model (default_model_file), else the newest <N>epoch.pth
MODEL_FILE_CANDIDATES = (
    "model.pth",  # an imported reference or hand-made directory
    "valid.loss.ave.pth",  # ESPnet: average of the keep_nbest_models best epochs (the paper's evaluation)
    "valid.loss.best.pth",  # ESPnet: the epoch of the lowest validation loss
    "latest.pth",
    "checkpoint.pth",
)

# The most bytes the files of a packed model may unpack to. The paper's Large
# model (38 M parameters) is about 150 MB, an ESPnet checkpoint.pth with its
# optimiser state about three times that. Overridden by the environment
# variable TUSS_MAX_UNPACK_BYTES or the argument max_unpack_bytes.
DEFAULT_MAX_UNPACK_BYTES = 4 << 30  # 4 GiB
# Unpacked models kept in the cache: the most recently used ones; copies whose
# zip no longer exists are dropped. Overridden by TUSS_CACHE_KEEP.
DEFAULT_CACHE_KEEP = 8

_META = "meta.yaml"
_MAX_META_BYTES = 1 << 20
_MARKER = ".unpacked"  # in a finished copy: "<mtime_ns> <size>" and the zip's path; its mtime = last use
_ENTRY_NAME = re.compile(r"[0-9a-f]{16}")  # cache entries: hash of the zip's path
_TEMP_NAME = re.compile(r"\.[0-9a-f]{16}\..+")  # an unpack in progress (or of a killed process)
_STALE_TEMP_S = 3600.0
# what a damaged or unsupported archive raises inside zipfile
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError)


def _positive_setting(value: Optional[Union[int, str]], name: str, env: str, default: int, unit: str) -> int:
    """``value`` if given, else the environment variable ``env`` if set, else ``default``."""
    where = name
    if value is None:
        value, where = os.environ.get(env, ""), env
        if not value.strip():
            return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ValueError(f"{where}: expected a positive number of {unit}, got {value!r}")
    return n


def max_unpack_bytes(value: Optional[int] = None) -> int:
    """The unpack limit: ``value``, else TUSS_MAX_UNPACK_BYTES, else DEFAULT_MAX_UNPACK_BYTES."""
    return _positive_setting(value, "max_unpack_bytes", "TUSS_MAX_UNPACK_BYTES", DEFAULT_MAX_UNPACK_BYTES, "bytes")


def _check_member_names(zip_path: Path, names: Sequence[str]) -> None:
    """Refuse an archive with a member name that would land outside the target directory."""
    for name in names:
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts or name.startswith("\\"):
            raise ValueError(
                f"{zip_path}: member {name!r} would be written outside the target directory; refusing to unpack"
            )


def _select_members(zip_path: Path, infos: List[zipfile.ZipInfo], members: Optional[Sequence[str]]):
    """The entries to unpack: ``members`` (each must exist), or every file."""
    if members is None:
        return [i for i in infos if not i.is_dir()]
    by_name = {i.filename: i for i in infos}
    for m in members:
        if m not in by_name:
            raise ValueError(f"{zip_path}: the package has no {m}")
    return [by_name[m] for m in dict.fromkeys(members)]


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, zip_path: Path) -> None:
    """Write one member below ``root``, refusing data beyond its declared size."""
    target = (root / info.filename).resolve()
    if root not in target.parents:
        raise ValueError(f"{zip_path}: member {info.filename!r} would be written outside the target directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(info) as src, open(target, "wb") as dst:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            written += len(chunk)
            if written > info.file_size:
                raise ValueError(
                    f"{zip_path}: member {info.filename!r} holds more than its declared {info.file_size:,} bytes"
                )
            dst.write(chunk)


def _safe_extract(
    zip_path: Path,
    outdir: Path,
    members: Optional[Sequence[str]] = None,
    max_bytes: Optional[int] = None,
) -> None:
    """Unpack ``members`` of a zip (default: every file) into ``outdir``.

    Before anything is written, refuses an archive with a member name that
    would land outside ``outdir`` and a selection whose declared sizes add up
    to more than :func:`max_unpack_bytes` (``max_bytes``, default
    TUSS_MAX_UNPACK_BYTES or DEFAULT_MAX_UNPACK_BYTES). While unpacking, bytes
    are counted against each member's declared size (a zip can lie about
    sizes), so the limit holds for what is written too. Raises ``ValueError``
    naming the zip; files written before an error stay, so unpack into a
    directory that can be removed.
    """
    limit = max_unpack_bytes(max_bytes)
    root = Path(outdir).resolve()
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            _check_member_names(zip_path, [i.filename for i in infos])
            chosen = _select_members(zip_path, infos, members)
            declared = sum(i.file_size for i in chosen)
            if declared > limit:
                raise ValueError(
                    f"{zip_path}: the model files unpack to {declared:,} bytes, more than the limit of "
                    f"{limit:,} bytes (set TUSS_MAX_UNPACK_BYTES or max_unpack_bytes to allow more)"
                )
            for info in chosen:
                _extract_member(zf, info, root, zip_path)
    except _ZIP_ERRORS as e:
        raise ValueError(f"{zip_path}: corrupt zip archive ({e})") from None
    except OSError as e:
        raise ValueError(f"{zip_path}: cannot unpack ({e})") from None


def _pack_members(zip_path: Path) -> Tuple[str, str]:
    """The (config, model file) members that the package's ``meta.yaml`` names.

    Reads only the zip's directory and ``meta.yaml`` (nothing is unpacked). A
    name stored as an absolute path in meta.yaml (ESPnet's pack of files outside
    its working directory) is the member without the leading ``/``, as zipfile
    stores it.
    """
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            _check_member_names(zip_path, [i.filename for i in infos])
            names = {i.filename for i in infos}
            if _META not in names:
                raise ValueError(f"{zip_path}: packed model without meta.yaml")
            if zf.getinfo(_META).file_size > _MAX_META_BYTES:
                raise ValueError(f"{zip_path}: meta.yaml is larger than {_MAX_META_BYTES:,} bytes")
            text = zf.read(_META)
    except _ZIP_ERRORS as e:
        raise ValueError(f"{zip_path}: corrupt zip archive ({e})") from None
    try:
        meta = yaml.safe_load(text.decode("utf-8")) or {}
        wanted = (meta["yaml_files"]["train_config"], meta["files"]["model_file"])
    except (KeyError, TypeError, UnicodeDecodeError, yaml.YAMLError):
        raise ValueError(f"{zip_path}: meta.yaml lacks train_config / model_file") from None
    found = []
    for value in wanted:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{zip_path}: meta.yaml lacks train_config / model_file")
        name = value if value in names else value.lstrip("/")
        if name not in names:
            raise ValueError(f"{zip_path}: the package has no {value}")
        found.append(name)
    return found[0], found[1]


def _cache_base(cache_dir: Optional[Union[str, Path]] = None) -> Path:
    """Where packed models are unpacked: ``cache_dir``, else TUSS_CACHE, else ~/.cache/tuss."""
    return Path(cache_dir or os.environ.get("TUSS_CACHE") or Path.home() / ".cache" / "tuss")


def _zip_stamp(zip_path: Path) -> str:
    """Marker text of an unpacked copy: the zip's version, then its path."""
    st = zip_path.stat()
    return f"{st.st_mtime_ns} {st.st_size}\n{zip_path.resolve()}\n"


def _unpack_once(zip_path: Path, out: Path, members: Sequence[str], max_bytes: Optional[int] = None) -> None:
    """Unpack ``members`` of ``zip_path`` into ``out`` unless done already for this version of the file.

    Unpacks into a temporary directory beside ``out`` and renames it, so
    parallel jobs never see a half-unpacked model and a failed unpack leaves
    nothing. Using a copy marks it as used (for :func:`_prune_cache`).
    """
    stamp = _zip_stamp(zip_path)
    marker = out / _MARKER
    if marker.is_file() and marker.read_text() == stamp:
        with contextlib.suppress(OSError):  # a read-only cache is fine
            os.utime(marker)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        _safe_extract(zip_path, tmp, members, max_bytes)
        (tmp / _MARKER).write_text(stamp)
        if out.exists():  # an older version of the package
            shutil.rmtree(out, ignore_errors=True)
        try:
            os.rename(tmp, out)
        except OSError:
            if not (marker.is_file() and marker.read_text() == stamp):
                raise  # not a parallel job that finished first
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _prune_cache(base: Path, current: Path, keep: Optional[int] = None) -> None:
    """Drop unpacked models of the cache ``base`` that are no longer wanted.

    Removes copies whose zip no longer exists, then all but the ``keep``
    (default TUSS_CACHE_KEEP or DEFAULT_CACHE_KEEP) most recently used
    (``current`` always stays), and temporaries of killed unpacks older than an
    hour. Only directories named like cache entries that hold the marker of a
    finished unpack are touched, so other files in the directory are safe.
    """
    keep = _positive_setting(keep, "keep", "TUSS_CACHE_KEEP", DEFAULT_CACHE_KEEP, "models")
    kept = []
    now = time.time()
    for d in base.iterdir():
        with contextlib.suppress(OSError):  # removed meanwhile by a parallel job
            if _TEMP_NAME.fullmatch(d.name) and d.is_dir() and now - d.stat().st_mtime > _STALE_TEMP_S:
                shutil.rmtree(d, ignore_errors=True)
            if not _ENTRY_NAME.fullmatch(d.name) or d == current or not (d / _MARKER).is_file():
                continue
            lines = (d / _MARKER).read_text().splitlines()
            if len(lines) > 1 and not Path(lines[1]).is_file():  # its zip is gone
                shutil.rmtree(d, ignore_errors=True)
                continue
            kept.append(((d / _MARKER).stat().st_mtime, d))
    for _, d in sorted(kept, reverse=True)[keep - 1 :]:
        shutil.rmtree(d, ignore_errors=True)


def _discard_unpacked(file: Union[str, Path], cache_dir: Optional[Union[str, Path]] = None) -> None:
    """Remove the cache entry that holds ``file`` (a packed model that failed to load).

    Files outside the cache, such as an experiment directory, are never touched.
    """
    base = _cache_base(cache_dir).resolve()
    f = Path(file).resolve()
    if base not in f.parents:
        return
    entry = base / f.relative_to(base).parts[0]
    if _ENTRY_NAME.fullmatch(entry.name) and (entry / _MARKER).is_file():
        shutil.rmtree(entry, ignore_errors=True)


def _is_pack(path: Path) -> bool:
    """An ESPnet pack (zip with meta.yaml); torch checkpoints are zips too."""
    if not zipfile.is_zipfile(path):
        if path.suffix == ".zip":
            raise ValueError(f"{path}: not a valid zip archive (corrupt or truncated)")
        return False
    if path.suffix == ".zip":
        return True
    try:
        with zipfile.ZipFile(path) as zf:
            return "meta.yaml" in zf.namelist()
    except zipfile.BadZipFile:
        return False


def resolve_model_files(
    path: Union[str, Path],
    cache_dir: Optional[str] = None,
    max_unpack_bytes: Optional[int] = None,
) -> Tuple[Path, Path]:
    """Find ``(config.yaml, model file)`` for a model directory, file or packed zip.

    A packed zip (ESPnet's ``meta.yaml`` at its root) is unpacked once into the
    cache (``cache_dir``, else TUSS_CACHE, else ``~/.cache/tuss``): only
    ``meta.yaml`` and the config and model file it names, at most
    ``max_unpack_bytes`` (default TUSS_MAX_UNPACK_BYTES or
    DEFAULT_MAX_UNPACK_BYTES) bytes; the cache is then pruned (see
    :func:`_prune_cache`).
    """
    tag = str(path)
    path = Path(path)
    if not path.exists():
        if tag.count("/") == 1 and not tag.startswith((".", "/")) and not tag.endswith((".zip", ".pth")):
            return _download(tag, cache_dir)
        raise FileNotFoundError(f"{path}: no such model directory or file")
    if path.is_file() and _is_pack(path):
        config_name, model_name = _pack_members(path)  # checked before anything is unpacked
        base = _cache_base(cache_dir)
        out = base / hashlib.md5(str(path.resolve()).encode()).hexdigest()[:16]
        _unpack_once(path, out, [_META, config_name, model_name], max_unpack_bytes)
        _prune_cache(base, out)
        return out / config_name, out / model_name
    if path.is_file():
        config = path.parent / "config.yaml"
        if not config.exists():
            raise FileNotFoundError(f"{path}: no config.yaml beside the model file")
        return config, path
    config = path / "config.yaml"
    if not config.exists():
        raise FileNotFoundError(f"{path}: no config.yaml in the model directory")
    model = default_model_file(path)
    logger.info("%s: model file %s", path, model.name)
    return config, model


def default_model_file(model_dir: Union[str, Path]) -> Path:
    """The model file of an experiment (or imported) directory.

    The first of :data:`MODEL_FILE_CANDIDATES` that exists (a link counts only
    if its target does), else the ``<N>epoch.pth`` of the highest N. For an
    ESPnet experiment that is ``valid.loss.ave.pth``, the average of the
    ``keep_nbest_models`` best epochs by validation loss (the authors evaluate
    this average), then ``valid.loss.best.pth``, ``latest.pth``,
    ``checkpoint.pth``. ``SeparateAudio.from_pretrained`` and the recipes'
    default ``--inference_model`` (stages 5, 7, 8) both use this rule.
    Raises ``FileNotFoundError`` (one line naming the directory) if there is none.
    """
    d = Path(model_dir)
    for name in MODEL_FILE_CANDIDATES:
        if (d / name).is_file():
            return d / name
    epochs = {}  # N -> <N>epoch.pth
    for p in d.glob("*epoch.pth"):
        m = re.fullmatch(r"(\d+)epoch\.pth", p.name)
        if m and p.is_file():
            epochs[int(m.group(1))] = p
    if epochs:
        return epochs[max(epochs)]
    raise FileNotFoundError(f"{d}: no model file ({', '.join(MODEL_FILE_CANDIDATES)} or <N>epoch.pth)")


def _download(tag: str, cache_dir: Optional[str] = None):
    """A model-zoo / Hugging Face tag (``org/repo``) via espnet_model_zoo."""
    try:
        from espnet_model_zoo.downloader import ModelDownloader
    except ImportError:
        raise FileNotFoundError(f"{tag}: not a local path, and espnet_model_zoo is not installed") from None
    try:
        files = ModelDownloader(cache_dir).download_and_unpack(tag)
    except Exception as e:  # noqa: BLE001 - network or hub errors
        raise FileNotFoundError(f"{tag}: not a local path and could not be downloaded ({e})") from None
    return Path(files["train_config"]), Path(files["model_file"])


def _read_config(config_file: Union[str, Path]) -> dict:
    """The training config as a dict; ``ValueError`` naming the file otherwise."""
    try:
        with open(config_file, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"{config_file}: not a readable YAML config ({type(e).__name__}: {msg})") from None
    if not isinstance(config, dict) or "separator" not in config:
        raise ValueError(f"{config_file}: not an ESPnet enhancement config")
    return config


def _build_model(config: dict, config_file: Union[str, Path], meta: bool = False) -> torch.nn.Module:
    """``TUSSTask.build_model`` of ``config``; with ``meta``, on the meta device
    (shapes only, no memory, however large the config makes the model)."""
    from tuss_plugin.tasks.tuss import TUSSTask

    try:
        with torch.device("meta") if meta else contextlib.nullcontext():
            return TUSSTask.build_model(argparse.Namespace(**config))
    except Exception as e:  # noqa: BLE001 - wrong types/keys in a hand-edited config
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"{config_file}: cannot build the model ({type(e).__name__}: {msg})") from None


def _read_state(model_file: Union[str, Path], device: str = "cpu") -> dict:
    """The state dict of a model file (tensors only: ``weights_only``) or of ESPnet's checkpoint.pth."""
    try:
        state = torch.load(model_file, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - corrupt or unsafe files
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"{model_file}: not a readable checkpoint ({type(e).__name__}: {msg})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # ESPnet's checkpoint.pth
    if not isinstance(state, dict):
        raise ValueError(f"{model_file}: not a state dict")
    return state


def _check_shapes(
    expected: Dict[str, Tuple[int, ...]],
    state: dict,
    config_file: Union[str, Path],
    model_file: Union[str, Path],
    n_keys: int = 3,
) -> None:
    """Raise ``ValueError`` (one line naming both files, the total sizes and the
    first ``n_keys`` differing keys) unless ``state`` has exactly the keys and
    shapes ``expected`` (key -> shape of the model the config builds)."""
    got = {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    differ = [k for k in expected if k in got and got[k] != expected[k]]
    if not (missing or extra or differ):
        return
    n_model = sum(math.prod(s) for s in expected.values())
    n_weights = sum(math.prod(s) for s in got.values())
    parts = [f"the config builds {n_model:,} values, the weights hold {n_weights:,} values"]
    if differ:
        shapes = ", ".join(f"{k} (config {list(expected[k])}, weights {list(got[k])})" for k in differ[:n_keys])
        parts.append(f"{len(differ)} shape(s) differ: {shapes}")
    if missing:
        parts.append(f"{len(missing)} missing from the weights: {', '.join(missing[:n_keys])}")
    if extra:
        parts.append(f"{len(extra)} not in the model: {', '.join(extra[:n_keys])}")
    raise ValueError(f"{model_file} does not match {config_file}: {'; '.join(parts)}")


def load_model(config_file: Union[str, Path], model_file: Union[str, Path], device: str = "cpu"):
    """Build a ``TUSSTask`` model from ``config.yaml`` and load weights safely and strictly.

    The config is first built on the meta device and its parameter and buffer
    shapes compared with the weights (read with ``weights_only=True``), so a
    config that does not fit its weights, however large a model it describes,
    is refused before any memory is allocated for the model.
    Returns ``(model in eval mode on device, config dict)``.
    """
    config = _read_config(config_file)
    shapes = {k: tuple(v.shape) for k, v in _build_model(config, config_file, meta=True).state_dict().items()}
    state = _read_state(model_file, device)
    _check_shapes(shapes, state, config_file, model_file)
    model = _build_model(config, config_file)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        msg = " ".join(str(e).split())
        raise ValueError(f"{model_file} does not match {config_file}: {msg[:500]}") from None
    return model.to(device).eval(), config


def _crossfade(length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Weights of one segment: linear ramps over the overlaps, 1 elsewhere."""
    w = np.ones(length, dtype=np.float32)
    if fade_in > 0:
        w[:fade_in] = np.arange(1, fade_in + 1, dtype=np.float32) / (fade_in + 1)
    if fade_out > 0:
        w[length - fade_out:] = np.minimum(
            w[length - fade_out:], np.arange(fade_out, 0, -1, dtype=np.float32) / (fade_out + 1)
        )
    return w


def segment_starts(n: int, seg: int, hop: int) -> List[int]:
    """Start samples of the segments covering ``n`` samples (the last one ends at n)."""
    if n <= seg:
        return [0]
    starts = list(range(0, n - seg, hop))
    if not starts or starts[-1] != n - seg:
        starts.append(n - seg)
    return starts


def resampled_length(n: int, fs_in: int, fs_out: int) -> int:
    """Number of samples soxr produces for ``n`` input samples (round half up)."""
    if fs_in == fs_out:
        return n
    return (2 * n * fs_out + fs_in) // (2 * fs_in)


class ForwardReader:
    """A long signal read forward only, sliced like an array.

    ``reader[a:b]`` returns samples ``a..b-1`` as float32 (b - a, C); starts must
    not decrease, and samples before the last start are dropped, so memory is
    bounded by the largest slice plus one block. Samples the block iterator
    does not deliver up to ``n`` are zeros; extra samples are ignored.

    Args:
        blocks: iterator of float32 blocks (n_block, C).
        n: nominal length.
        channels: C.
    """

    def __init__(self, blocks: Iterator[np.ndarray], n: int, channels: int):
        self._blocks = iter(blocks)
        self._n = int(n)
        self._c = int(channels)
        self._buf = np.zeros((0, self._c), dtype=np.float32)  # samples [_start, _start + len)
        self._start = 0
        self._done = False

    @property
    def shape(self) -> Tuple[int, int]:
        return (self._n, self._c)

    def _drop_before(self, start: int) -> None:
        while start > self._start + self._buf.shape[0] and not self._done:
            self._start += self._buf.shape[0]
            self._buf = self._buf[:0]
            self._pull()
        cut = min(max(start - self._start, 0), self._buf.shape[0])
        self._buf = self._buf[cut:]
        self._start += cut

    def _pull(self) -> bool:
        try:
            block = next(self._blocks)
        except StopIteration:
            self._done = True
            return False
        block = np.asarray(block, dtype=np.float32).reshape(-1, self._c)  # (n_block, C)
        self._buf = np.concatenate([self._buf, block]) if self._buf.shape[0] else block
        return True

    def __getitem__(self, item: slice) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("ForwardReader supports x[a:b] only")
        start = 0 if item.start is None else int(item.start)
        stop = self._n if item.stop is None else min(int(item.stop), self._n)
        if start < self._start:
            raise ValueError(f"ForwardReader: sample {start} was already dropped (at {self._start})")
        self._drop_before(start)
        while self._start + self._buf.shape[0] < stop and not self._done:
            self._pull()
        out = self._buf[start - self._start: stop - self._start]
        if out.shape[0] < stop - start:
            out = np.concatenate([out, np.zeros((stop - start - out.shape[0], self._c), np.float32)])
        return out


def read_blocks(path: Union[str, Path], fs_out: int, blocksize: int = 1 << 16) -> Iterator[np.ndarray]:
    """Stream an audio file as float32 blocks (n_block, C) resampled to ``fs_out``.

    Uses soxr's streaming resampler with the quality of
    :func:`tuss_plugin.audio.resample` (HQ), which gives the same samples as
    resampling the whole file at once. Raises ``ValueError`` naming the file
    on NaN/Inf samples.
    """
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        fs_in, channels = f.samplerate, f.channels
        stream = None
        if fs_in != fs_out:
            import soxr

            stream = soxr.ResampleStream(fs_in, fs_out, channels, dtype="float32", quality="HQ")
        pos = 0
        it = f.blocks(blocksize=blocksize, dtype="float32", always_2d=True)
        while True:
            try:
                block = next(it)  # (n_block, C)
            except StopIteration:
                break
            except Exception as e:  # noqa: BLE001 - libsndfile errors in the middle of a file
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise ValueError(f"{path}: cannot read audio after {pos / fs_in:.3f} s ({msg})") from None
            bad = ~np.isfinite(block).all(axis=1)  # (n_block,)
            if bad.any():
                t = (pos + int(np.argmax(bad))) / fs_in
                raise ValueError(f"{path}: contains NaN or Inf samples (first at {t:.3f} s)")
            pos += block.shape[0]
            yield stream.resample_chunk(block) if stream is not None else block
    if stream is not None:
        yield stream.resample_chunk(np.zeros((0, channels), np.float32), last=True)


def _check_segment_values(
    segment_size: Optional[float],
    hop_size: Optional[float],
    names: Tuple[str, str] = ("segment_size", "hop_size"),
) -> None:
    """Segment settings in seconds: a finite segment > 0, a finite hop in (0, segment]."""
    seg_name, hop_name = names
    if segment_size is not None and not (math.isfinite(segment_size) and segment_size > 0):
        raise ValueError(f"{seg_name} must be a finite number of seconds > 0, got {segment_size}")
    if hop_size is not None and (segment_size is None or not (math.isfinite(hop_size)
                                                              and 0 < hop_size <= segment_size)):
        raise ValueError(f"{hop_name} must be a finite number of seconds in (0, {seg_name}], got {hop_size}")


def _state_digest(state: Dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: names, dtypes, shapes and the bytes of every tensor."""
    h = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if not isinstance(value, torch.Tensor):
            h.update(f"{name} {value!r}\n".encode("utf-8"))
            continue
        t = value.detach().to("cpu").contiguous()
        h.update(f"{name} {t.dtype} {tuple(t.shape)}\n".encode("utf-8"))
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # (n_bytes,)
    return h.hexdigest()


def _check_length(n: int, fs: int, fs_model: int, where: str = "") -> None:
    """Refuse a signal that resamples to no sample at all at the model's rate."""
    if resampled_length(n, fs, fs_model) == 0:
        raise ValueError(f"{where}shorter than one sample at the model's rate "
                         f"({n} samples at {fs} Hz; the model runs at {fs_model} Hz)")


class SeparateAudio:
    """Waveform-in, waveform-out TUSS separation.

    Long recordings can be processed segment-wise (CSS-style): windows of
    ``segment_size`` seconds every ``hop_size`` seconds are separated on their
    own, outputs of repeated prompts are aligned to the previous window on the
    overlap (only within the same prompt, never across prompts), and overlaps
    are cross-faded. Memory then depends on the segment size, not on the length.
    A segment must span at least one STFT window of the model and the hop at
    least one STFT frame shift (2048 and 512 samples at 48 kHz, 42.7 and 10.7 ms,
    for the released models); shorter ones are refused (see :meth:`set_segments`).

    Args:
        model: a ``TUSSEnhancementModel``.
        config: its training config (dict).
        device: torch device.
        segment_size: segment length in seconds (None: whole recording at once).
        hop_size: segment shift in seconds (default: ``segment_size``, no overlap).
    """

    def __init__(
        self,
        model,
        config: dict,
        device: str = "cpu",
        segment_size: Optional[float] = None,
        hop_size: Optional[float] = None,
    ):
        self.model = model
        self.config = config
        self.device = device
        _check_segment_values(segment_size, hop_size)
        sep = model.separator
        # the training audio's rate (recipes store it), else the separator's
        fs = config.get("fs") or getattr(sep, "fs", None) or (config.get("separator_conf") or {}).get("fs")
        if fs is None:
            raise ValueError("the model's sampling rate is unknown: its config.yaml has no 'fs'")
        self.fs = int(fs)
        self.vocab = getattr(sep, "vocab", None)
        self.set_segments(segment_size, hop_size)

    def stft_window(self) -> Tuple[int, int]:
        """(window, frame shift) of the model's encoder in samples at ``self.fs``
        (0 where the encoder has none)."""
        enc = getattr(self.model, "encoder", None)
        window = max(int(getattr(enc, "n_fft", 0) or 0), int(getattr(enc, "win_length", 0) or 0))
        window = window or int(getattr(enc, "kernel_size", 0) or 0)  # convolutional encoders
        shift = int(getattr(enc, "hop_length", 0) or getattr(enc, "stride", 0) or 0)
        return window, shift

    def set_segments(
        self,
        segment_size: Optional[float],
        hop_size: Optional[float] = None,
        names: Tuple[str, str] = ("segment_size", "hop_size"),
    ) -> None:
        """Set segment-wise processing (seconds; ``segment_size=None``: whole recordings).

        ``segment_size`` must be finite, > 0 and span at least one STFT window
        of the model; ``hop_size`` (default ``segment_size``) must be in
        ``(0, segment_size]`` and span at least one STFT frame shift. Raises
        ``ValueError`` naming the option (``names``, e.g. the flags of a CLI).
        """
        _check_segment_values(segment_size, hop_size, names)
        hop = hop_size if hop_size is not None else segment_size
        if segment_size is not None:
            window, shift = self.stft_window()
            for value, name, bound, what in ((segment_size, names[0], window, "window"),
                                             (hop, names[1], shift, "frame shift")):
                if bound and int(round(value * self.fs)) < bound:
                    least = math.ceil(bound / self.fs * 1e4) / 1e4
                    raise ValueError(f"{name} {value:g} s is shorter than one STFT {what} of this model "
                                     f"({bound} samples at {self.fs} Hz); use at least {least:g} s")
        self.segment_size, self.hop_size = segment_size, hop

    def fingerprint(self) -> Dict[str, object]:
        """What determines the outputs besides the input and the prompts, whatever
        the device: hashes of the weights and of the config, the model's rate and
        the segment settings (``tuss_inference`` keys its finished outputs on it)."""
        config = json.dumps(self.config, sort_keys=True, default=str)
        return {
            "weights": _state_digest(self.model.state_dict()),
            "config": hashlib.sha256(config.encode("utf-8")).hexdigest(),
            "fs": self.fs,
            "segment_size": self.segment_size,
            "hop_size": self.hop_size,
        }

    @classmethod
    def from_pretrained(
        cls,
        path: Union[str, Path],
        device: str = "cpu",
        cache_dir: Optional[str] = None,
        segment_size: Optional[float] = None,
        hop_size: Optional[float] = None,
        max_unpack_bytes: Optional[int] = None,
    ) -> "SeparateAudio":
        """Load an experiment dir (``config.yaml`` + ``.pth``), an imported
        reference dir, a model file, or a packed model zip.

        ``cache_dir`` and ``max_unpack_bytes``: see :func:`resolve_model_files`;
        the unpacked copy of a packed model that fails to load is removed.
        """
        config_file, model_file = resolve_model_files(path, cache_dir, max_unpack_bytes)
        try:
            model, config = load_model(config_file, model_file, device)
        except ValueError:
            _discard_unpacked(config_file, cache_dir)
            raise
        return cls(model, config, device, segment_size=segment_size, hop_size=hop_size)

    @property
    def prompts(self) -> Sequence[str]:
        """Names of the prompts this model knows."""
        return list(self.vocab.names) if self.vocab is not None else []

    def validate_prompts(self, prompts: Sequence[str]) -> list:
        """Canonical prompt names (raises ``ValueError`` for invalid lists)."""
        if self.vocab is None:
            raise ValueError("this model has no prompts")
        return self.vocab.validate(prompts)

    @torch.inference_mode()
    def separate_tensor(self, mix: torch.Tensor, prompts) -> torch.Tensor:
        """Separate at the model's rate: mix (B, L) float -> (B, N, L)."""
        lengths = torch.full((mix.shape[0],), mix.shape[1], dtype=torch.long)
        with warnings.catch_warnings():
            # a 1-sample input has no std (the model then uses 0 + eps)
            warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom")
            est, _, _, _ = self.model.separate(mix.to(self.device), lengths.to(self.device), prompts)
        return torch.stack(est, dim=1)  # (B, N, L)

    def _align(self, prev: np.ndarray, new: np.ndarray, groups: List[List[int]]) -> np.ndarray:
        """Reorder exchangeable outputs (:meth:`_exchangeable_groups`) to match the previous segment.

        prev, new: (N, overlap, C) on the same samples; only outputs of the
        same group are exchanged.
        """
        from itertools import permutations

        order = list(range(new.shape[0]))
        for idx in groups:
            if len(idx) < 2:
                continue
            best, best_score = None, -np.inf
            for perm in permutations(idx):
                score = sum(float(np.sum(prev[i] * new[j])) for i, j in zip(idx, perm))
                if score > best_score:
                    best, best_score = perm, score
            for i, j in zip(idx, best):
                order[i] = j
        return order

    def _exchangeable_groups(self, prompts: Optional[Sequence[str]]) -> List[List[int]]:
        """Output positions whose order a segment may change: those of one repeated
        prompt; without prompts, all outputs of a separator without output slots
        (interchangeable outputs, as in training and scoring); none for slots."""
        if prompts is not None:
            pos: Dict[str, List[int]] = {}
            for i, p in enumerate(prompts):
                pos.setdefault(p, []).append(i)
            return list(pos.values())
        separator = getattr(getattr(self, "model", None), "separator", None)
        if separator is None or getattr(separator, "output_prompts", None) is not None:
            return []
        return [list(range(int(separator.num_spk)))]

    def iter_separate(self, x: Union[np.ndarray, ForwardReader],
                      prompts: Optional[Sequence[str]]) -> Iterator[np.ndarray]:
        """Separate ``x`` (n_samples, C) at the model's rate, yielding finished
        blocks (N, n_block, C) in order; segment-wise when configured.

        ``x`` is an array or a :class:`ForwardReader` (slices are taken with
        non-decreasing starts)."""
        n = x.shape[0]
        if self.segment_size is None:
            mix = torch.from_numpy(np.ascontiguousarray(x[0:n].T))  # (C, L)
            yield self.separate_tensor(mix, prompts).cpu().numpy().transpose(1, 2, 0)  # (N, L, C)
            return
        seg = max(1, int(round(self.segment_size * self.fs)))
        hop = max(1, int(round(self.hop_size * self.fs)))
        starts = segment_starts(n, seg, hop)
        groups = self._exchangeable_groups(prompts)
        acc = wsum = None  # pending samples [acc_start, acc_start + len)
        acc_start = 0
        for i, start in enumerate(starts):
            end = min(start + seg, n)
            mix = torch.from_numpy(np.ascontiguousarray(x[start:end].T))  # (C, l)
            y = self.separate_tensor(mix, prompts).cpu().numpy().transpose(1, 2, 0)  # (N, l, C)
            fade_in = (acc_start + acc.shape[1] - start) if acc is not None else 0
            fade_out = (end - starts[i + 1]) if i + 1 < len(starts) else 0
            if acc is not None and fade_in > 0 and groups:
                ov = slice(start - acc_start, acc.shape[1])
                prev = acc[:, ov] / wsum[None, ov, None]
                y = y[self._align(prev, y[:, :fade_in], groups)]
            w = _crossfade(end - start, max(fade_in, 0), max(fade_out, 0))
            if acc is None:
                acc, wsum, acc_start = y * w[None, :, None], w, start
            else:
                keep = start - acc_start  # samples of acc before this segment
                new_len = end - acc_start
                acc2 = np.zeros((y.shape[0], new_len, y.shape[2]), dtype=np.float32)
                w2 = np.zeros(new_len, dtype=np.float32)
                acc2[:, : acc.shape[1]] = acc
                w2[: wsum.shape[0]] = wsum
                acc2[:, keep:] += y * w[None, :, None]
                w2[keep:] += w
                acc, wsum = acc2, w2
            # everything before the next segment's start is final
            final = (starts[i + 1] if i + 1 < len(starts) else n) - acc_start
            if final > 0:
                yield acc[:, :final] / wsum[None, :final, None]
                acc, wsum, acc_start = acc[:, final:], wsum[final:], acc_start + final

    def _check_fs(self, fs) -> int:
        if isinstance(fs, (bool, np.bool_)):
            raise ValueError(f"invalid sampling rate {bool(fs)}: expected a positive integer (Hz)")
        try:
            fs_i = int(fs)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"invalid sampling rate {fs!r}") from None
        if fs_i <= 0 or fs_i != fs:
            raise ValueError(f"invalid sampling rate {fs!r}: expected a positive integer (Hz)")
        if fs_i > MAX_FS:
            raise ValueError(f"invalid sampling rate {fs!r}: expected at most {MAX_FS} Hz")
        return fs_i

    @staticmethod
    def _as_array(mixture) -> np.ndarray:
        """A numpy view of the input; tensors (any device, with gradients, bfloat16) included."""
        if isinstance(mixture, torch.Tensor):
            t = mixture.detach().to("cpu")
            return (t.float() if t.is_floating_point() else t).numpy()
        return np.asarray(mixture)

    def _check_prompts(self, prompts: Optional[Sequence[str]]) -> Optional[List[str]]:
        if prompts is None:
            if self.vocab is not None:
                raise ValueError("this model needs prompts: one output per prompt "
                                 f"({', '.join(self.prompts)})")
            return None
        return self.validate_prompts(prompts)

    def __call__(self, mixture: Union[np.ndarray, torch.Tensor], fs: int,
                 prompts: Optional[Sequence[str]] = None) -> np.ndarray:
        """Separate one recording held in memory (see :meth:`separate_file` for long files).

        Args:
            mixture: (n_samples,) or (n_samples, n_channels) float array or
                tensor; channels (at most ``MAX_CHANNELS`` = 64, and no more
                than samples) are separated independently.
            fs: its sampling rate in Hz, an integer up to ``MAX_FS`` = 768000
                (resampled to the model's rate and back).
            prompts: prompt names, one output per prompt (None for separators
                without prompts).

        Returns:
            float32 numpy (n_src, n_samples) or (n_src, n_samples, n_channels),
            in the input's scale and length.

        Raises:
            ValueError: empty, non-float, non-finite or wrongly shaped input
                (e.g. channel-first), an invalid sampling rate or prompt list.
        """
        x = self._as_array(mixture)
        if x.ndim not in (1, 2):
            raise ValueError(f"expected (n_samples,) or (n_samples, n_channels), got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError("the mixture has no samples")
        if x.ndim == 2 and x.shape[1] == 0:
            raise ValueError("the mixture has no channels")
        if x.ndim == 2 and (x.shape[1] > x.shape[0] or x.shape[1] > MAX_CHANNELS):
            raise ValueError(f"got shape {x.shape}: expected (n_samples, n_channels) with at most {MAX_CHANNELS} "
                             "channels and no more channels than samples (transpose a channel-first array)")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"expected float samples, got {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("the mixture contains NaN or Inf samples")
        fs = self._check_fs(fs)
        names = self._check_prompts(prompts)
        _check_length(x.shape[0], fs, self.fs, "the mixture is ")
        mono = x.ndim == 1
        x2 = (x[:, None] if mono else x).astype(np.float32)  # (L, C)
        n = x2.shape[0]
        xr = resample(x2, fs, self.fs)  # (L', C)
        if xr.ndim == 1:
            xr = xr[:, None]
        est = np.concatenate(list(self.iter_separate(xr, names)), axis=1)  # (N, L', C)
        if not np.isfinite(est).all():
            raise ValueError("the model produced NaN or Inf outputs (broken checkpoint?)")
        out = np.stack([resample(e, self.fs, fs) for e in est])  # (N, ~L, C)
        if out.ndim == 2:
            out = out[..., None]
        if out.shape[1] < n:
            out = np.pad(out, ((0, 0), (0, n - out.shape[1]), (0, 0)))
        out = out[:, :n].astype(np.float32)
        return out[..., 0] if mono else out

    def num_segments(self, n_samples: int, fs: int) -> int:
        """Segments (forward passes) for a recording of ``n_samples`` at ``fs``."""
        n = resampled_length(n_samples, fs, self.fs)
        if self.segment_size is None:
            return 1
        seg = max(1, int(round(self.segment_size * self.fs)))
        hop = max(1, int(round(self.hop_size * self.fs)))
        return len(segment_starts(n, seg, hop))

    def separate_file(
        self,
        path: Union[str, Path],
        outputs: Sequence[Union[str, Path]],
        prompts: Optional[Sequence[str]] = None,
        subtype: str = "FLOAT",
        blocksize: int = 1 << 16,
        progress: bool = False,
    ) -> None:
        """Separate an audio file into one WAV file per prompt, streaming.

        The input is read block-wise and resampled on the fly; outputs are
        resampled back to the input's rate and written block by block to
        temporary files beside ``outputs``, which are renamed only when all
        are complete. With ``segment_size`` set, memory therefore depends on
        the segment length, not on the file length, and the samples equal
        those of :meth:`__call__` on the whole file.

        Args:
            path: input audio (any format, rate, bit depth and channel count
                soundfile reads).
            outputs: one WAV path per prompt (the input's rate and channels).
            prompts: prompt names (None for separators without prompts).
            subtype: WAV subtype of the outputs (FLOAT, PCM_16, PCM_24, ...;
                integer subtypes clip at full scale).
            blocksize: input frames read at a time.
            progress: show a progress bar (segments) on stderr.

        Raises:
            ValueError: ``<path>: <problem>`` for unreadable, truncated, empty or
                non-finite input, or invalid prompts / subtype.
            OSError: the outputs cannot be written.
        """
        import soundfile as sf

        from tuss_plugin.fileio import atomic_outputs, check_audio_file

        names = self._check_prompts(prompts)
        info = check_audio_file(path, scan_nonfinite=False)
        if not sf.check_format("WAV", subtype):
            raise ValueError(f"invalid WAV subtype {subtype!r}; e.g. FLOAT, PCM_16, PCM_24")
        fs_in, channels, n_in = int(info.samplerate), int(info.channels), int(info.frames)
        _check_length(n_in, fs_in, self.fs, f"{path}: ")
        n_model = resampled_length(n_in, fs_in, self.fs)
        reader = ForwardReader(read_blocks(path, self.fs, blocksize), n_model, channels)
        blocks = self.iter_separate(reader, names)
        if progress:
            from tqdm import tqdm

            blocks = _SegmentProgress(blocks, tqdm(total=self.num_segments(n_in, fs_in), desc=Path(path).name,
                                                   unit="seg", file=sys.stderr))
        n_out = len(outputs)
        with atomic_outputs(outputs) as tmps:
            files = [sf.SoundFile(t, "w", samplerate=fs_in, channels=channels, subtype=subtype, format="WAV")
                     for t in tmps]
            try:
                written = 0
                stream = None
                if self.fs != fs_in:
                    import soxr

                    stream = soxr.ResampleStream(self.fs, fs_in, n_out * channels, dtype="float32", quality="HQ")

                def emit(y: np.ndarray) -> None:  # y (n_block, N * C) at the input rate
                    nonlocal written
                    take = min(y.shape[0], n_in - written)
                    for k, f in enumerate(files):
                        f.write(y[:take, k * channels:(k + 1) * channels])
                    written += take

                for block in blocks:  # (N, n_block, C) at the model rate
                    if block.shape[0] != n_out:
                        raise ValueError(f"{path}: the model gave {block.shape[0]} outputs for {n_out} prompts")
                    if not np.isfinite(block).all():
                        raise ValueError(f"{path}: the model produced NaN or Inf outputs (broken checkpoint?)")
                    y = np.ascontiguousarray(block.transpose(1, 0, 2).reshape(block.shape[1], -1))  # (n_block, N*C)
                    emit(stream.resample_chunk(y) if stream is not None else y)
                if stream is not None:
                    emit(stream.resample_chunk(np.zeros((0, n_out * channels), np.float32), last=True))
                if written < n_in:
                    emit(np.zeros((n_in - written, n_out * channels), np.float32))
            finally:
                for f in files:
                    f.close()


class _SegmentProgress:
    """Iterate blocks while advancing a progress bar by the segments consumed."""

    def __init__(self, blocks: Iterator[np.ndarray], bar):
        self.blocks, self.bar = blocks, bar

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            for b in self.blocks:
                self.bar.update(1)
                yield b
        finally:
            self.bar.close()
