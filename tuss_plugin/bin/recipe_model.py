#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What the recipe stage script (``tuss.sh``) asks of a model, one subcommand each.

    python -m tuss_plugin.bin.recipe_model model_file EXP_DIR   # name of its default model file
    python -m tuss_plugin.bin.recipe_model config MODEL         # path of its config.yaml
    python -m tuss_plugin.bin.recipe_model kind MODEL           # "prompts" or "fixed"
    python -m tuss_plugin.bin.recipe_model check MODEL          # loads? (no weights built)
    python -m tuss_plugin.bin.recipe_model kept_epoch EXP_DIR N # the weights kept after epoch N

``MODEL`` is anything ``SeparateAudio.from_pretrained`` takes (an experiment
or model directory, a model file, a packed zip, a hub tag; see
:func:`tuss_plugin.inference.model_files.resolve_model_files`). Each
subcommand prints one line on stdout (anything printed on the way goes to stderr), or one error line
``<prog>: error: <message>`` on stderr with exit status 1 (``--prog`` names
the caller in it). ``model_file``, ``config`` and ``kind`` read files and
configs only (no torch, no ESPnet); ``kept_epoch`` names a file (the rule of
:func:`tuss_plugin.train.checkpoints.kept_epoch_file`); ``check`` builds the model of the config
on the meta device and maps the weights file, so it checks what loading the
model checks (TUSS: Saijo et al., ICASSP 2025) without the model's memory.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import List, Optional

from tuss_plugin.utils.cli import run_main

PROG = "recipe_model"


def model_file(exp_dir: str) -> str:
    """The file name of the default model file of ``exp_dir`` (the rule of
    :func:`tuss_plugin.inference.model_files.default_model_file`)."""
    from tuss_plugin.inference.model_files import default_model_file

    return default_model_file(exp_dir).name


def config_file(model: str) -> str:
    """The path of the training config of ``model`` (a packed zip is unpacked into the cache)."""
    from tuss_plugin.inference.model_files import resolve_model_files

    return str(resolve_model_files(model)[0])


def kind(model: str) -> str:
    """``"prompts"`` for a model with a prompt vocabulary (TUSS), ``"fixed"`` for
    a fixed-output separator; read from the config alone, as
    :func:`tuss_plugin.prompts.model_vocabulary` reads it."""
    from tuss_plugin.inference.model_files import read_config, resolve_model_files
    from tuss_plugin.prompts import model_vocabulary

    config, _ = resolve_model_files(model)
    return "prompts" if model_vocabulary(read_config(config)) is not None else "fixed"


def check(model: str) -> str:
    """``"ok"`` when ``model`` loads with ``SeparateAudio.from_pretrained``: its
    files resolve, its config builds a model whose keys, shapes and dtypes the
    weights match, and its sampling rate is known. The unpacked copy of a
    packed model that fails is removed, as ``from_pretrained`` removes it."""
    from tuss_plugin.inference.inputs import model_rate
    from tuss_plugin.inference.model_files import check_model_files, resolve_model_files
    from tuss_plugin.inference.unpack import discard_unpacked

    config_path, weights = resolve_model_files(model)
    try:
        meta_model, config = check_model_files(config_path, weights)
        if model_rate(config, getattr(meta_model, "separator", None)) is None:
            raise ValueError(f"{config_path}: the model's sampling rate is unknown: its config.yaml has no 'fs'")
    except ValueError:
        discard_unpacked(config_path)
        raise
    return "ok"


def kept_epoch(exp_dir: str, epoch: int) -> str:
    """The path of the weights ``exp_dir``'s training kept after ``epoch``
    (``--keep_epochs``; it need not exist yet)."""
    from tuss_plugin.train.checkpoints import kept_epoch_file

    return str(kept_epoch_file(exp_dir, epoch))


COMMANDS = {
    "model_file": (model_file, "EXP_DIR", "print the file name of the default model file of an experiment dir"),
    "config": (config_file, "MODEL", "print the path of a model's config.yaml"),
    "kind": (kind, "MODEL", 'print "prompts" (a prompt vocabulary) or "fixed" (a fixed-output separator)'),
    "check": (check, "MODEL", 'check that the model loads (config against weights); print "ok"'),
    "kept_epoch": (kept_epoch, "EXP_DIR", "print the path of the weights kept after epoch N (--keep_epochs)"),
}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m tuss_plugin.bin.{PROG}", description=__doc__.split("\n")[0]
    )  # fmt: skip
    parser.add_argument("--prog", default=PROG, help="name that starts the error line (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, metavar, text) in COMMANDS.items():
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("path", metavar=metavar)
        if name == "kept_epoch":
            command.add_argument("epoch", metavar="N", type=int, help="the epoch")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    func = COMMANDS[args.command][0]

    def run() -> int:
        with contextlib.redirect_stdout(sys.stderr):  # notes printed on the way (a download's) stay off the answer
            answer = func(args.path, *([args.epoch] if args.command == "kept_epoch" else []))
        print(answer)
        return 0

    return run_main(args.prog, run, errors=(OSError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
