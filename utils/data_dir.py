#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Kaldi's data-dir helpers for TUSS data dirs (utt2prompts, spk<k>.scp, ... kept in sync).

    utils/data_dir.py fix DIR                          # = fix_data_dir.sh
    utils/data_dir.py copy [--utt-prefix P] [--utt-suffix S] SRC DST   # = copy_data_dir.sh
    utils/data_dir.py combine DST SRC [SRC ...]        # = combine_data.sh
    utils/data_dir.py subset (--utt-list F | --first N | --last N) SRC DST   # = subset_data_dir.sh

See tuss_plugin/dataprep/datadir_tools.py. Errors: one line naming the file, exit status 1.
"""

import argparse
import sys
from pathlib import Path

# this checkout's package first (``import tuss_plugin`` imports neither torch nor ESPnet)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuss_plugin.dataprep import datadir_tools as t  # noqa: E402
from tuss_plugin.utils.cli import run_main  # noqa: E402


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fix").add_argument("dir")
    c = sub.add_parser("copy")
    c.add_argument("--utt-prefix", default="")
    c.add_argument("--utt-suffix", default="")
    c.add_argument("src")
    c.add_argument("dst")
    m = sub.add_parser("combine")
    m.add_argument("dst")
    m.add_argument("srcs", nargs="+")
    s = sub.add_parser("subset")
    how = s.add_mutually_exclusive_group(required=True)
    how.add_argument("--utt-list", type=Path)
    how.add_argument("--first", type=int)
    how.add_argument("--last", type=int)
    s.add_argument("src")
    s.add_argument("dst")
    return p


def run(a: argparse.Namespace) -> int:
    if a.cmd == "fix":
        print(f"data_dir.py fix: {a.dir}: {t.fix(a.dir)} utterance(s) removed")
    elif a.cmd == "copy":
        print(f"data_dir.py copy: {a.dst}: {t.copy(a.src, a.dst, a.utt_prefix, a.utt_suffix)} utterance(s)")
    elif a.cmd == "combine":
        left = t.combine(a.dst, a.srcs)
        print(f"data_dir.py combine: {a.dst}" + (f" (left out, not in every dir: {' '.join(left)})" if left else ""))
    else:
        if a.utt_list is not None:
            utts = [line.split()[0] for line in a.utt_list.read_text(encoding="utf-8").splitlines() if line.split()]
        else:
            utts = t.first_or_last(a.src, a.first if a.first is not None else a.last, last=a.last is not None)
        print(f"data_dir.py subset: {a.dst}: {t.subset(a.src, a.dst, utts)} utterance(s)")
    return 0


def main(argv=None) -> int:
    return run_main("data_dir.py", run, get_parser().parse_args(argv), errors=(OSError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
