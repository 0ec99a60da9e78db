#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Synthesise the embedded mini TUSS corpus (offline, deterministic).

Every source is generated from a seed, so the corpus is identical on every
machine. Sounds are simple models of their category:

* speech   - syllables of voiced (glottal harmonics shaped by moving formants,
             with pitch movement) and unvoiced (high-band noise) segments
* sfx      - short events: chirps, impacts, beeps, rattles
* sfxbg    - stationary coloured noise plus slowly modulated noise
* drums    - kick, snare and hi-hat on a beat grid
* bass     - low notes following the chord roots, one per beat
* vocals   - sung vowels on a melody, with vibrato
* other    - chords of harmonic tones
* musicbg  - a music mix (drums, bass, chords, lead) of its own song

With ``--new_category bell`` it writes instead the sets of a category the
base model never sees: ``bell`` (struck bells: inharmonic partials with
exponential decays) mixed with speech, sound events and music
(``<set>_bell``, patterns in :data:`NEW_TASKS`), for adding a prompt to a
trained model (``run_add_prompt.sh``).

Mixtures follow the paper's task patterns (SE, noisy SS, USS, MSS, CASS) and
gain ranges: every source is RMS-normalised and scaled by a gain uniform in
[-10, 0] dB (speech, sfx, instruments) or [-20, 0] dB (sfxbg, musicbg).

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
VOWELS = [(730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240)]
SCALE = [0, 2, 4, 5, 7, 9, 11]  # major scale, semitones


# ---------------------------------------------------------------- helpers
def envelope(n: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(n)
    a, r = min(attack, n // 2), min(release, n // 2)
    if a:
        env[:a] = np.linspace(0, 1, a)
    if r:
        env[-r:] *= np.linspace(1, 0, r)
    return env


def band_noise(rng, n: int, lo: float, hi: float, fs: int, tilt_db: float = 0.0) -> np.ndarray:
    """White noise filtered to [lo, hi] Hz with a spectral tilt (dB/octave)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / fs)
    gain = ((f >= lo) & (f <= hi)).astype(float)
    if tilt_db:
        gain *= (np.maximum(f, 50) / 1000.0) ** (tilt_db / 6.02)
    return np.fft.irfft(spec * gain, n)


def harmonics(f0: np.ndarray, fs: int, amp_fn, max_hz: float = 7000.0) -> np.ndarray:
    """Additive synthesis; amp_fn(k, freq_k) -> per-sample amplitude of harmonic k."""
    phase = 2 * np.pi * np.cumsum(f0) / fs
    out = np.zeros_like(f0)
    kmax = int(max_hz / max(f0.min(), 30))
    for k in range(1, kmax + 1):
        fk = k * f0
        a = amp_fn(k, fk) * (fk < max_hz)
        out += a * np.sin(k * phase)
    return out


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


# ---------------------------------------------------------------- sources
def speech(rng, n: int, fs: int) -> np.ndarray:
    out = np.zeros(n)
    base_f0 = rng.uniform(90, 230)
    t = int(rng.uniform(0, 0.15) * fs)
    while t < n:
        seg = int(rng.uniform(0.08, 0.25) * fs)
        seg = min(seg, n - t)
        if seg < 80:
            break
        if rng.random() < 0.72:
            # voiced: pitch glide + moving formants
            f0 = base_f0 * np.linspace(rng.uniform(0.85, 1.15), rng.uniform(0.8, 1.2), seg)
            v0, v1 = VOWELS[rng.integers(5)], VOWELS[rng.integers(5)]
            fm = [np.linspace(a * rng.uniform(0.9, 1.1), b * rng.uniform(0.9, 1.1), seg) for a, b in zip(v0, v1)]

            def amp(k, fk, fm=fm):
                peaks = sum(np.exp(-0.5 * ((fk - F) / 220.0) ** 2) * w for F, w in zip(fm, (1.0, 0.6, 0.3)))
                return (0.08 + peaks) / k**0.6

            x = harmonics(f0, fs, amp, max_hz=5000)
            x *= envelope(seg, int(0.02 * fs), int(0.03 * fs))
        else:
            x = band_noise(rng, seg, rng.uniform(1800, 3500), 7000, fs) * envelope(seg, 80, int(0.02 * fs))
            x *= 0.5 * np.std(out[max(0, t - fs // 4) : t]) / (np.std(x) + 1e-9) if t > 0 and out[:t].any() else 0.3
        out[t : t + seg] += x
        t += seg
        if rng.random() < 0.3:  # word gap
            t += int(rng.uniform(0.05, 0.2) * fs)
    return out


def sfx(rng, n: int, fs: int, kinds=None) -> np.ndarray:
    out = np.zeros(n)
    n_events = rng.integers(2, 4)
    kinds = kinds or ["chirp", "impact", "beep", "rattle"]
    for _ in range(n_events):
        kind = kinds[rng.integers(len(kinds))]
        dur = int(rng.uniform(0.2, 0.6) * fs)
        dur = min(dur, n)
        tt = np.arange(dur) / fs
        if kind == "chirp":
            f = np.linspace(rng.uniform(400, 1500), rng.uniform(1500, 5000), dur)
            x = np.sin(2 * np.pi * np.cumsum(f) / fs) * envelope(dur, 200, 400)
        elif kind == "impact":
            x = band_noise(rng, dur, 60, rng.uniform(1500, 6000), fs) * np.exp(-tt / rng.uniform(0.03, 0.12))
        elif kind == "beep":
            f = rng.uniform(700, 3000)
            gate = (np.sin(2 * np.pi * rng.uniform(6, 14) * tt) > 0).astype(float)
            x = np.sin(2 * np.pi * f * tt) * gate * envelope(dur, 50, 50)
        else:  # rattle: click train
            x = np.zeros(dur)
            step = int(fs / rng.uniform(15, 40))
            for s in range(0, dur - 60, step):
                x[s : s + 60] += rng.standard_normal(60) * np.exp(-np.arange(60) / 12)
        start = rng.integers(0, max(1, n - dur))
        out[start : start + dur] += x / (np.std(x) + 1e-9)
    return out


def sfxbg(rng, n: int, fs: int) -> np.ndarray:
    stat = band_noise(rng, n, 40, 7800, fs, tilt_db=rng.uniform(-9, -2))
    mod = band_noise(rng, n, rng.uniform(100, 600), rng.uniform(1500, 5000), fs)
    lfo = 1 + 0.9 * np.sin(2 * np.pi * rng.uniform(0.3, 2.0) * np.arange(n) / fs + rng.uniform(0, 6))
    stat /= np.std(stat) + 1e-9
    mod /= np.std(mod) + 1e-9
    w = rng.uniform(0.3, 0.7)
    return w * stat + (1 - w) * mod * lfo


# bell partials relative to the strike note (hum, prime, tierce, quint, nominal
# and upper partials of a tuned bell) and their decay times relative to the hum's
BELL_PARTIALS = ((0.5, 1.0), (1.0, 0.8), (1.2, 0.55), (1.5, 0.45), (2.0, 0.4), (2.5, 0.3), (2.67, 0.25), (3.0, 0.2))


def bell(rng, n: int, fs: int) -> np.ndarray:
    """One to three strikes of a bell: inharmonic partials, exponential decays."""
    out = np.zeros(n)
    f0 = rng.uniform(350, 1100)
    decay = rng.uniform(0.5, 1.5)  # seconds, of the hum
    for _ in range(rng.integers(1, 4)):
        start = int(rng.integers(0, max(1, n - fs // 4)))
        m = n - start
        tt = np.arange(m) / fs
        x = np.zeros(m)
        for ratio, rel in BELL_PARTIALS:
            f = f0 * ratio * rng.uniform(0.995, 1.005)
            if f >= 0.45 * fs:
                continue
            amp = rng.uniform(0.4, 1.0) / ratio**0.3
            x += amp * np.sin(2 * np.pi * f * tt + rng.uniform(0, 6.3)) * np.exp(-tt / (decay * rel))
        x *= envelope(m, int(0.002 * fs), 0)
        out[start:] += x * rng.uniform(0.5, 1.0)
    return out


class Song:
    """Tempo, key and chord progression shared by the stems of one song."""

    def __init__(self, rng, n: int, fs: int):
        self.rng, self.n, self.fs = rng, n, fs
        self.beat = int(fs * 60 / rng.uniform(90, 150))
        self.key = rng.integers(0, 12)
        degrees = [0, 3, 4, 5]  # I, IV, V, vi (scale degrees 0-based)
        self.chords = [degrees[i] for i in rng.integers(0, 4, size=n // (4 * self.beat) + 2)]
        self.offset = rng.integers(0, self.beat)

    def chord_at(self, sample: int) -> List[int]:
        d = self.chords[sample // (4 * self.beat)]
        return [SCALE[(d + i) % 7] + 12 * ((d + i) // 7) + self.key for i in (0, 2, 4)]

    def drums(self) -> np.ndarray:
        rng, fs, out = self.rng, self.fs, np.zeros(self.n)
        half = self.beat // 2
        for i, s in enumerate(range(self.offset, self.n, half)):
            if i % 4 == 0:  # kick
                m = min(int(0.18 * fs), self.n - s)
                tt = np.arange(m) / fs
                f = 50 + 70 * np.exp(-tt / 0.03)
                out[s : s + m] += 1.2 * np.sin(2 * np.pi * np.cumsum(f) / fs) * np.exp(-tt / 0.08)
            if i % 4 == 2:  # snare
                m = min(int(0.15 * fs), self.n - s)
                tt = np.arange(m) / fs
                out[s : s + m] += (
                    0.8 * band_noise(rng, m, 800, 7000, fs) / 0.1 * 0.1 + 0.4 * np.sin(2 * np.pi * 185 * tt)
                ) * np.exp(-tt / 0.05)
            m = min(int(0.04 * fs), self.n - s)  # hi-hat on every eighth
            out[s : s + m] += 0.25 * band_noise(rng, m, 6000, 7900, fs) * np.exp(-np.arange(m) / (0.01 * fs)) * 8
        return out

    def bass(self) -> np.ndarray:
        out = np.zeros(self.n)
        for s in range(self.offset, self.n, self.beat):
            m = min(self.beat, self.n - s)
            root = self.chord_at(s)[0] + 36
            f0 = np.full(m, midi_hz(root))
            x = harmonics(f0, self.fs, lambda k, fk: 1.0 / k**1.5, max_hz=800)
            out[s : s + m] += x * envelope(m, 80, int(0.05 * self.fs)) * np.exp(-np.arange(m) / (0.4 * self.fs))
        return out

    def vocals(self) -> np.ndarray:
        rng, fs, out = self.rng, self.fs, np.zeros(self.n)
        s = self.offset
        vowel = VOWELS[rng.integers(5)]
        while s < self.n:
            m = min(int(self.beat * rng.choice([1, 2])), self.n - s)
            note = self.chord_at(s)[rng.integers(3)] + 60
            tt = np.arange(m) / fs
            f0 = midi_hz(note) * (1 + 0.015 * np.sin(2 * np.pi * 5.5 * tt))

            def amp(k, fk):
                return sum(np.exp(-0.5 * ((fk - F) / 150.0) ** 2) * w for F, w in zip(vowel, (1.0, 0.5, 0.25))) + 0.02

            out[s : s + m] += harmonics(f0, fs, amp, max_hz=6000) * envelope(m, int(0.05 * fs), int(0.05 * fs))
            if rng.random() < 0.3:
                vowel = VOWELS[rng.integers(5)]
            s += m + (int(0.5 * self.beat) if rng.random() < 0.2 else 0)
        return out

    def other(self) -> np.ndarray:
        out = np.zeros(self.n)
        bar = 4 * self.beat
        for s in range(self.offset % bar, self.n, self.beat * 2):
            m = min(self.beat * 2, self.n - s)
            for note in self.chord_at(s):
                f0 = np.full(m, midi_hz(note + 48))
                x = harmonics(f0, self.fs, lambda k, fk: 0.7**k, max_hz=4000)
                out[s : s + m] += x * envelope(m, 40, 200) * np.exp(-np.arange(m) / (0.6 * self.fs))
        return out

    def mix(self) -> np.ndarray:
        rng = self.rng
        stems = [self.drums(), self.bass(), self.other(), self.vocals()]
        stems = [s / (np.std(s) + 1e-9) * 10 ** (rng.uniform(-8, 0) / 20) for s in stems]
        return np.sum(stems, axis=0)


# ---------------------------------------------------------------- mixtures
def mixture_prompts(task: str, rng) -> List[str]:
    if task == "uss":
        return ["sfx"] * int(rng.integers(2, 4))
    return list(TASKS[task])


def make_mixture(task: str, rng, n: int, fs: int, prompts: List[str] = None) -> Tuple[List[str], List[np.ndarray]]:
    prompts = mixture_prompts(task, rng) if prompts is None else list(prompts)
    if task == "mss":
        song = Song(rng, n, fs)
        srcs = [song.drums(), song.bass(), song.vocals(), song.other()]
    else:
        srcs = []
        kinds = ["chirp", "impact", "beep", "rattle"]
        rng.shuffle(kinds)
        for i, p in enumerate(prompts):
            if p == "speech":
                srcs.append(speech(rng, n, fs))
            elif p == "sfx":  # distinct event kinds within one mixture
                srcs.append(sfx(rng, n, fs, kinds=[kinds[i % 4]]))
            elif p == "sfxbg":
                srcs.append(sfxbg(rng, n, fs))
            elif p == "musicbg":
                srcs.append(Song(rng, n, fs).mix())
            elif p == "bell":
                srcs.append(bell(rng, n, fs))
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
) -> None:
    """Write data/<name>/ (all tasks) and data/<name>_<task>/ (one task each, not
    for ``patterns``).

    ``seed``: of the set (default SET_SEEDS[name]); ``patterns``: task -> prompt
    list, for tasks beyond TASKS (the new-category sets; they also get
    ``utt2corpus`` = the task, so that validation weighs every pattern equally).
    """
    seed = SET_SEEDS[name] if seed is None else seed
    data_dir = data_root / name
    wav_dir = audio_root / name
    wav_dir.mkdir(parents=True, exist_ok=True)
    n = int(seconds * fs)
    lines: Dict[str, List[str]] = {"wav.scp": [], "utt2prompts": [], "utt2spk": []}
    spk: Dict[int, List[str]] = {}
    for task in tasks:
        t_lines: Dict[str, List[str]] = {"wav.scp": [], "utt2prompts": [], "utt2spk": []}
        t_spk: Dict[int, List[str]] = {}
        for i in range(per_task):
            utt = f"{task}_{name}_{i:04d}"
            rng = np.random.default_rng([seed, list(patterns or TASKS).index(task), i])
            prompts, srcs = make_mixture(task, rng, n, fs, (patterns or {}).get(task))
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
    write_lists(data_dir, lines, spk)
    if patterns:
        corpus = sorted(f"{line.split()[0]} {line.split()[0].split(f'_{name}_')[0]}" for line in lines["utt2spk"])
        (data_dir / "utt2corpus").write_text("\n".join(corpus) + "\n")
    print(f"synthesize.py: {name}: {per_task * len(tasks)} mixtures of {seconds} s at {fs} Hz -> {data_dir}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", required=True, help="lists go to <data_dir>/<set>[_<task>]/")
    parser.add_argument("--audio_dir", required=True, help="audio goes to <audio_dir>/<set>/")
    parser.add_argument("--fs", type=int, default=16000)
    parser.add_argument("--num_train", type=int, default=120, help="training mixtures per task")
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
            write_set(Path(args.data_dir), Path(args.audio_dir), name, count, args.seconds, args.fs, args.tasks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
