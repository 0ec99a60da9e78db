#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Run a training command and print each epoch's losses as its log gets them.

    python -m tuss_plugin.bin.watch_train --log exp/enh_x/train.log \
        [--output exp/enh_x/launch.log] [--rotated] -- COMMAND [ARGS...]

Recipe stage 4 starts training through a job runner that writes ESPnet's
``train.log``; this command runs it, reads the log every ``--interval``
seconds and once more at the end, and prints one line per new epoch result
(``  epoch N: train loss X, valid loss Y``). Its exit status is the
command's (128 + N for a command killed by signal N). ``--output``: the
command's stdout and stderr go to this file instead of this command's.
``--rotated``: the launcher moves an earlier log aside before writing its
own (``espnet2.bin.launch`` does), so a log that is still the file that was
there before the start is the previous run's and is not read.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import IO, List, Optional, Tuple

from tuss_plugin.utils.cli import run_main

PROG = "watch_train"

# an epoch summary of ESPnet's trainer: "... 3epoch results: [train] ..., loss=X, ... [valid] ..., loss=Y, ..."
EPOCH_LINE = re.compile(
    r".* ([0-9]+)epoch results: \[train\] .*[ ,]loss=(-?[0-9.e+-]+).*\[valid\] .*[ ,]loss=(-?[0-9.e+-]+).*"
)


def epoch_results(text: str) -> List[Tuple[str, str, str]]:
    """``(epoch, train loss, valid loss)`` of each epoch summary line of a training log, in order."""
    found = []
    for line in text.splitlines():
        m = EPOCH_LINE.fullmatch(line)
        if m:
            found.append(m.groups())
    return found


def file_id(path: Path) -> Optional[Tuple[int, int]]:
    """(device, inode) of ``path``; None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class EpochPrinter:
    """Prints the epoch results of ``log`` that it has not printed yet; a log that
    is still the file ``earlier`` (see :func:`file_id`) is not read."""

    def __init__(self, log: Path, earlier: Optional[Tuple[int, int]] = None, out: Optional[IO[str]] = None):
        self.log, self.earlier, self.out = log, earlier, out  # out: None is sys.stdout
        self.shown = 0

    def update(self) -> None:
        if self.earlier is not None and file_id(self.log) == self.earlier:
            return
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return  # not written yet
        results = epoch_results(text)
        for epoch, train, valid in results[self.shown :]:
            print(f"  epoch {epoch}: train loss {train}, valid loss {valid}", file=self.out or sys.stdout, flush=True)
        self.shown = max(self.shown, len(results))


def watch(command: List[str], log: Path, output: Optional[Path] = None, rotated: bool = False,
          interval: float = 5.0) -> int:  # fmt: skip
    """Run ``command`` until it ends, printing new epoch results of ``log`` every
    ``interval`` seconds and at the end; returns its exit status."""
    printer = EpochPrinter(log, file_id(log) if rotated else None)
    with open(output, "w", encoding="utf-8") if output else contextlib.nullcontext() as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT if sink else None)
        try:
            while True:
                try:
                    status = proc.wait(timeout=interval)
                    break
                except subprocess.TimeoutExpired:
                    printer.update()
        except BaseException:  # Ctrl-C, SIGTERM: the training goes with this command
            proc.terminate()
            proc.wait()
            raise
    printer.update()
    return status if status >= 0 else 128 - status


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m tuss_plugin.bin.{PROG}", description=__doc__.split("\n")[0]
    )  # fmt: skip
    parser.add_argument("--log", type=Path, required=True, help="the training log the command writes")
    parser.add_argument("--output", type=Path, default=None, help="file for the command's stdout and stderr")
    parser.add_argument("--rotated", action="store_true", help="the log there before the start is not this run's")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between reads of the log (5)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (-- COMMAND [ARGS...])")
    if not args.interval > 0:
        parser.error(f"--interval must be > 0, got {args.interval}")
    return run_main(PROG, watch, command, args.log, args.output, args.rotated, args.interval,
                    errors=(OSError,), sigterm=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
