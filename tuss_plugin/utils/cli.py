# SPDX-License-Identifier: Apache-2.0
"""What the commands of this package share: one-line errors and exit statuses.

Every entry point runs its work through :func:`run_main`. An expected problem
(a :class:`CLIError`, one of the library's own errors of
:mod:`tuss_plugin.utils.errors`, or an exception type the command lists) is reported as
one line ``<prog>: error: <message>`` on stderr with exit status 1; Ctrl-C
gives one line and status 130, SIGTERM (with ``sigterm=True``) one line and
status 143, as a shell reports a process killed by these signals. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Tuple, Type

from tuss_plugin.utils.errors import LIBRARY_ERRORS, one_line

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
# the longest error line printed (longer messages are cut)
MAX_ERROR_CHARS = 1000


class CLIError(Exception):
    """A problem reported as one line, with exit status 1."""


def error_line(prog: Optional[str], error: object) -> str:
    """``<prog>: error: <message>`` in one line (``error: <message>`` without ``prog``),
    at most about :data:`MAX_ERROR_CHARS` characters (a message listing a huge
    vocabulary or file list is cut, saying how much was left out)."""
    msg = one_line(error)
    if len(msg) > MAX_ERROR_CHARS:
        msg = f"{msg[: MAX_ERROR_CHARS - 200]} ... [{len(msg) - MAX_ERROR_CHARS + 200} characters left out]"
    return f"{prog}: error: {msg}" if prog else f"error: {msg}"


def report(prog: Optional[str], error: object) -> int:
    """Print :func:`error_line` to stderr; returns :data:`EXIT_ERROR`."""
    print(error_line(prog, error), file=sys.stderr)
    return EXIT_ERROR


def run_main(
    prog: Optional[str],
    func: Callable[..., Optional[int]],
    *args: object,
    errors: Tuple[Type[BaseException], ...] = (),
    interrupted: str = "interrupted",
    terminated: str = "terminated",
    sigterm: bool = False,
    **kwargs: object,
) -> int:
    """``func(*args, **kwargs)``'s exit status (None counts as 0).

    :class:`CLIError`, the library's errors (:data:`~tuss_plugin.utils.errors.LIBRARY_ERRORS`)
    and the types in ``errors`` become one error line and
    status 1; ``KeyboardInterrupt`` the line ``<prog>: <interrupted>`` and 130;
    :class:`tuss_plugin.fileio.atomic.Terminated` the line ``<prog>: <terminated>``
    and 143. With ``sigterm=True`` SIGTERM raises ``Terminated`` inside
    ``func`` (:func:`tuss_plugin.fileio.atomic.raise_on_sigterm`), so that its atomic
    writers clean up on the way out; otherwise SIGTERM keeps its default action.
    """
    import contextlib

    from tuss_plugin.fileio.atomic import Terminated, raise_on_sigterm

    lead = f"{prog}: " if prog else ""
    try:
        with raise_on_sigterm() if sigterm else contextlib.nullcontext():
            status = func(*args, **kwargs)
    except (CLIError,) + LIBRARY_ERRORS + tuple(errors) as e:
        return report(prog, e)
    except KeyboardInterrupt:
        print(lead + interrupted, file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(lead + terminated, file=sys.stderr)
        return EXIT_TERMINATED
    return 0 if status is None else status


def add_segment_options(parser: argparse.ArgumentParser, aliases: bool = False, checked: bool = False) -> None:
    """``--segment_size`` / ``--hop_size`` (seconds; ESPnet's spelling), with
    ``aliases`` also ``--segment`` / ``--hop`` (the first spelling of ``tuss-separate``).
    With ``checked`` each value is checked when parsed (:func:`tuss_plugin.utils.values.seconds`:
    finite, > 0, at most a day), so values of a ``--config`` file are checked as the
    command line's; otherwise the command checks them (``set_segments``, the same rule)."""
    from tuss_plugin.utils.values import seconds

    kind = seconds if checked else float
    parser.add_argument(
        "--segment_size",
        *(["--segment"] if aliases else []),
        dest="segment_size",
        type=kind,
        default=None,
        help="segment length in seconds (long files; default: whole files)",
    )
    parser.add_argument(
        "--hop_size",
        *(["--hop"] if aliases else []),
        dest="hop_size",
        type=kind,
        default=None,
        help="segment shift in seconds (default: the segment length)",
    )
