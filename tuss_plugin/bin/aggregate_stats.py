#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 3: join the split directories of ``collect_stats`` into one.

    python -m tuss_plugin.bin.aggregate_stats --output_dir STATS_DIR SPLIT_DIR [SPLIT_DIR ...]

First gives every split the same batch keys
(:func:`tuss_plugin.train.stats_dirs.align_batch_keys`: TUSS batches carry as
many references as prompts, so the splits' keys differ), then runs ESPnet's
``aggregate_stats_dirs`` on them. Errors (a split without its lists) are one
line and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from tuss_plugin.utils.cli import run_main

PROG = "aggregate_stats"


def get_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=formatter)
    parser.add_argument("--output_dir", required=True, type=Path, help="the joined statistics directory")
    parser.add_argument("split_dirs", nargs="+", type=Path, help="the output dirs of the collect_stats jobs")
    return parser


def aggregate(split_dirs: List[Path], output_dir: Path) -> int:
    from tuss_plugin.train.stats_dirs import align_batch_keys

    if not align_batch_keys(split_dirs):
        raise FileNotFoundError(f"{split_dirs[0]}: no train/ or valid/ batch_keys (did collect_stats finish?)")
    from espnet2.bin.aggregate_stats_dirs import aggregate_stats_dirs

    aggregate_stats_dirs(split_dirs, output_dir, log_level="WARNING", skip_sum_stats=False)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(PROG, aggregate, args.split_dirs, args.output_dir, errors=(OSError,))


if __name__ == "__main__":
    sys.exit(main())
