#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Split a Kaldi-style list into contiguous parts of near-equal size.

    split_scp.py wav.scp out/keys.1.scp out/keys.2.scp out/keys.3.scp
    split_scp.py --num 3 wav.scp out/keys.JOB.scp

Lines keep their order; part sizes differ by at most one line. There may not
be more parts than lines. As in utils/run_jobs.sh, JOB is replaced only as a
whole word (``keys.JOB.scp``; ``/data/JOBS/`` stays); no output may be the input.
"""

import argparse
import os
import re
import sys
from pathlib import Path

# JOB as a whole word: not next to a letter, digit or _ (the rule of run_jobs.sh)
JOB = re.compile(r"(?<![A-Za-z0-9_])JOB(?![A-Za-z0-9_])")


def split_lines(lines, n):
    if n < 1:
        raise ValueError(f"number of parts must be >= 1, got {n}")
    if n > len(lines):
        raise ValueError(f"cannot split {len(lines)} line(s) into {n} parts")
    base, extra = divmod(len(lines), n)
    out, start = [], 0
    for i in range(n):
        size = base + (1 if i < extra else 0)
        out.append(lines[start : start + size])
        start += size
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=None, help="number of parts (outputs given as a JOB pattern)")
    p.add_argument("input")
    p.add_argument("outputs", nargs="+")
    a = p.parse_args(argv)
    lines = [l for l in Path(a.input).read_text(encoding="utf-8").splitlines(keepends=True) if l.strip()]
    if a.num is not None:
        if len(a.outputs) != 1 or not JOB.search(a.outputs[0]):
            print("split_scp.py: with --num give one output pattern containing JOB", file=sys.stderr)
            return 1
        if a.num < 1:
            print(f"split_scp.py: --num must be >= 1, got {a.num}", file=sys.stderr)
            return 1
        outputs = [JOB.sub(str(i), a.outputs[0]) for i in range(1, a.num + 1)]
    else:
        outputs = a.outputs
    same = [o for o in outputs if os.path.realpath(o) == os.path.realpath(a.input)]
    if same:
        print(f"split_scp.py: {same[0]}: an output is the input {a.input}; choose other outputs", file=sys.stderr)
        return 1
    try:
        parts = split_lines(lines, len(outputs))
    except ValueError as e:
        print(f"split_scp.py: {a.input}: {e}", file=sys.stderr)
        return 1
    for out, part in zip(outputs, parts):
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("".join(part), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
