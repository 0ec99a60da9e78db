#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 5: separate every mixture of a data dir with its prompts.

    python -m tuss_plugin.bin.tuss_inference --model exp/enh_tuss_mini \
        --data_dir dump/raw/test --output_dir exp/enh_tuss_mini/enhanced_test \
        [--key_file split.1.scp] [--prompts speech sfxbg] \
        [--segment_size 6 --hop_size 3] [--eval_mode single]

``--eval_mode all`` (default) separates a mixture with its whole prompt list in
one forward pass; ``--eval_mode single`` runs one pass per prompt category, as
in the paper's "single" rows of Table III (a WHAM! mixture is separated with
``speech speech`` and then with ``sfxbg``), and writes the outputs at the
positions of their prompts.

Writes ``<output_dir>/wavs/<k>/<utt>.wav`` (k = position in the prompt list),
``spk<k>.scp`` and ``utt2prompts`` (the prompts actually used), and per
utterance ``<output_dir>/stamps/<utt>.json``: what its outputs were made from
(a hash of the model's weights and config, the segment settings, the eval mode
and other options that change outputs, the prompts, and the mixture file's
path, size and modification time). Outputs are written atomically; an
utterance whose outputs all exist and whose stamp matches is skipped, so an
interrupted run completes only what is missing, and a run with another model,
other prompts or other settings redoes everything that changed and removes
outputs of a longer, earlier prompt list (``--device`` and ``--num_threads``
change nothing). SIGTERM ends the run cleanly (status 143, finished utterances
kept; Ctrl-C likewise, status 130); temporary files of killed runs are
removed by the next run.

Unreadable audio, a missing entry, or a pipe command or archive offset in
wav.scp is reported in one line per utterance; the others are still separated,
and the command then exits with status 1 without writing the lists. An empty
list of utterances is an error too. Pipe commands are never run here (nor
archive offsets read): only recipe stage 2 (``python -m tuss_plugin.bin.format_data``)
does, writing plain audio files, and the message says to run it first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tuss_plugin.fileio.atomic import atomic_write_text, disk_full_problem
from tuss_plugin.fileio.kaldi_io import read_dict, read_list, read_scp
from tuss_plugin.inference.datadir_outputs import (
    output_paths,
    remove_other_outputs,
    separate_utterance,
    utterance_prompts,
    write_lists,
)
from tuss_plugin.inference.stamps import (
    STAMP_DIR,
    is_done,
    run_id,
    sweep_output_dirs,
    utterance_stamp,
    written_before,
)
from tuss_plugin.precision import PRECISIONS
from tuss_plugin.utils.cli import add_segment_options, report, run_main
from tuss_plugin.utils.values import check_device, positive_int, true_false

PROG = "tuss_inference"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="exp dir, model file or packed zip")
    p.add_argument("--data_dir", required=True, help="dir with wav.scp and utt2prompts")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--key_file", default=None, help="only these utterances (first column)")
    p.add_argument(
        "--list_dir", default=None, help="where spk<k>.scp / utt2prompts go (default: output_dir; one per parallel job)"
    )
    p.add_argument(
        "--prompts", nargs="+", default=None, help="use this prompt list for every mixture instead of utt2prompts"
    )
    add_segment_options(p, checked=True)
    p.add_argument(
        "--config",
        default=None,
        help="YAML whose keys are options of this command (e.g. segment_size: 6) or of ESPnet's enh_inference",
    )
    p.add_argument(
        "--enh_config", default=None, help="ESPnet SeparateSpeech inference config (separator_conf.default_prompts)"
    )
    p.add_argument(
        "--normalize_output_wav",
        type=true_false,
        default=False,
        help="scale each output to a peak of 0.9, as ESPnet's enh_inference (true/false, default false)",
    )
    p.add_argument(
        "--eval_mode",
        choices=["all", "single"],
        default="all",
        help="all prompts in one pass, or one pass per prompt category",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default, float32 throughout), bf16 (autocast; the TUSS authors evaluated in bf16 autocast: "
        "the way to score exactly as they did, docs/fidelity.md), or auto (bf16 where the device does it natively)",
    )
    p.add_argument("--num_threads", type=positive_int, default=None, help="CPU threads (>= 1)")
    return p


def parse_args(cmd: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse options; the YAML values of ``--config`` (ours or ESPnet's
    enh_inference's) and ``--enh_config`` (SeparateSpeech's) pass the same
    types and choices as the command line, which overrides them
    (:func:`tuss_plugin.utils.values.parse_with_config`,
    :func:`tuss_plugin.inference.espnet_options.translate_config`).

    ESPnet's ``espnet2.utils.config_argparse.ArgumentParser`` does not fit:
    it sets the YAML values as defaults without their option's type or
    choices, reads one config (this command reads ``--config`` and
    ``--enh_config``, translating ESPnet's inference keys), adds its own
    ``--config`` option, and importing it imports ESPnet, which ``--help``
    must not."""
    from tuss_plugin.inference.espnet_options import translate_config
    from tuss_plugin.utils.values import parse_with_config

    parser = get_parser()
    known = {a.dest for a in parser._actions}
    return parse_with_config(
        parser, cmd, PROG, ("config", "enh_config"), lambda conf, path: translate_config(conf, path, known)
    )


def check_dirs(args: argparse.Namespace) -> None:
    """Refuse output dirs that are, contain or lie inside an input (the model's
    experiment dir may hold them: ``exp/enh_x/enhanced_test``), a list dir whose
    lists would replace the key file, and output dirs that cannot be written,
    all before any model is loaded (:mod:`tuss_plugin.fileio.output_dirs`)."""
    from tuss_plugin.fileio.atomic import temp_path
    from tuss_plugin.fileio.output_dirs import check_output_dir, check_output_file

    inputs = [("--data_dir", args.data_dir), ("--model", args.model)]
    for option, d in (("--output_dir", args.output_dir), ("--list_dir", args.list_dir)):
        if d is None:
            continue
        check_output_dir(d, inputs, nested_ok=["--model"])
        if args.key_file:
            names = ["utt2prompts"] + [f"spk{k}.scp" for k in range(1, 10)]
            for name in names:
                check_output_file(Path(d) / name, [args.key_file], f"list {name} of {option}")
        try:
            Path(d).mkdir(parents=True, exist_ok=True)
            os.unlink(temp_path(Path(d) / "write-test"))
        except OSError as e:
            raise ValueError(f"{d}: {option} cannot be written ({e.strerror or e})") from None


def load(args: argparse.Namespace) -> Tuple[Dict[str, str], List[str], Dict[str, List[str]], object]:
    """(wav.scp, the utterances to separate, utt2prompts or {}, the separator);
    ``ValueError`` / ``OSError`` / ``KeyError`` on problems."""
    from tuss_plugin.inference import SeparateAudio

    data = Path(args.data_dir)
    wavs = read_scp(data / "wav.scp")
    keys = list(wavs)
    if args.key_file:
        keys = [k for k, _ in read_list(args.key_file, min_fields=1)]
    if not keys:
        raise ValueError(f"{args.key_file or data / 'wav.scp'}: no utterances to separate")
    prompts = read_dict(data / "utt2prompts") if args.prompts is None else {}
    check_device(args.device)  # before the model: a bad device is not the checkpoint's problem
    sep = SeparateAudio.from_pretrained(
        args.model,
        device=args.device,
        segment_size=args.segment_size,
        hop_size=args.hop_size,
        precision=args.precision,
    )
    return wavs, keys, prompts, sep


def main(cmd: Optional[List[str]] = None) -> int:
    args = parse_args(cmd)
    kept = "finished utterances are kept, re-run to complete"
    # OSError: writing the lists failed (full disk: one line naming the file)
    return run_main(
        PROG,
        run,
        args,
        errors=(OSError,),
        sigterm=True,
        interrupted=f"interrupted; {kept}",
        terminated=f"terminated; {kept}",
    )


def run(args: argparse.Namespace) -> int:
    """The command (see the module docstring); returns the exit status."""
    import torch

    from tuss_plugin.utils.cpu_memory import retain_freed_memory

    retain_freed_memory()
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    data, out = Path(args.data_dir), Path(args.output_dir)
    lists = Path(args.list_dir) if args.list_dir else out
    try:
        check_dirs(args)
        wavs, keys, prompts, sep = load(args)
        fixed = sep.validate_prompts(args.prompts) if args.prompts is not None and sep.vocab is not None else None
        if args.eval_mode == "single" and sep.vocab is None:
            raise ValueError(
                "--eval_mode single needs a model with prompts (one pass per prompt category); "
                "this model has fixed outputs and no prompts: use --eval_mode all"
            )
        rid = run_id(sep, args)
    except (OSError, ValueError, KeyError) as e:
        return report(PROG, e)
    sweep_output_dirs(out, lists)
    used = {}
    failed = []
    t0 = time.time()
    n_done = n_skipped = 0
    for i, utt in enumerate(keys, 1):
        try:
            plist = utterance_prompts(sep, utt, wavs, prompts, fixed, args.prompts, data)
        except KeyError:
            failed.append(f"{utt}: no entry in {data / 'utt2prompts'}")
            continue
        except ValueError as e:
            failed.append(f"{utt}: {' '.join(str(e).split())}")
            continue
        used[utt] = plist
        paths = output_paths(out, utt, len(plist))
        stamp_file = out / STAMP_DIR / f"{utt}.json"
        expected = utterance_stamp(rid, plist, wavs[utt])
        if is_done(stamp_file, expected, paths):
            n_skipped += 1
            continue
        try:
            n_before = written_before(stamp_file)
            stamp_file.unlink(missing_ok=True)  # the outputs change from here on
            separate_utterance(sep, wavs[utt], plist, args.eval_mode, paths, args.normalize_output_wav)
            remove_other_outputs(out, utt, len(plist), n_before)
            stamp_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(stamp_file, json.dumps(expected) + "\n")
        except (ValueError, OSError, RuntimeError) as e:
            msg = disk_full_problem(e, out) or " ".join(str(e).split())
            failed.append(f"{utt}: {msg if wavs[utt] in msg else wavs[utt] + ': ' + msg}")
            continue
        n_done += 1
        if i % 10 == 0 or i == len(keys):
            el = time.time() - t0
            print(f"tuss_inference: {i}/{len(keys)} utterances, {el:.0f} s elapsed", flush=True)
    if failed:
        for f in failed:
            report(PROG, f)
        print(
            f"tuss_inference: {len(failed)} of {len(keys)} utterances failed (listed on stderr); "
            f"separated {n_done}, already done {n_skipped}; re-run to complete",
            flush=True,
        )
        return 1
    write_lists(lists, out, used)
    print(f"tuss_inference: separated {n_done}, already done {n_skipped} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
