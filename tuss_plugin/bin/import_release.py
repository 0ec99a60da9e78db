#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Convert a checkpoint released by the TUSS authors into an ESPnet model dir.

    python -m tuss_plugin.bin.import_release \
        --hparams pretrained_models/tuss.medium.2-4src/hparams.yaml \
        --checkpoint pretrained_models/tuss.medium.2-4src/checkpoints/model.pth \
        --outdir exp/tuss_medium_release

writes ``config.yaml`` + ``model.pth`` that ``SeparateAudio.from_pretrained``
and ``tuss-separate --model`` load.
"""

import argparse
import sys
from typing import List, Optional

from tuss_plugin.utils.cli import run_main


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hparams", required=True, help="the release's hparams.yaml")
    parser.add_argument("--checkpoint", required=True, help="the release's model.pth")
    parser.add_argument("--outdir", required=True, help="output directory")
    return parser


def run(args: argparse.Namespace) -> int:
    from tuss_plugin.convert.release import import_release

    out = import_release(args.hparams, args.checkpoint, args.outdir)
    print(f"{args.prog}: wrote {out}/config.yaml and {out}/model.pth")
    return 0


def main(cmd: Optional[List[str]] = None, prog: str = "import_release") -> int:
    args = get_parser().parse_args(cmd)
    args.prog = prog
    return run_main(prog, run, args, errors=(OSError, ValueError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
