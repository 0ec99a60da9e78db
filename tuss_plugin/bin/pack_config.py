#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The config a packed TUSS model carries: the training config plus default prompts.

    python -m tuss_plugin.bin.pack_config --config exp/enh_x/config.yaml \
        --out exp/enh_x/packed/config.yaml [--prompts "speech sfxbg"] \
        [--utt2prompts dump/raw/test/utt2prompts ...]

ESPnet's ``SeparateSpeech`` (``SeparateSpeech.from_pretrained`` of a packed
zip included) gives a separator no prompts; a TUSS model (Saijo et al.,
"Task-aware Unified Source Separation", ICASSP 2025) then separates with
``separator_conf.default_prompts``. Recipe stage 7 packs this copy of the
training config so that the zip separates with no inference config: the
prompts are ``--prompts`` (the recipe's ``--inference_prompts``) if given,
else the prompt list most test mixtures have (``--utt2prompts``; the first of
equally common lists). A config that sets ``default_prompts`` already, or
whose separator has no prompts, is copied unchanged. Prints the list used.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import yaml

from tuss_plugin.fileio.atomic import atomic_write_text
from tuss_plugin.utils.cli import run_main

PROMPT_SEPARATORS = ("tuss",)


def most_common_prompts(utt2prompts: Sequence[Path]) -> Optional[List[str]]:
    """The prompt list most mixtures of the files have (None if they hold none)."""
    from tuss_plugin.fileio.kaldi_io import read_dict

    counts: collections.Counter = collections.Counter()
    for path in utt2prompts:
        for prompts in read_dict(path).values():
            counts[tuple(prompts)] += 1
    return list(counts.most_common(1)[0][0]) if counts else None


def pack_config(config: dict, prompts: Optional[List[str]]) -> dict:
    """``config`` with ``separator_conf.default_prompts = prompts`` for a TUSS
    separator that has none; unchanged otherwise."""
    if str(config.get("separator", "")).lower() not in PROMPT_SEPARATORS or not prompts:
        return config
    sep_conf = dict(config.get("separator_conf") or {})
    if sep_conf.get("default_prompts"):
        return config
    sep_conf["default_prompts"] = list(prompts)
    return {**config, "separator_conf": sep_conf}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="training config.yaml")
    parser.add_argument("--out", type=Path, required=True, help="config to pack (written atomically)")
    parser.add_argument("--prompts", default="", help="default prompts, space-separated (default: from --utt2prompts)")
    parser.add_argument("--utt2prompts", type=Path, nargs="*", default=[], help="test sets' utt2prompts files")
    args = parser.parse_args(argv)

    def run() -> int:
        config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError(f"{args.config}: not a training config")
        prompts = args.prompts.split() or most_common_prompts(args.utt2prompts)
        packed = pack_config(config, prompts)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, yaml.safe_dump(packed, sort_keys=False))
        print(" ".join((packed.get("separator_conf") or {}).get("default_prompts") or []))
        return 0

    return run_main("pack_config", run, errors=(OSError, ValueError, yaml.YAMLError))


if __name__ == "__main__":
    sys.exit(main())
