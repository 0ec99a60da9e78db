#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Train TUSS with ESPnet's trainer (all of ``espnet2.bin.enh_train``'s options).

    python -m tuss_plugin.bin.tuss_train --config conf/tuss_medium.yaml \
        --train_data_path_and_name_and_type dump/train/wav.scp,speech_mix,sound \
        --train_data_path_and_name_and_type dump/train/spk.scp,speech_refs,variable_columns_sound \
        --train_data_path_and_name_and_type dump/train/utt2prompts,prompts,text ...

Several GPUs train with DistributedDataParallel (DDP) as in ESPnet:
``--ngpu N --multiprocessing_distributed true`` starts one process per GPU
(without ``--multiprocessing_distributed true``, ESPnet falls back to the
slower single-process ``DataParallel``). Several nodes: one process per node
with ``--dist_launcher slurm`` (under ``srun``) or ``--dist_launcher mpi``
(under ``mpirun``) and a shared ``--dist_init_method file://...``, which is
what ``tuss.sh --num_nodes`` runs. Any other launcher starts one process per
rank with ``--dist_world_size W --dist_rank r --dist_init_method ...``; on
CPUs add ``--ngpu 0 --dist_backend gloo``. Unused-parameter detection is on
by default (``--unused_parameters``); ``--batch_size`` is the batch of all
ranks together.

With ``--resume true`` a run killed at any moment continues after the last
complete epoch: a checkpoint truncated by the kill is replaced by the copy of
the previous epoch (see :mod:`tuss_plugin.train.trainer`; under DDP rank 0 repairs
the files while the others wait). Batches with a NaN/Inf loss are skipped and
counted in the log, once per epoch. Ctrl-C ends the run with one line and
exit status 130.

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.
"""

import sys
from typing import List, Optional

from tuss_plugin.precision import EmulatedBF16Error
from tuss_plugin.tasks.tuss import TUSSTask
from tuss_plugin.utils.cli import run_main
from tuss_plugin.utils.cpu_memory import retain_freed_memory_in_workers


def get_parser():
    return TUSSTask.get_parser()


def main(cmd: Optional[List[str]] = None) -> int:
    """Run training (``cmd``: argument list, default ``sys.argv[1:]``); returns the exit status."""
    return run_main(
        "tuss_train",
        train,
        cmd,
        errors=(EmulatedBF16Error,),
        interrupted="interrupted (--resume true continues after the last complete epoch)",
    )


def train(cmd: Optional[List[str]] = None) -> None:
    retain_freed_memory_in_workers()  # malloc keeps freed activations (tuss_plugin.utils.cpu_memory)
    # the checkpoints of a resumed run are checked by the trainer (rank 0, the
    # other ranks wait for it: tuss_plugin.train.trainer.TUSSTrainer.run)
    TUSSTask.main(cmd=cmd)


if __name__ == "__main__":
    sys.exit(main())
