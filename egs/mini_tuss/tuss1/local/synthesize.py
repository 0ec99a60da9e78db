#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Synthesise the embedded mini TUSS corpus from real sounds (offline, deterministic).

Sources are rendered, not downloaded, by the generators of ``sources.py``:
speech spoken by eSpeak NG voices (``voices.py``), and instruments, sound
effects and backgrounds played from the General MIDI SoundFont shipped with
``pretty_midi`` (``soundfont.py``). Everything is drawn from seeds, so the
corpus is identical on every machine (a test checks checksums).

With ``--new_category bell`` it writes instead the sets of a category the
base model never sees: ``bell`` (struck bells) mixed with speech, sound events
and music (``<set>_bell``, patterns in :data:`NEW_TASKS`), for adding a
prompt to a trained model (``run_add_prompt.sh``).

Mixtures follow the paper's task patterns (SE, noisy SS, USS, MSS, CASS) and
gain ranges: every source is RMS-normalised and scaled by a gain uniform in
[-10, 0] dB (speech, sfx, instruments) or [-20, 0] dB (sfxbg, musicbg).
The speakers of train, dev and test are disjoint.

Output (Kaldi style) for each set and, for specialists, each set and task
(``<set>_<task>``, task in se/ss/uss/mss/cass): wav.scp, spk1.scp..spkN.scp,
utt2prompts, utt2spk, spk2utt; float wav files under <audio_dir>/<set>/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf
import sources
from voices import Speaker, speakers

TASKS: Dict[str, List[str]] = {
    "se": ["speech", "sfxbg"],
    "ss": ["speech", "speech", "sfxbg"],
    "uss": ["sfx"],  # 2 or 3 events, see mixture_prompts()
    "mss": ["drums", "bass", "vocals", "other"],
    "cass": ["speech", "sfxbg", "musicbg"],
}
# gain ranges (dB) as the paper states them: [-10, 0] for single sources,
# [-20, 0] for the mix categories (the authors' released configs use [-20, 0]
# for sfx too)
GAINS = {
    "speech": (-10, 0),
    "sfx": (-10, 0),
    "sfxbg": (-20, 0),
    "drums": (-10, 0),
    "bass": (-10, 0),
    "vocals": (-10, 0),
    "other": (-10, 0),
    "musicbg": (-20, 0),
}
SET_SEEDS = {"train": 1, "dev": 2, "test": 3}
# mixtures with a category beyond the eight (never in the sets above); bell is a
# sound event, so it is not asked for together with an SFX mix (sfxbg)
NEW_TASKS: Dict[str, Dict[str, List[str]]] = {
    "bell": {
        "bell_speech": ["bell", "speech"],
        "bell_sfx": ["bell", "sfx"],
        "bell_music": ["bell", "musicbg"],
        "bell_cass": ["bell", "speech", "musicbg"],
    },
}
NEW_GAINS = {"bell": (-10, 0)}
NEW_SEED = 10  # seed offset of the new-category sets


# ---------------------------------------------------------------- mixtures
def mixture_prompts(task: str, rng) -> List[str]:
    if task == "uss":
        return ["sfx"] * int(rng.integers(2, 4))
    return list(TASKS[task])


def make_mixture(
    task: str, rng: np.random.Generator, n: int, fs: int, speaker_pool: List[Speaker], prompts: List[str] = None
) -> Tuple[List[str], List[np.ndarray]]:
    """The prompts and scaled sources of one mixture of ``task``.

    ``speaker_pool``: the speakers of the set (two talkers of one mixture differ);
    ``prompts``: the pattern, for tasks beyond TASKS.
    """
    prompts = mixture_prompts(task, rng) if prompts is None else list(prompts)
    if task == "mss":
        srcs = sources.Song(rng, n, fs).stems()
    else:
        srcs = []
        talkers = rng.choice(len(speaker_pool), size=prompts.count("speech"), replace=False)
        events = sorted(sources.SFX_EVENTS)
        classes = rng.choice(len(events), size=prompts.count("sfx"), replace=False)  # distinct classes
        for k, p in enumerate(prompts):
            if p == "speech":  # the i-th talker of the mixture
                srcs.append(sources.speech(rng, n, fs, speaker_pool[talkers[prompts[:k].count("speech")]]))
            elif p == "sfx":
                srcs.append(sources.sfx(rng, n, fs, events[classes[prompts[:k].count("sfx")]]))
            elif p == "sfxbg":
                srcs.append(sources.sfxbg(rng, n, fs))
            elif p == "musicbg":
                srcs.append(sources.Song(rng, n, fs).mix())
            elif p == "bell":
                srcs.append(sources.bell(rng, n, fs))
    out = []
    for p, s in zip(prompts, srcs):
        rms = np.sqrt(np.mean(s**2))
        g = 10 ** (rng.uniform(*{**GAINS, **NEW_GAINS}[p]) / 20)
        out.append(s / rms * g * 0.1 if rms > 0 else s)
    return prompts, out


def write_lists(data_dir: Path, lines: Dict[str, List[str]], spk: Dict[int, List[str]]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for fname, ls in lines.items():
        (data_dir / fname).write_text("\n".join(sorted(ls)) + "\n")
    for k, ls in spk.items():
        (data_dir / f"spk{k}.scp").write_text("\n".join(sorted(ls)) + "\n")
    keys = sorted(line.split()[0] for line in lines["utt2spk"])
    (data_dir / "spk2utt").write_text("".join(f"{u} {u}\n" for u in keys))


def write_set(
    data_root: Path,
    audio_root: Path,
    name: str,
    per_task: int,
    seconds: float,
    fs: int,
    tasks: List[str],
    seed: int = None,
    patterns: Dict[str, List[str]] = None,
    counts: Dict[str, int] = None,
) -> None:
    """Write data/<name>/ (all tasks) and data/<name>_<task>/ (one task each, not
    for ``patterns``).

    ``per_task``: mixtures of each task, unless ``counts`` (task -> mixtures)
    names the task; mixture i of a task is the same whatever the counts.
    ``seed``: of the set (default SET_SEEDS[name]); ``patterns``: task -> prompt
    list, for tasks beyond TASKS (the new-category sets; they also get
    ``utt2corpus`` = the task, so that validation weighs every pattern equally).
    """
    seed = SET_SEEDS[name] if seed is None else seed
    data_dir = data_root / name
    wav_dir = audio_root / name
    wav_dir.mkdir(parents=True, exist_ok=True)
    n = int(seconds * fs)
    pool = speakers()[name.split("_")[0]]  # train_bell -> the train speakers
    lines: Dict[str, List[str]] = {"wav.scp": [], "utt2prompts": [], "utt2spk": []}
    spk: Dict[int, List[str]] = {}
    total = 0
    for task in tasks:
        count = (counts or {}).get(task, per_task)
        total += count
        t_lines: Dict[str, List[str]] = {"wav.scp": [], "utt2prompts": [], "utt2spk": []}
        t_spk: Dict[int, List[str]] = {}
        for i in range(count):
            utt = f"{task}_{name}_{i:04d}"
            rng = np.random.default_rng([seed, list(patterns or TASKS).index(task), i])
            prompts, srcs = make_mixture(task, rng, n, fs, pool, (patterns or {}).get(task))
            mix = np.sum(srcs, axis=0)
            peak = max(np.abs(mix).max(), max(np.abs(s).max() for s in srcs))
            if peak > 0.95:  # keep headroom: scale everything together
                srcs = [s * 0.95 / peak for s in srcs]
                mix = mix * 0.95 / peak
            for k, s in enumerate(srcs, 1):
                p = wav_dir / f"{utt}_s{k}.wav"
                sf.write(p, s.astype(np.float32), fs, subtype="FLOAT")
                for d in (spk, t_spk):
                    d.setdefault(k, []).append(f"{utt} {p.resolve()}")
            p = wav_dir / f"{utt}_mix.wav"
            sf.write(p, mix.astype(np.float32), fs, subtype="FLOAT")
            for d in (lines, t_lines):
                d["wav.scp"].append(f"{utt} {p.resolve()}")
                d["utt2prompts"].append(f"{utt} {' '.join(prompts)}")
                d["utt2spk"].append(f"{utt} {utt}")
        if not patterns:
            write_lists(data_root / f"{name}_{task}", t_lines, t_spk)
        print(f"synthesize.py: {name}: {task}: {count} mixtures", flush=True)
    write_lists(data_dir, lines, spk)
    if patterns:
        corpus = sorted(f"{line.split()[0]} {line.split()[0].split(f'_{name}_')[0]}" for line in lines["utt2spk"])
        (data_dir / "utt2corpus").write_text("\n".join(corpus) + "\n")
    print(f"synthesize.py: {name}: {total} mixtures of {seconds} s at {fs} Hz -> {data_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", required=True, help="lists go to <data_dir>/<set>[_<task>]/")
    parser.add_argument("--audio_dir", required=True, help="audio goes to <audio_dir>/<set>/")
    parser.add_argument("--fs", type=int, default=16000)
    parser.add_argument("--num_train", type=int, default=120, help="training mixtures per task")
    parser.add_argument(
        "--num_train_uss",
        type=int,
        default=None,
        help="training mixtures of the USS pattern (default: --num_train); its outputs share one prompt",
    )
    parser.add_argument("--num_dev", type=int, default=6, help="dev mixtures per task")
    parser.add_argument("--num_test", type=int, default=10, help="test mixtures per task")
    parser.add_argument("--seconds", type=float, default=2.0, help="mixture duration")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument(
        "--new_category",
        choices=sorted(NEW_TASKS),
        default=None,
        help="write only the sets <set>_<category> of this new category (NEW_TASKS)",
    )
    args = parser.parse_args()
    for name, count in (("train", args.num_train), ("dev", args.num_dev), ("test", args.num_test)):
        if args.new_category:
            patterns = NEW_TASKS[args.new_category]
            write_set(
                Path(args.data_dir),
                Path(args.audio_dir),
                f"{name}_{args.new_category}",
                count,
                args.seconds,
                args.fs,
                list(patterns),
                NEW_SEED + SET_SEEDS[name],
                patterns,
            )
        else:
            uss = {"uss": args.num_train_uss} if name == "train" and args.num_train_uss is not None else None
            write_set(
                Path(args.data_dir), Path(args.audio_dir), name, count, args.seconds, args.fs, args.tasks, counts=uss
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
