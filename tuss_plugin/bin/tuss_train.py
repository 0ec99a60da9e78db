#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Train TUSS with ESPnet's trainer (all of ``espnet2.bin.enh_train``'s options).

    python -m tuss_plugin.bin.tuss_train --config conf/tuss_medium.yaml \
        --train_data_path_and_name_and_type dump/train/wav.scp,speech_mix,sound \
        --train_data_path_and_name_and_type dump/train/spk.scp,speech_refs,variable_columns_sound \
        --train_data_path_and_name_and_type dump/train/utt2prompts,prompts,text ...

Use ``--unused_parameters true`` with DDP: prompt vectors absent from a batch
get no gradient.
"""
from typing import List, Optional

from tuss_plugin.tasks.tuss import TUSSTask


def get_parser():
    return TUSSTask.get_parser()


def main(cmd: Optional[List[str]] = None) -> None:
    """Run training (``cmd``: argument list, default ``sys.argv[1:]``)."""
    TUSSTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
