# SPDX-License-Identifier: Apache-2.0
"""The library's own errors and how an error reads in one line.

Library code (data preparation, the pool format, scoring) raises these and
knows nothing of command lines; :func:`tuss_plugin.utils.cli.run_main` turns
each into one line ``<prog>: error: <message>`` with exit status 1.
"""

from __future__ import annotations

from typing import Tuple, Type


class DataPrepError(RuntimeError):
    """A corpus, data dir or source pool cannot be used (the message names the
    file and the problem); raised by data preparation and the pool format."""


class MissingPackageError(RuntimeError):
    """An optional package that a requested computation needs is not installed
    (the message says which and how to install it)."""


# what every command reports as one line rather than a traceback
LIBRARY_ERRORS: Tuple[Type[BaseException], ...] = (DataPrepError, MissingPackageError)


def one_line(error: object) -> str:
    """The text of ``error`` (an exception or a string) with every run of
    whitespace, line breaks included, made one space; an exception without a
    message is named by its type."""
    text = " ".join(str(error).split())
    if not text and isinstance(error, BaseException):
        return type(error).__name__
    return text
