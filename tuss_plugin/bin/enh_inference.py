#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ESPnet's own ``enh_inference`` for TUSS models (Saijo et al., "Task-aware
Unified Source Separation", ICASSP 2025).

    python -m tuss_plugin.bin.enh_inference --train_config exp/x/config.yaml \
        --model_file exp/x/valid.loss.ave.pth --inference_config conf/espnet_inference.yaml \
        --data_path_and_name_and_type dump/raw/test/wav.scp,speech_mix,sound \
        --output_dir exp/x/espnet_enhanced_test [--segment_size 6 --hop_size 3 ...]

Registers the plugin's classes (``--encoder tuss_stft``, ``--separator tuss``,
...) with ESPnet's enhancement task, then runs
``espnet2.bin.enh_inference`` with every one of its options, segment-wise
inference included. ESPnet's ``SeparateSpeech`` gives a separator no prompts,
so the prompt list comes from the inference config::

    separator_conf:
        default_prompts: [speech, sfxbg]

(the same list for every utterance; ``tuss_inference`` reads one list per
utterance from ``utt2prompts``). In Python, ``import tuss_plugin`` before
``espnet2.bin.enh_inference.SeparateSpeech`` does the same.
"""

import sys
from typing import List, Optional


def main(cmd: Optional[List[str]] = None) -> None:
    """Register the plugin, then ESPnet's ``enh_inference`` main (``cmd``: its arguments)."""
    from espnet2.bin.enh_inference import main as espnet_main

    import tuss_plugin  # noqa: F401  (registers the TUSS classes with ESPnet's enhancement task)

    espnet_main(cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
