#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Train TUSS with ESPnet's trainer (all of ``espnet2.bin.enh_train``'s options).

    python -m tuss_plugin.bin.tuss_train --config conf/tuss_medium.yaml \
        --train_data_path_and_name_and_type dump/train/wav.scp,speech_mix,sound \
        --train_data_path_and_name_and_type dump/train/spk.scp,speech_refs,variable_columns_sound \
        --train_data_path_and_name_and_type dump/train/utt2prompts,prompts,text ...

Use ``--unused_parameters true`` with DDP: prompt vectors absent from a batch
get no gradient.

With ``--resume true`` a run killed at any moment continues after the last
complete epoch: a checkpoint truncated by the kill is replaced by the copy of
the previous epoch (see :mod:`tuss_plugin.trainer`). Batches with a NaN/Inf
loss are skipped and counted in the log, once per epoch. Ctrl-C ends the run
with one line and exit status 130.
"""

import os
import sys
from typing import List, Optional

from tuss_plugin.cli import run_main
from tuss_plugin.cpu_memory import retain_freed_memory_in_workers
from tuss_plugin.tasks.tuss import TUSSTask
from tuss_plugin.trainer import recover_once


def get_parser():
    return TUSSTask.get_parser()


def _is_first_process() -> bool:
    """False in the workers of an external launcher (torchrun sets RANK)."""
    return os.environ.get("RANK", "0") == "0"


def main(cmd: Optional[List[str]] = None) -> int:
    """Run training (``cmd``: argument list, default ``sys.argv[1:]``); returns the exit status."""
    return run_main(
        "tuss_train", train, cmd, interrupted="interrupted (--resume true continues after the last complete epoch)"
    )


def train(cmd: Optional[List[str]] = None) -> None:
    retain_freed_memory_in_workers()  # malloc keeps freed activations (tuss_plugin.cpu_memory)
    args = get_parser().parse_args(cmd)
    if args.resume and args.output_dir and not args.collect_stats and _is_first_process():
        # before any worker starts, so that every rank resumes from the same file
        recover_once(args.output_dir)
    TUSSTask.main(cmd=cmd)


if __name__ == "__main__":
    sys.exit(main())
