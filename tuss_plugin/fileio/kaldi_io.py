# SPDX-License-Identifier: Apache-2.0
"""Reading and writing Kaldi-style text lists (``<key> <value...>`` per line).

Keys are utterance ids, and ids become file names (``<outdir>/<id>.wav``), so
every reader checks each key with :func:`check_utt_id`. The module needs
nothing beyond the standard library to be loaded (``utils/validate_data_dir.py``
loads it from its file without importing the package); the functions that read
audio import numpy, soundfile and kaldiio when called.

The values of ``wav.scp`` and ``spk<k>.scp`` are read as in Kaldi and ESPnet
(:func:`entry_kind`): the path of an audio file, a pipe command (``<command> |``,
its standard output is the audio) or an archive offset (``<file>:<byte offset>``,
e.g. written by kaldiio's ``WriteHelper``). The rule of this project: only
recipe stage 2 (``python -m tuss_plugin.bin.format_data``) runs pipe commands
and reads archive offsets (:func:`read_audio_entry`); it writes every mixture
and reference as a plain audio file into ``dump/raw/<set>/``, and every later
stage (training lists, ``tuss_inference``, ``score``) takes file paths only and
refuses the other kinds with a message that says to run stage 2 first
(:func:`stage2_problem`).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

PathLike = Union[str, Path]


def utt_id_problem(key: str) -> Optional[str]:
    """What makes ``key`` unusable as a file name inside an output dir, or None.

    The rule: not empty, no ``/`` (no absolute path, no subdirectory), no
    ``..``, no control character or whitespace, no invisible formatting
    character (bidirectional overrides, zero-width characters, a byte-order
    mark: an id that looks like another), and no leading ``.`` (hidden
    file) or ``-`` (read as an option by command-line tools).
    """
    if not key:
        return "empty"
    if "/" in key:
        return "contains '/'"
    if key[0] in ".-":
        return f"starts with {key[0]!r}"
    if ".." in key:
        return "contains '..'"
    if any(unicodedata.category(c) == "Cc" or c.isspace() for c in key):
        return "contains a control character or whitespace"
    if any(unicodedata.category(c) == "Cf" for c in key):
        return "contains an invisible formatting character (bidirectional or zero-width)"
    return None


def check_utt_id(key: str, where: str) -> str:
    """``key`` if it is a valid id; otherwise ``ValueError`` naming ``where``
    (``<file>:<line>``) and the id."""
    problem = utt_id_problem(key)
    if problem:
        raise ValueError(f"{where}: invalid id {key!r}: {problem} (ids become file names)")
    return key


_ID_ODD = re.compile(r"[^A-Za-z0-9.+-]+")
_DOTS = re.compile(r"\.{2,}")


def make_id(*parts: object) -> str:
    """An id made from free-form names (corpus file names, MUSDB track folders
    with spaces and ``&``), the one sanitiser of the data preparation: within
    each part every run of characters other than letters, digits, ``.``, ``+``
    and ``-`` becomes one ``_`` (none at the part's ends); the non-empty parts
    are joined with ``_``; a run of dots becomes one dot and a part does not
    start with ``.`` or ``-``, so the id passes :func:`utt_id_problem`.
    ``ValueError`` when nothing is left."""
    cleaned = (_DOTS.sub(".", _ID_ODD.sub("_", str(p))).strip("_").lstrip(".-").strip("_") for p in parts)
    out = "_".join(filter(None, cleaned))
    if not out:
        raise ValueError(f"cannot make an id from {parts!r}")
    return out


_OFFSET_ENTRY = re.compile(r"(.*\S):([0-9]+)")

# what format_data is, in the refusals of the stages after it
STAGE2 = "recipe stage 2 (python -m tuss_plugin.bin.format_data)"


def entry_kind(value: str) -> str:
    """How a ``wav.scp`` / ``spk<k>.scp`` value is read, by its form as in Kaldi:
    ``"pipe"`` (ends with ``|``: a shell command whose standard output is the
    audio), ``"offset"`` (ends with ``:<digits>``: the entry at that byte offset
    of an archive file) or ``"path"`` (an audio file)."""
    v = value.strip()
    if v.endswith("|"):
        return "pipe"
    if _OFFSET_ENTRY.fullmatch(v):
        return "offset"
    return "path"


def entry_files(value: str) -> List[str]:
    """The files an entry reads, as far as its text shows them: the path, the
    archive of an offset entry, or the words of a pipe command that name
    existing files (so that a change of those files can be noticed)."""
    import os
    import shlex

    v = value.strip()
    kind = entry_kind(v)
    if kind == "path":
        return [v]
    if kind == "offset":
        return [_OFFSET_ENTRY.fullmatch(v).group(1)]
    try:
        words = shlex.split(v[:-1])
    except ValueError:  # unbalanced quotes: the command fails when run
        words = v[:-1].split()
    return [w for w in words if os.path.isfile(w)]


def stage2_problem(value: str, where: str) -> Optional[str]:
    """Why a stage after recipe stage 2 cannot take ``value`` (a pipe command or
    an archive offset, which only stage 2 runs or reads), as one line naming
    ``where``; None for the path of a file."""
    kind = entry_kind(value)
    if kind == "pipe":
        what = "a pipe command; only"
    elif kind == "offset":
        what = "an archive offset (<file>:<byte offset>); only"
    else:
        return None
    return (
        f"{where}: {value.strip()!r} is {what} {STAGE2} runs pipe commands and reads archive offsets: "
        "run it on this data dir first and give its dump dir (plain audio files)"
    )


def check_not_pipe(value: str, where: str) -> str:
    """``value`` unless it is a Kaldi pipe command (``... |``), which only recipe
    stage 2 runs: ``ValueError`` with the one line of :func:`stage2_problem`."""
    if entry_kind(value) == "pipe":
        raise ValueError(stage2_problem(value, where))
    return value


def check_plain_path(value: str, where: str) -> str:
    """``value`` if it is the path of a file (not a pipe command, not an archive
    offset); otherwise ``ValueError`` with the one line of :func:`stage2_problem`."""
    problem = stage2_problem(value, where)
    if problem:
        raise ValueError(problem)
    return value


def read_audio_entry(value: str, where: str) -> Tuple[Any, int]:
    """The audio of one list entry as ``(samples, rate)``: float32 samples of
    shape (T,) for one channel or (T, C), scaled to [-1, 1] as soundfile reads.

    ``value`` is read by its :func:`entry_kind`: a path with soundfile (after
    :func:`tuss_plugin.fileio.audio.check_audio_file`: no FIFO is opened, truncated
    files are named); a pipe command is run by ``/bin/sh`` with no standard
    input and its output decoded; an archive offset is read with kaldiio (WAV,
    FLAC or soundfile-written entries; WAV that kaldiio's reader lacks, e.g.
    float, with soundfile). Only recipe stage 2 calls this for pipe commands and
    archive offsets (see the module docstring). Every problem is one
    ``ValueError`` line ``<where>: <entry>: <problem>``: a command that fails
    (its exit status and the end of its error output) or writes nothing, a
    missing archive, an offset past its end, an entry that is not audio.
    """
    import numpy as np

    v = value.strip()
    kind = entry_kind(v)
    if kind == "pipe":
        got = _decode_bytes(_run_pipe(v, where), where, v)
    elif kind == "offset":
        got = _read_offset(v, where)
    else:
        got = _read_file(v, where)
    if not (isinstance(got, tuple) and len(got) == 2):  # kaldiio gives (rate, samples) for audio
        got = (None, got)
    rate, x = got
    x = _as_float_samples(x, where, v)
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise ValueError(f"{where}: {v!r}: not audio (sampling rate {rate!r})")
    if x.shape[0] == 0:
        raise ValueError(f"{where}: {v!r}: no samples")
    return (x[:, 0] if x.shape[1] == 1 else x), int(rate)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    text = re.sub(r"^Error opening <[^>]*>: ", "", text)  # soundfile names the in-memory buffer
    return text.splitlines()[0] if text else type(e).__name__


def _read_file(path: str, where: str):
    import soundfile as sf

    from tuss_plugin.fileio.audio import check_audio_file  # here: loading this module needs no package import

    try:
        check_audio_file(path, scan_nonfinite=False)
    except ValueError as e:  # "<path>: <problem>"
        raise ValueError(f"{where}: {e}") from None
    try:
        x, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise ValueError(f"{where}: {path}: cannot read audio ({_first_line(e)})") from None
    return rate, x


def _run_pipe(command: str, where: str) -> bytes:
    """The standard output of the pipe entry ``command`` (``... |``)."""
    import subprocess

    try:
        r = subprocess.run(
            command[:-1], shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as e:
        raise ValueError(f"{where}: {command!r}: cannot start the command ({_first_line(e)})") from None
    if r.returncode != 0:
        status = f"exit status {r.returncode}" if r.returncode > 0 else f"killed by signal {-r.returncode}"
        tail = " ".join(r.stderr.decode("utf-8", "replace").split())
        tail = tail if len(tail) <= 200 else "..." + tail[-200:]
        raise ValueError(f"{where}: {command!r}: the command failed ({status}{': ' + tail if tail else ''})")
    if not r.stdout:
        raise ValueError(f"{where}: {command!r}: the command wrote nothing (audio expected on its standard output)")
    return r.stdout


# first bytes of what kaldiio reads that is not audio (not loaded: a pickle could run code)
_NOT_AUDIO = {b"NPY": "a NumPy array", b"PKL": "a pickled object", b"\0B": "a Kaldi binary matrix or vector"}
# first bytes of the audio entries kaldiio reads: WAV, FLAC and soundfile-written (WriteHelper)
_KALDIIO_AUDIO = (b"RIFF", b"fLaC", b"AUDIO")


def _not_audio(head: bytes) -> Optional[str]:
    for magic, what in _NOT_AUDIO.items():
        if head.startswith(magic):
            return what
    return None


def _decode_bytes(data: bytes, where: str, entry: str):
    """(rate, samples) of a pipe command's output: the forms kaldiio reads,
    then anything soundfile reads (e.g. WAV of any sample type, OGG)."""
    import io

    import soundfile as sf

    what = _not_audio(data[:5])
    if what:
        raise ValueError(f"{where}: {entry!r}: not audio ({what})")
    if data.startswith(_KALDIIO_AUDIO):
        import kaldiio.matio

        try:
            return kaldiio.matio.read_kaldi(io.BytesIO(data))
        except Exception:  # noqa: BLE001 - e.g. WAV samples kaldiio's reader lacks: soundfile below
            pass
    try:
        x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise ValueError(f"{where}: {entry!r}: not audio ({_first_line(e)}; starts with {data[:8]!r})") from None
    return rate, x


def _read_offset(entry: str, where: str):
    """(rate, samples) of an archive offset entry ``<file>:<byte offset>``."""
    import io
    import os
    import struct

    import soundfile as sf

    ark, offset = _OFFSET_ENTRY.fullmatch(entry).groups()
    offset = int(offset)
    if not os.path.isfile(ark):
        raise ValueError(f"{where}: {entry!r}: no such archive file {ark}")
    size = os.path.getsize(ark)
    if offset >= size:
        raise ValueError(f"{where}: {entry!r}: offset {offset} is past the end of {ark} ({size} bytes)")
    with open(ark, "rb") as f:
        f.seek(offset)
        head = f.read(8)
        what = _not_audio(head)
        if what or not head.startswith(_KALDIIO_AUDIO):
            what = what or f"starts with {head!r}, not WAV, FLAC or a soundfile-written entry"
            raise ValueError(f"{where}: {entry!r}: not audio ({what})")
        import kaldiio

        try:
            return kaldiio.load_mat(entry)
        except Exception as e:  # noqa: BLE001 - kaldiio raises several types
            if not head.startswith(b"RIFF") or len(head) < 8:
                raise ValueError(f"{where}: {entry!r}: not readable audio ({_first_line(e)})") from None
        # a WAV kaldiio's reader lacks (e.g. float samples): its RIFF chunk with soundfile
        riff = struct.unpack("<I", head[4:8])[0]
        f.seek(offset)
        data = f.read(None if riff in (0, 0xFFFFFFFF) else riff + 8)
    try:
        x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise ValueError(f"{where}: {entry!r}: not readable audio ({_first_line(e)})") from None
    return rate, x


def _as_float_samples(x: object, where: str, entry: str):
    """float32 (T, C) of what a reader returned: integer PCM is scaled as soundfile scales it."""
    import numpy as np

    if not isinstance(x, np.ndarray) or x.ndim not in (1, 2):
        shape = getattr(x, "shape", None)
        raise ValueError(f"{where}: {entry!r}: not audio ({type(x).__name__}{'' if shape is None else f' {shape}'})")
    if x.dtype == np.uint8:  # 8-bit WAV is unsigned
        y = (x.astype(np.float32) - 128.0) / 128.0
    elif x.dtype.kind == "i":
        y = x.astype(np.float32) / float(2 ** (8 * x.dtype.itemsize - 1))
    elif x.dtype.kind == "f":
        y = x.astype(np.float32)
    else:
        raise ValueError(f"{where}: {entry!r}: not audio (samples of type {x.dtype})")
    return y[:, None] if y.ndim == 1 else y


def read_list(path: PathLike, min_fields: int = 2) -> List[Tuple[str, List[str]]]:
    """Lines of a list as ``(key, fields)``; errors (too few fields, invalid or
    duplicate key) name the file and line."""
    from tuss_plugin.fileio.textfiles import read_lines  # regular file, strict UTF-8, no BOM, no NUL

    out = []
    seen = set()
    for lineno, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < min_fields:
            raise ValueError(f"{path}:{lineno}: expected '<key> <value>', got {line.strip()!r}")
        check_utt_id(parts[0], f"{path}:{lineno}")
        if parts[0] in seen:
            raise ValueError(f"{path}:{lineno}: duplicate key {parts[0]}")
        seen.add(parts[0])
        out.append((parts[0], parts[1:]))
    return out


def read_dict(path: PathLike) -> Dict[str, List[str]]:
    """:func:`read_list` as ``{key: fields}``."""
    return dict(read_list(path))


def read_scp(path: PathLike) -> Dict[str, str]:
    """``<key> <path>`` lists; as in Kaldi, the rest of the line after the key is
    the path, so paths may contain spaces (MUSDB18 track folders do)."""
    from tuss_plugin.fileio.textfiles import read_lines

    out = {}
    for lineno, line in enumerate(read_lines(path), 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{path}:{lineno}: expected '<key> <path>', got {line.strip()!r}")
        check_utt_id(parts[0], f"{path}:{lineno}")
        if parts[0] in out:
            raise ValueError(f"{path}:{lineno}: duplicate key {parts[0]}")
        out[parts[0]] = parts[1]
    return out


def write_list(path: PathLike, items: Iterable[Tuple[str, Union[str, Iterable[str]]]]) -> None:
    """Write ``key value`` lines sorted by key, atomically."""
    from tuss_plugin.fileio.atomic import atomic_write_text  # here: loading this module needs no package import

    lines = []
    for k, v in sorted(items, key=lambda kv: kv[0]):
        v = v if isinstance(v, str) else " ".join(v)
        lines.append(f"{k} {v}\n")
    atomic_write_text(path, "".join(lines))


def parse_fs(value: Union[str, int]) -> int:
    """``16k`` / ``44.1k`` / ``16000`` -> samples per second, in the range of
    :func:`tuss_plugin.utils.values.check_rate` (the owner of that rule)."""
    from tuss_plugin.utils.values import parse_rate

    return parse_rate(str(value))
