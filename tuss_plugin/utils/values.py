# SPDX-License-Identifier: Apache-2.0
"""The one owner of what a number given to this toolkit may be, and of options
read from config files.

Numbers: sampling rates (:func:`check_rate`, MIN_FS..MAX_FS Hz), durations in
seconds (:func:`check_seconds`, finite, > 0, at most MAX_SECONDS), counts
(:func:`check_count`, integers >= 1), WAV subtypes (:func:`check_subtype`).
The argparse types below apply them to the command line, so a meaningless
value is one line before any work starts.

Config files (:func:`parse_with_config`): a ``--config`` YAML whose keys are
options of the command passes each value through the option's own type and
choices, exactly as if given on the command line; the command line overrides it.

Standard library only at import time.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

# sampling rates (Hz) an input or an option may have: below MIN_FS no sound of
# the prompts' classes is representable (and resampling a 7 Hz file to 48 kHz
# multiplies it 7000-fold); MAX_FS is the highest rate of common converters
MIN_FS = 1_000
MAX_FS = 768_000
# the longest duration an option in seconds may give (a day)
MAX_SECONDS = 86_400.0


def check_rate(fs: object, what: str = "sampling rate", minimum: int = MIN_FS) -> int:
    """``fs`` as an int in [``minimum``, MAX_FS] Hz (files and options: MIN_FS), else
    ``ValueError`` naming ``what``."""
    if isinstance(fs, bool) or type(fs).__name__ == "bool_":
        raise ValueError(f"invalid {what} {fs}: expected a positive integer (Hz)")
    try:
        fs_i = int(fs)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"invalid {what} {fs!r}") from None
    if fs_i != fs:
        raise ValueError(f"invalid {what} {fs!r}: expected a positive integer (Hz)")
    if fs_i < max(1, minimum):
        raise ValueError(f"invalid {what} {fs!r} Hz: expected at least {max(1, minimum)} Hz")
    if fs_i > MAX_FS:
        raise ValueError(f"invalid {what} {fs!r} Hz: expected at most {MAX_FS} Hz")
    return fs_i


def parse_rate(text: str, what: str = "sampling rate") -> int:
    """``16k`` / ``44.1k`` / ``16000`` -> Hz, checked by :func:`check_rate`."""
    s = str(text).strip().lower()
    try:
        value = float(s[:-1]) * 1000 if s.endswith("k") else float(s)
    except ValueError:
        raise ValueError(f"invalid {what} {text!r} (use e.g. 16k, 44.1k or 48000)") from None
    if not math.isfinite(value) or value != round(value):
        raise ValueError(f"invalid {what} {text!r}: expected a whole number of Hz")
    return check_rate(int(round(value)), what)


def check_seconds(value: Optional[float], what: str, allow_none: bool = True) -> Optional[float]:
    """A duration in seconds: finite, > 0, at most MAX_SECONDS (``None`` passes with ``allow_none``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise ValueError(f"{what} must be a finite number of seconds in (0, {MAX_SECONDS:g}], got {value}")
    return float(value)


def check_count(value: object, what: str, minimum: int = 1) -> int:
    """An integer >= ``minimum``, else ``ValueError`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def check_subtype(subtype: str, what: str = "--subtype") -> str:
    """An upper-case WAV subtype soundfile writes, else ``ValueError``."""
    import soundfile as sf

    name = str(subtype).upper()
    if not sf.check_format("WAV", name):
        raise ValueError(f"invalid {what} {subtype!r}; e.g. FLOAT, PCM_16, PCM_24")
    return name


def check_device(name: str, what: str = "--device") -> str:
    """``name`` if torch can run on it here (``cpu``, ``cuda``, ``cuda:N`` with
    that GPU present, ...), else ``ValueError`` naming ``what`` (so a bad device
    is never reported as a problem of the model)."""
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"{what} {name!r}: not a device (e.g. cpu, cuda, cuda:0)") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0 or (dev.index or 0) >= n:
            raise ValueError(f"{what} {name!r}: this machine has {n} usable CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{what} {name!r}: MPS is not available on this machine")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{what} {name!r}: not supported here (use cpu or cuda)")
    return name


def _argtype(check: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = check.__name__
    return convert


def _int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return value == "true"


#: argparse types: a count >= 1, seconds, a sampling rate, true/false
true_false = _argtype(_bool)
positive_int = _argtype(lambda t: check_count(_int(t), "the value"))
seconds = _argtype(lambda t: check_seconds(_float(t), "the value"))
rate = _argtype(parse_rate)


def _config_argv(
    parser: argparse.ArgumentParser, conf: Dict[str, Any], path: str, skip: Sequence[str] = ("config",)
) -> List[str]:
    """Command-line words equivalent to ``conf`` (key -> value of an option;
    the config options ``skip`` are not options a config may set)."""
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    argv: List[str] = []
    for key, value in conf.items():
        action = actions.get(key)
        if action is None or key in tuple(skip) + ("help",):
            raise ValueError(f"{path}: unknown option {key!r} (keys are option names, e.g. segment_size)")
        flag = next((o for o in action.option_strings if o == f"--{key}"), action.option_strings[0])
        if value is None:
            continue  # the option's default
        if action.nargs == 0:  # store_true / store_false
            if not isinstance(value, bool):
                raise ValueError(f"{path}: {key}: expected true or false, got {value!r}")
            if value != action.default:
                argv.append(flag)
            continue
        items = value if isinstance(value, list) else [value]
        if not isinstance(value, list) and action.nargs not in (None, "?") and not isinstance(action.nargs, int):
            items = [value]
        if isinstance(value, list) and action.nargs in (None, "?"):
            raise ValueError(f"{path}: {key}: expected one value, got a list {value!r}")
        if not items or any(isinstance(v, (dict, list)) or v is None for v in items):
            raise ValueError(f"{path}: {key}: expected a value or a list of values, got {value!r}")
        argv += [flag] + [str(v).lower() if isinstance(v, bool) else str(v) for v in items]
    return argv


class _ConfigParseError(Exception):
    pass


def _check_config_words(parser: argparse.ArgumentParser, argv: List[str], path: str) -> None:
    """Parse the config's words alone (required options relaxed) so that a bad
    value is reported as the config's, naming the file."""

    def fail(message: str) -> None:
        raise _ConfigParseError(message)

    saved = [(a, a.required) for a in parser._actions]
    old_error = parser.error
    try:
        for a, _ in saved:
            a.required = False
        parser.error = fail  # type: ignore[method-assign]
        parser.parse_args(argv)
    except _ConfigParseError as e:
        raise ValueError(f"{path}: {e}") from None
    finally:
        parser.error = old_error  # type: ignore[method-assign]
        for a, req in saved:
            a.required = req


def parse_with_config(
    parser: argparse.ArgumentParser,
    cmd: Optional[Sequence[str]],
    prog: str,
    config_dests: Sequence[str] = ("config",),
    translate: Optional[Callable[[Dict[str, Any], str], Dict[str, Any]]] = None,
) -> argparse.Namespace:
    """``parser.parse_args(cmd)`` where the YAML files of the options
    ``config_dests`` (e.g. ``--config``) supply options the command line does
    not give (a later config's keys win over an earlier one's). ``translate``
    maps a config's keys to the parser's option names first (e.g. ESPnet's
    inference config keys). Each config value goes through the option's type
    and choices; a missing or unreadable config, a YAML tag, a value that is
    not an option, or a bad value is one line ``<prog>: error: <file>: ...``
    and exit status 2 (as argparse's errors)."""
    from tuss_plugin.fileio.textfiles import load_yaml_mapping

    cmd = list(sys.argv[1:] if cmd is None else cmd)
    pre = argparse.ArgumentParser(add_help=False)
    for dest in config_dests:
        pre.add_argument(f"--{dest}", default=None)
    known, _ = pre.parse_known_args(cmd)
    argv: List[str] = []
    for dest in config_dests:
        path = getattr(known, dest)
        if not path:
            continue
        try:
            conf = load_yaml_mapping(path, "a config of options")
            if translate is not None:
                conf = translate(conf, path)
            words = _config_argv(parser, conf, path, skip=config_dests)
            _check_config_words(parser, words, path)
        except ValueError as e:
            print(f"{prog}: error: {' '.join(str(e).split())[:500]}", file=sys.stderr)
            raise SystemExit(2) from None
        argv += words
    return parser.parse_args(argv + cmd)
