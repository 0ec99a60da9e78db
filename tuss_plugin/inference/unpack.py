# SPDX-License-Identifier: Apache-2.0
"""Packed models (ESPnet's zip with ``meta.yaml``): bounded, safe unpacking into a cache.

A packed model is unpacked once per version of the zip into the cache
(``TUSS_CACHE``, else ``~/.cache/tuss``): only the config and model file that
``meta.yaml`` names, refusing member names outside the target and more bytes
than a limit; the cache keeps the most recently used copies
(:func:`prune_cache`). :func:`tuss_plugin.inference.model_files.resolve_model_files`
is the caller.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import List, Optional, Sequence, Tuple, Union

import yaml

# The most bytes the files of a packed model may unpack to. The paper's Large
# model (38 M parameters) is about 150 MB, an ESPnet checkpoint.pth with its
# optimiser state about three times that. Overridden by the environment
# variable TUSS_MAX_UNPACK_BYTES or the argument max_unpack_bytes.
DEFAULT_MAX_UNPACK_BYTES = 4 << 30  # 4 GiB
# Unpacked models kept in the cache: the most recently used ones; copies whose
# zip no longer exists are dropped. Overridden by TUSS_CACHE_KEEP.
DEFAULT_CACHE_KEEP = 8

PACK_META = "meta.yaml"
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


def safe_extract(
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


def pack_members(zip_path: Path) -> Tuple[str, str]:
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
            if PACK_META not in names:
                raise ValueError(f"{zip_path}: packed model without meta.yaml")
            if zf.getinfo(PACK_META).file_size > _MAX_META_BYTES:
                raise ValueError(f"{zip_path}: meta.yaml is larger than {_MAX_META_BYTES:,} bytes")
            text = zf.read(PACK_META)
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


def cache_base(cache_dir: Optional[Union[str, Path]] = None) -> Path:
    """Where packed models are unpacked: ``cache_dir``, else TUSS_CACHE, else ~/.cache/tuss."""
    return Path(cache_dir or os.environ.get("TUSS_CACHE") or Path.home() / ".cache" / "tuss")


def _zip_stamp(zip_path: Path) -> str:
    """Marker text of an unpacked copy: the zip's version, then its path."""
    st = zip_path.stat()
    return f"{st.st_mtime_ns} {st.st_size}\n{zip_path.resolve()}\n"


def unpack_once(zip_path: Path, out: Path, members: Sequence[str], max_bytes: Optional[int] = None) -> None:
    """Unpack ``members`` of ``zip_path`` into ``out`` unless done already for this version of the file.

    Unpacks into a temporary directory beside ``out`` and renames it, so
    parallel jobs never see a half-unpacked model and a failed unpack leaves
    nothing. Using a copy marks it as used (for :func:`prune_cache`).
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
        safe_extract(zip_path, tmp, members, max_bytes)
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


def prune_cache(base: Path, current: Path, keep: Optional[int] = None) -> None:
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


def discard_unpacked(file: Union[str, Path], cache_dir: Optional[Union[str, Path]] = None) -> None:
    """Remove the cache entry that holds ``file`` (a packed model that failed to load).

    Files outside the cache, such as an experiment directory, are never touched.
    """
    base = cache_base(cache_dir).resolve()
    f = Path(file).resolve()
    if base not in f.parents:
        return
    entry = base / f.relative_to(base).parts[0]
    if _ENTRY_NAME.fullmatch(entry.name) and (entry / _MARKER).is_file():
        shutil.rmtree(entry, ignore_errors=True)


def is_pack(path: Path) -> bool:
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
