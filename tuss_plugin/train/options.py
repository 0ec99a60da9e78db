# SPDX-License-Identifier: Apache-2.0
"""The options of the TUSS trainer: ESPnet's trainer options plus validation
as the TUSS authors do it (per corpus, segment-wise for long tracks, at each
corpus's own rate), CPU bf16 training and epochs kept for fine-tuning
(Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Optional, Sequence

from espnet2.train.trainer import TrainerOptions

# a corpus name of utt2corpus and --valid_segment_corpora
CORPUS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclasses.dataclass
class TUSSTrainerOptions(TrainerOptions):
    """ESPnet's trainer options plus the validation options.

    Args:
        valid_segment_seconds: segment length of segment-wise validation
            (None: whole items).
        valid_segment_corpora: corpora validated segment-wise.
        fs: rate of the validation data (the task's ``--fs``; None: the
            separator's ``fs``).
        cpu_bf16: a CPU run (``--ngpu 0``) trains under bfloat16 autocast
            (see :meth:`tuss_plugin.train.trainer.TUSSTrainer.train_one_epoch`).
        keep_epochs: epochs whose weights are kept as ``<N>epoch.kept.pth``
            (:func:`tuss_plugin.train.checkpoints.kept_epoch_file`).
    """

    valid_segment_seconds: Optional[float] = None
    valid_segment_corpora: Sequence[str] = ()
    fs: Optional[int] = None
    cpu_bf16: bool = False
    keep_epochs: Sequence[int] = ()


def check_validation_options(options: TUSSTrainerOptions) -> None:
    """Raise ``ValueError`` for contradicting validation options."""
    seconds, corpora = options.valid_segment_seconds, list(options.valid_segment_corpora)
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"--valid_segment_seconds must be a positive number, got {seconds}")
    if corpora and seconds is None:
        raise ValueError(f"--valid_segment_corpora {corpora} needs --valid_segment_seconds")
    bad = [c for c in corpora if not CORPUS_NAME.fullmatch(c)]
    if bad:
        raise ValueError(f"--valid_segment_corpora: invalid corpus name(s) {bad}")
