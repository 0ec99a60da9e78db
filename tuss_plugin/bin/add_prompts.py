#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Add prompts to a trained TUSS model; old prompts keep their outputs.

    python -m tuss_plugin.bin.add_prompts --model exp/enh_train \\
        --add bell=sfx --exclusive bell:sfxbg --outdir exp/enh_train_bell/init \\
        [--train_config conf/tuning/finetune_prompt.yaml] [--alias bells=bell] [--seed 0]

``--model``: an experiment or model directory, a model file (``config.yaml``
beside it), or a packed zip. Each ``--add NAME[=INIT]`` appends a prompt whose
vector starts as a copy of prompt INIT's (or random, ``NAME`` alone or
``NAME=random``); ``--exclusive NAME:OTHER,...`` forbids lists that combine an
added prompt with others (e.g. ``piano:musicbg``). ``--outdir`` gets
``config.yaml`` + ``model.pth`` (load it with ``SeparateAudio.from_pretrained``,
``tuss-separate --model``, ``tuss_inference --model`` or as
``--pretrained_model``) and ``added_prompts.yaml``; with ``--train_config``
(training options only: optimizer, epochs, batches, ``finetune_modules``...)
also ``train.yaml``, the complete config that fine-tunes only the new vectors
(``tuss_train --config <outdir>/train.yaml`` plus data options). Nothing is
written when anything is wrong (one-line error, exit status 1).
See :mod:`tuss_plugin.convert.new_prompts` (Saijo et al., ICASSP 2025).
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from tuss_plugin.utils.cli import run_main


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained model: exp dir, model file or packed zip")
    parser.add_argument(
        "--add",
        action="append",
        required=True,
        metavar="NAME[=INIT]",
        help="a prompt to add, starting from prompt INIT's vector (default: random); repeatable",
    )
    parser.add_argument(
        "--exclusive",
        action="append",
        default=[],
        metavar="NAME:OTHER[,OTHER...]",
        help="an added prompt may not be combined with these prompts; repeatable",
    )
    parser.add_argument(
        "--alias", action="append", default=[], metavar="ALIAS=NAME", help="another name of an added prompt; repeatable"
    )
    parser.add_argument("--outdir", required=True, help="directory of the extended model")
    parser.add_argument("--train_config", default=None, help="YAML of fine-tuning options; writes <outdir>/train.yaml")
    parser.add_argument("--seed", type=int, default=0, help="seed of random initial vectors (0)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace what an earlier add_prompts run wrote in --outdir (other files stay)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    from tuss_plugin.convert.new_prompts import add_prompts, parse_addition, parse_exclusion

    additions = [parse_addition(a) for a in args.add]
    exclusions = [parse_exclusion(e) for e in args.exclusive]
    aliases = {}
    for text in args.alias:
        alias, sep, name = text.partition("=")
        if not sep or not alias.strip() or not name.strip():
            raise ValueError(f"--alias {text}: expected ALIAS=NAME")
        aliases[alias] = name
    out = add_prompts(
        args.model, additions, args.outdir, exclusions, aliases, args.seed, args.train_config, args.overwrite
    )
    names = ", ".join(f"{a.name} (from {a.init or 'random'})" for a in additions)
    extra = " and train.yaml" if args.train_config else ""
    print(f"add_prompts: added {names}: wrote {out}/config.yaml, model.pth{extra}")
    return 0


def main(cmd: Optional[List[str]] = None) -> int:
    return run_main("add_prompts", run, get_parser().parse_args(cmd), errors=(OSError, ValueError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
