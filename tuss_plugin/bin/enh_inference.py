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
inference included; the training config reaches it with ``preprocessor: null``
(see :func:`espnet_train_config`). ESPnet's ``SeparateSpeech`` gives a separator no prompts,
so the prompt list comes from the inference config::

    separator_conf:
        default_prompts: [speech, sfxbg]

(the same list for every utterance; ``tuss_inference`` reads one list per
utterance from ``utt2prompts``). In Python, ``import tuss_plugin`` before
``espnet2.bin.enh_inference.SeparateSpeech`` does the same.
"""

import sys
from pathlib import Path
from typing import List, Optional

import yaml

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.fileio.textfiles import load_yaml


def espnet_train_config(train_config: str, output_dir: str) -> str:
    """The training config as ESPnet's ``enh_inference`` can use it, written to
    ``<output_dir>/espnet_train_config.yaml``: ``preprocessor: null``. Our
    preprocessor (``tuss``) turns the prompts of training data into ids;
    inference reads only the mixture, and ESPnet's ``EnhancementTask`` builds
    only its own preprocessors. Everything else is kept."""
    config = load_yaml(train_config)  # regular file, UTF-8, no YAML tags: one line otherwise
    if not isinstance(config, dict):
        raise ValueError(f"{train_config}: not a training config")
    if config.get("preprocessor") in (None, "enh", "dynamic_mixing"):
        return train_config  # ESPnet's own
    config["preprocessor"] = None
    out = Path(output_dir) / "espnet_train_config.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, yaml.safe_dump(config, sort_keys=False))
    return str(out)


def main(cmd: Optional[List[str]] = None) -> None:
    """Register the plugin, then ESPnet's ``enh_inference`` main (``cmd``: its arguments)."""
    from espnet2.bin.enh_inference import get_parser
    from espnet2.bin.enh_inference import main as espnet_main

    import tuss_plugin  # noqa: F401  (registers the TUSS classes with ESPnet's enhancement task)

    cmd = list(sys.argv[1:] if cmd is None else cmd)
    args, _ = get_parser().parse_known_args(cmd)
    if args.train_config and args.output_dir:
        try:
            config = espnet_train_config(args.train_config, args.output_dir)
        except ValueError as e:  # unreadable config, YAML tag: one line naming the file
            from tuss_plugin.utils.cli import report

            raise SystemExit(report("enh_inference", e)) from None
        cmd += ["--train_config", config]  # the last value of an option wins
    espnet_main(cmd)


if __name__ == "__main__":
    main()
