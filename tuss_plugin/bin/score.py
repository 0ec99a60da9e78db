#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 6: score separated outputs against the references.

    python -m tuss_plugin.bin.score --ref_dir dump/raw/test \
        --inf_dir exp/enh_x/enhanced_test --output exp/enh_x/enhanced_test/scoring/scores.tsv

For every output: SI-SNR, SI-SNR improvement over the mixture, SNR and SDR
(BSS-Eval with a 512-tap filter, fast_bss_eval). Outputs are paired with
references of the same prompt only (best SI-SNR assignment inside repeated
prompts), so a prompt list other than the references' (``--inference_prompts``)
scores whatever categories both share. All-zero references get no score.
Writes one tab-separated row per output.

``--museval`` adds ``museval_sdr``: BSS Eval v4 SDR from museval (1-s windows
and hops, median over windows, as in SiSEC 2018 / MUSDB18), computed jointly
over the paired outputs of a mixture; the MSS benchmark's optional metric.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

import numpy as np
import soundfile as sf

from tuss_plugin.fileio import atomic_write_text
from tuss_plugin.kaldi_io import read_dict, read_scp
from tuss_plugin.metrics import match_outputs, sdr, si_snr, snr, task_of

COLUMNS = ["utt", "output", "prompt", "task", "si_snr", "si_snri", "snr", "sdr"]


def _museval_metrics():
    """``museval.metrics`` without ``museval/__init__``: the package init imports
    musdb/stempeg, which refuse to load without ffmpeg on PATH; the BSS Eval
    code itself needs only numpy/scipy."""
    import importlib.util

    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("--museval needs the museval package (make -C tools installs it)")
    path = Path(list(spec.submodule_search_locations)[0]) / "metrics.py"
    mspec = importlib.util.spec_from_file_location("_museval_metrics", path)
    mod = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(mod)
    return mod


def museval_sdr(refs: List[np.ndarray], ests: List[np.ndarray], fs: int) -> List[float]:
    """Median over 1-s windows of museval's BSS Eval v4 SDR, one value per source
    (the settings of ``museval.evaluate(..., mode="v4")``)."""
    metrics = _museval_metrics()
    R = np.stack(refs)[..., None]  # (n_src, n_samples, 1)
    E = np.stack(ests)[..., None]
    sdr_frames = metrics.bss_eval(R, E, compute_permutation=False, window=fs, hop=fs,
                                  framewise_filters=False, bsseval_sources_version=False)[0]  # (n_src, n_win)
    with np.errstate(all="ignore"):
        return [float(np.nanmedian(f)) if np.isfinite(f).any() else float("nan") for f in sdr_frames]


def _read(path: str) -> np.ndarray:
    x, _ = sf.read(path, dtype="float64", always_2d=True)
    return x[:, 0] if x.shape[1] == 1 else x.mean(1)


def score_utterance(utt, mix_path, ref_paths, ref_prompts, inf_paths, inf_prompts,
                    use_museval: bool = False) -> List[dict]:
    mix = _read(mix_path)
    refs = [_read(p) for p in ref_paths]
    infs = [_read(p) for p in inf_paths]
    n = min([len(mix)] + [len(r) for r in refs] + [len(i) for i in infs])
    mix, refs, infs = mix[:n], [r[:n] for r in refs], [i[:n] for i in infs]
    task = task_of(ref_prompts)
    rows = []
    for i, r in match_outputs(ref_prompts, inf_prompts, refs, infs):
        if not np.any(refs[r]):
            continue
        s = si_snr(infs[i], refs[r])
        rows.append({
            "utt": utt, "output": i + 1, "prompt": inf_prompts[i], "task": task,
            "si_snr": s, "si_snri": s - si_snr(mix, refs[r]),
            "snr": snr(infs[i], refs[r]), "sdr": sdr(infs[i], refs[r]),
        })
    if use_museval and rows:
        pairs = [(i, r) for i, r in match_outputs(ref_prompts, inf_prompts, refs, infs) if np.any(refs[r])]
        vals = museval_sdr([refs[r] for _, r in pairs], [infs[i] for i, _ in pairs], sf.info(mix_path).samplerate)
        for row, v in zip(rows, vals):
            row["museval_sdr"] = v
    return rows


def main(cmd: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref_dir", required=True, help="data dir: wav.scp, spk.scp, utt2prompts")
    parser.add_argument("--inf_dir", required=True, help="inference dir: spk<k>.scp, utt2prompts")
    parser.add_argument("--output", required=True, help="scores file (TSV)")
    parser.add_argument("--key_file", default=None)
    parser.add_argument("--museval", action="store_true",
                        help="also compute museval's BSS Eval v4 SDR (median of 1-s windows)")
    args = parser.parse_args(cmd)
    ref, inf = Path(args.ref_dir), Path(args.inf_dir)
    mixes = read_scp(ref / "wav.scp")
    ref_prompts = read_dict(ref / "utt2prompts")
    ref_lists = read_dict(ref / "spk.scp")
    inf_prompts = read_dict(inf / "utt2prompts")
    inf_lists = {}
    k = 1
    while (inf / f"spk{k}.scp").exists():
        for u, p in read_scp(inf / f"spk{k}.scp").items():
            inf_lists.setdefault(u, []).append(p)
        k += 1
    keys = list(inf_prompts)
    if args.key_file:
        keys = [line.split()[0] for line in open(args.key_file, encoding="utf-8") if line.strip()]
    rows = []
    missing = []
    for i, utt in enumerate(keys, 1):
        if utt not in ref_lists or utt not in inf_lists:
            missing.append(utt)
            continue
        rows += score_utterance(utt, mixes[utt], ref_lists[utt], ref_prompts[utt],
                                inf_lists[utt], inf_prompts[utt], use_museval=args.museval)
        if i % 20 == 0 or i == len(keys):
            print(f"score: {i}/{len(keys)} utterances", flush=True)
    if missing:
        print(f"score: error: no references or outputs for {len(missing)} utterance(s): "
              f"{', '.join(missing[:5])}", file=sys.stderr)
        return 1
    columns = COLUMNS + (["museval_sdr"] if args.museval else [])
    lines = ["\t".join(columns)]
    for r in rows:
        lines.append("\t".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in columns))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print(f"score: {len(rows)} outputs of {len(keys)} utterances -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
