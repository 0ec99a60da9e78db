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
``spk<k>.scp`` and ``utt2prompts`` (the prompts actually used). Outputs are
written atomically, and utterances whose outputs all exist are skipped, so an
interrupted run completes only what is missing. Unreadable audio or a missing
entry is reported in one line per utterance; the others are still separated,
and the command then exits with status 1 without writing the lists.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import soundfile as sf

from tuss_plugin.fileio import atomic_write, check_audio_file
from tuss_plugin.kaldi_io import read_dict, read_scp, write_list


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="exp dir, model file or packed zip")
    p.add_argument("--data_dir", required=True, help="dir with wav.scp and utt2prompts")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--key_file", default=None, help="only these utterances (first column)")
    p.add_argument("--list_dir", default=None,
                   help="where spk<k>.scp / utt2prompts go (default: output_dir; one per parallel job)")
    p.add_argument("--prompts", nargs="+", default=None,
                   help="use this prompt list for every mixture instead of utt2prompts")
    p.add_argument("--segment_size", type=float, default=None, help="segment length (s)")
    p.add_argument("--hop_size", type=float, default=None, help="segment shift (s)")
    p.add_argument("--config", default=None,
                   help="YAML whose keys are options of this command (e.g. segment_size: 6)")
    p.add_argument("--eval_mode", choices=["all", "single"], default="all",
                   help="all prompts in one pass, or one pass per prompt category")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num_threads", type=int, default=None)
    return p


def parse_args(cmd: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse options; ``--config`` YAML values are defaults the command line overrides."""
    parser = get_parser()
    args = parser.parse_args(cmd)
    if args.config:
        import yaml

        with open(args.config, encoding="utf-8") as f:
            conf = yaml.safe_load(f) or {}
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(conf) - known)
        if unknown:
            parser.error(f"{args.config}: unknown option(s) {unknown}")
        parser.set_defaults(**conf)
        args = parser.parse_args(cmd)
    return args


def separate_per_category(sep, x: np.ndarray, fs: int, prompts: List[str]) -> List[np.ndarray]:
    """One forward pass per prompt category ("single" evaluation of the paper).

    ``prompts = [speech, speech, sfxbg]`` runs ``[speech, speech]`` and then
    ``[sfxbg]``; the result lists the outputs in the order of ``prompts``.
    """
    out: List[Optional[np.ndarray]] = [None] * len(prompts)
    for category in dict.fromkeys(prompts):
        where = [i for i, p in enumerate(prompts) if p == category]
        est = sep(x, fs=fs, prompts=[category] * len(where))  # (len(where), L[, C])
        for i, e in zip(where, est):
            out[i] = e
    return out


def main(cmd: Optional[List[str]] = None) -> int:
    args = parse_args(cmd)
    import torch

    from tuss_plugin.cpu_memory import retain_freed_memory
    from tuss_plugin.inference import SeparateAudio

    retain_freed_memory()
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    data, out = Path(args.data_dir), Path(args.output_dir)
    try:
        wavs = read_scp(data / "wav.scp")
        keys = list(wavs)
        if args.key_file:
            keys = [line.split()[0] for line in open(args.key_file, encoding="utf-8") if line.strip()]
        prompts = read_dict(data / "utt2prompts") if args.prompts is None else {}
        sep = SeparateAudio.from_pretrained(args.model, device=args.device,
                                            segment_size=args.segment_size, hop_size=args.hop_size)
        fixed = sep.validate_prompts(args.prompts) if args.prompts is not None and sep.vocab is not None else None
    except (OSError, ValueError, KeyError) as e:
        print(f"tuss_inference: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    used = {}
    failed = []
    t0 = time.time()
    n_done = n_skipped = 0
    for i, utt in enumerate(keys, 1):
        try:
            if utt not in wavs:
                raise ValueError(f"not in {data / 'wav.scp'}")
            if sep.vocab is None:
                # separators without prompts (e.g. a stock ESPnet specialist): outputs
                # are labelled with the reference prompts, in order
                plist = args.prompts or prompts[utt]
            else:
                plist = fixed if fixed is not None else sep.validate_prompts(prompts[utt])
        except KeyError:
            failed.append(f"{utt}: no entry in {data / 'utt2prompts'}")
            continue
        except ValueError as e:
            failed.append(f"{utt}: {' '.join(str(e).split())}")
            continue
        used[utt] = plist
        paths = [out / "wavs" / str(k) / f"{utt}.wav" for k in range(1, len(plist) + 1)]
        if all(p.exists() for p in paths):
            n_skipped += 1
            continue
        try:
            check_audio_file(wavs[utt], scan_nonfinite=False)  # missing, unreadable, truncated, empty
            x, fs = sf.read(wavs[utt], dtype="float32")
            if args.eval_mode == "single" and sep.vocab is not None:
                est = separate_per_category(sep, x, fs, plist)
            else:
                est = sep(x, fs=fs, prompts=plist if sep.vocab is not None else None)  # (N, L[, C])
            if len(est) != len(plist):
                raise ValueError(f"the model gave {len(est)} outputs for prompts {plist}")
            for p, e in zip(paths, est):
                p.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(p, lambda tmp, e=e: sf.write(tmp, e, fs, subtype="FLOAT", format="WAV"))
        except (ValueError, OSError, RuntimeError) as e:
            msg = " ".join(str(e).split())
            failed.append(f"{utt}: {msg if wavs[utt] in msg else wavs[utt] + ': ' + msg}")
            continue
        n_done += 1
        if i % 10 == 0 or i == len(keys):
            el = time.time() - t0
            print(f"tuss_inference: {i}/{len(keys)} utterances, {el:.0f} s elapsed", flush=True)
    if failed:
        for f in failed:
            print(f"tuss_inference: error: {f}", file=sys.stderr)
        print(f"tuss_inference: {len(failed)} of {len(keys)} utterances failed (listed on stderr); "
              f"separated {n_done}, already done {n_skipped}; re-run to complete", flush=True)
        return 1
    lists = Path(args.list_dir) if args.list_dir else out
    lists.mkdir(parents=True, exist_ok=True)
    kmax = max((len(v) for v in used.values()), default=0)
    for k in range(1, kmax + 1):
        write_list(lists / f"spk{k}.scp",
                   ((u, str(out / "wavs" / str(k) / f"{u}.wav")) for u, v in used.items() if len(v) >= k))
    write_list(lists / "utt2prompts", used.items())
    print(f"tuss_inference: separated {n_done}, already done {n_skipped} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
