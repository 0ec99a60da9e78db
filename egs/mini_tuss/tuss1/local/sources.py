# SPDX-License-Identifier: Apache-2.0
"""The sources of the mini corpus, one generator per prompt category, from real sounds.

* speech  - sentences spoken by eSpeak NG speakers (``voices.py``), cropped
            like a corpus utterance; train, dev and test speakers are disjoint
* sfx     - one sound event class per source (bird, telephone, gun shot,
            hand clap, whistle, ...; the General MIDI effect programs and
            percussion of the SoundFont, ``soundfont.py``), one to a few
            occurrences with random pitch, length and envelope
* sfxbg   - an SFX mix: one or two stationary beds (seashore, rain, wind,
            applause, crowd, helicopter, engine) under a few quieter events
* drums, bass, vocals, other - the stems of one generated song (tempo, key,
  chords, rhythm and melody from the seed) played by sampled instruments:
  a drum kit, a bass, a choir or voice program, and one or two of piano,
  guitars, organ, strings, brass, reeds and synths
* musicbg - the mix of a song of its own
* bell    - struck bells (tubular bells, tinkle bell, agogo): the category of
            ``--new_category bell``, never in the eight prompts' sets

Each function takes a ``numpy.random.Generator`` and returns float64 audio of
exactly ``n`` samples at ``fs``; the same generator state gives the same audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.signal import resample_poly
from soundfont import Note, Renderer
from voices import Espeak, Speaker, sentence


@dataclass(frozen=True)
class Event:
    """A sound event class: a SoundFont program (or a drum kit's keys), the keys it
    is played on, and the range of its note length (s) and number of occurrences."""

    program: int
    keys: Tuple[int, int]
    duration: Tuple[float, float]
    repeats: Tuple[int, int]
    drums: bool = False


SFX_EVENTS: Dict[str, Event] = {
    "bird": Event(123, (62, 86), (0.2, 0.8), (1, 3)),
    "telephone": Event(124, (64, 76), (0.6, 1.4), (1, 2)),
    "gun_shot": Event(127, (45, 64), (0.2, 0.5), (1, 3)),
    "fret_noise": Event(120, (50, 70), (0.2, 0.6), (1, 3)),
    "breath": Event(121, (55, 70), (0.3, 0.8), (1, 2)),
    "wood_block": Event(115, (60, 80), (0.08, 0.2), (2, 6)),
    "taiko": Event(116, (40, 60), (0.3, 0.8), (1, 4)),
    "reverse_cymbal": Event(119, (55, 70), (0.6, 1.2), (1, 1)),
    "orchestra_hit": Event(55, (48, 72), (0.2, 0.5), (1, 2)),
    "goblin": Event(101, (48, 72), (0.5, 1.2), (1, 1)),
    "hand_clap": Event(0, (39, 39), (0.1, 0.2), (2, 6), drums=True),
    "cowbell": Event(0, (56, 56), (0.1, 0.3), (1, 4), drums=True),
    "whistle": Event(0, (71, 72), (0.2, 0.8), (1, 3), drums=True),
    "guiro": Event(0, (73, 74), (0.2, 0.5), (1, 3), drums=True),
    "cuica": Event(0, (78, 79), (0.2, 0.4), (1, 4), drums=True),
    "vibraslap": Event(0, (58, 58), (0.3, 0.8), (1, 2), drums=True),
}
# stationary beds of an SFX mix: program and key range (a noise program played
# high sounds like rain, low like wind or an engine)
SFXBG_BEDS: Dict[str, Tuple[int, Tuple[int, int]]] = {
    "seashore": (122, (55, 70)),
    "rain": (122, (78, 86)),
    "wind": (122, (36, 48)),
    "applause": (126, (60, 72)),
    "crowd": (126, (40, 52)),
    "helicopter": (125, (55, 70)),
    "engine": (125, (30, 45)),
}
BELLS = (14, 112, 113)  # Tubular Bells, Tinker Bell, Agogo
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40)  # Standard, Room, Power, Electronic, TR 808, Jazz, Brush
BASSES = (32, 33, 34, 35, 36, 38, 39)
VOICES = (52, 53, 54, 85, 91)  # Choir Aahs, Voice Oohs, Synth Vox, Solo Vox, Space Voice
OTHERS = (0, 1, 4, 5, 6, 11, 16, 19, 21, 24, 25, 26, 27, 29, 30, 40, 42, 48, 49, 56, 61, 65, 66, 71, 73, 80, 81, 89, 90)
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
PROGRESSIONS = ((0, 4, 5, 3), (0, 3, 4, 4), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 0, 4), (1, 4, 0, 0))
# drum-kit keys (General MIDI percussion map)
KICK, SNARE, CLAP, HAT, OPEN_HAT, PEDAL_HAT, RIDE, CRASH, TOMS = 36, 38, 39, 42, 46, 44, 51, 49, (45, 47, 48, 50)

_renderers: Dict[int, Renderer] = {}


def renderer(fs: int) -> Renderer:
    """The process's SoundFont renderer at ``fs`` (loaded once)."""
    if fs not in _renderers:
        _renderers[fs] = Renderer(fs)
    return _renderers[fs]


def fade(n: int, attack: int, release: int) -> np.ndarray:
    env = np.ones(n)
    a, r = min(attack, n // 2), min(release, n // 2)
    if a:
        env[:a] = np.linspace(0.0, 1.0, a)
    if r:
        env[n - r :] *= np.linspace(1.0, 0.0, r)
    return env


def render_window(
    fs: int, notes: Sequence[Note], n: int, preroll: float, program: int, drums: bool = False, tuning: float = 0.0
) -> np.ndarray:
    """Render ``notes`` (times from ``-preroll`` s) and keep the last ``n`` samples,
    so that what sounds at time 0 started before it, as in an excerpt."""
    pre = int(round(preroll * fs))
    shifted = [Note(x.start + preroll, x.duration, x.key, x.velocity) for x in notes if x.start + x.duration > -preroll]
    return renderer(fs).render(shifted, n + pre, program, drums=drums, tuning=tuning)[pre:]


# ---------------------------------------------------------------- speech
def speech(rng: np.random.Generator, n: int, fs: int, speaker: Speaker) -> np.ndarray:
    """``n`` samples of ``speaker`` reading generated sentences, cropped near the start
    of the utterance (zero-padded if it is shorter, as in WSJ0-2mix's "max" mode)."""
    tts = Espeak.get()
    texts = [sentence(rng) for _ in range(int(np.ceil(n / fs / 2.0)) + 1)]  # a sentence lasts 2-5 s
    seed = int(rng.integers(0, 2**31))
    pcm = tts.say(texts, speaker, seed)
    active = np.flatnonzero(np.abs(pcm) > 32)  # the first sample above -60 dBFS (on the integers)
    first = int(active[0]) * fs // tts.fs if active.size else 0
    g = gcd(fs, tts.fs)
    x = resample_poly(pcm.astype(np.float64) / 32768.0, fs // g, tts.fs // g)
    start = first + int(rng.integers(0, max(1, min(len(x) - first - n, fs // 2) + 1)))
    out = np.zeros(n)
    seg = x[start : start + n]
    out[: len(seg)] = seg
    return out


# ---------------------------------------------------------------- sound events
def event(rng: np.random.Generator, n: int, fs: int, name: str) -> np.ndarray:
    """One source of sound event class ``name``: 1-k occurrences, random pitch,
    length and envelope."""
    ev = SFX_EVENTS[name]
    notes = []
    for _ in range(int(rng.integers(ev.repeats[0], ev.repeats[1] + 1))):
        dur = float(rng.uniform(*ev.duration))
        start = float(rng.uniform(0.0, max(0.0, n / fs - dur)))
        key = int(rng.integers(ev.keys[0], ev.keys[1] + 1))
        notes.append(Note(start, dur, key, int(rng.integers(70, 128))))
    tuning = float(rng.uniform(-1.5, 1.5))
    x = render_window(fs, notes, n, 0.0, ev.program, drums=ev.drums, tuning=tuning)
    # envelope: a random fade-in and a random slow decay over the whole source
    decay = np.exp(-np.arange(n) / (fs * float(rng.uniform(0.5, 4.0))))
    return x * fade(n, int(rng.uniform(0.0, 0.05) * fs), int(rng.uniform(0.0, 0.2) * fs)) * (0.5 + 0.5 * decay)


def sfx(rng: np.random.Generator, n: int, fs: int, name: Optional[str] = None) -> np.ndarray:
    """A foreground sound event (class ``name``, or drawn)."""
    names = sorted(SFX_EVENTS)
    return event(rng, n, fs, name or names[rng.integers(len(names))])


def sfxbg(rng: np.random.Generator, n: int, fs: int) -> np.ndarray:
    """An SFX mix: one or two stationary beds and zero to three quieter events."""
    beds = sorted(SFXBG_BEDS)
    out = np.zeros(n)
    for i in rng.choice(len(beds), size=int(rng.integers(1, 3)), replace=False):
        program, (lo, hi) = SFXBG_BEDS[beds[i]]
        notes, t = [], -2.0
        while t < n / fs:  # overlapping held notes, re-struck every 1.5-3 s
            step = float(rng.uniform(1.5, 3.0))
            notes.append(Note(t, step + 1.0, int(rng.integers(lo, hi + 1)), int(rng.integers(80, 128))))
            t += step
        bed = render_window(fs, notes, n, 2.0, program, tuning=float(rng.uniform(-1.0, 1.0)))
        out += bed / (np.std(bed) + 1e-9) * 10 ** (rng.uniform(-6, 0) / 20)
    names = sorted(SFX_EVENTS)
    for _ in range(int(rng.integers(0, 4))):
        x = event(rng, n, fs, names[rng.integers(len(names))])
        out += x / (np.std(x) + 1e-9) * 10 ** (rng.uniform(-20, -8) / 20)
    return out


def bell(rng: np.random.Generator, n: int, fs: int) -> np.ndarray:
    """One to three strikes of one bell (tubular bells, tinkle bell or agogo)."""
    program = BELLS[rng.integers(len(BELLS))]
    notes = []
    for _ in range(int(rng.integers(1, 4))):
        start = float(rng.uniform(0.0, max(0.0, n / fs - 0.25)))
        notes.append(Note(start, float(rng.uniform(0.5, 2.0)), int(rng.integers(60, 85)), int(rng.integers(70, 128))))
    return render_window(fs, notes, n, 0.0, program, tuning=float(rng.uniform(-1.0, 1.0)))


# ---------------------------------------------------------------- music
class Song:
    """One generated song: tempo, key, mode, chord progression and the instruments
    of its stems; ``drums()``, ``bass()``, ``vocals()``, ``other()`` render the
    stems of the same excerpt, ``mix()`` their sum with random levels."""

    def __init__(self, rng: np.random.Generator, n: int, fs: int) -> None:
        self.rng, self.n, self.fs = rng, n, fs
        self.beat = 60.0 / float(rng.uniform(80, 140))
        self.key = int(rng.integers(0, 12))
        self.scale = MAJOR if rng.random() < 0.6 else MINOR
        self.progression = PROGRESSIONS[rng.integers(len(PROGRESSIONS))]
        self.bar_offset = int(rng.integers(0, 4))  # the excerpt starts in this bar of the progression
        self.phase = float(rng.uniform(0.0, self.beat))  # and this far before a beat
        self.kit = DRUM_KITS[rng.integers(len(DRUM_KITS))]
        self.bass_program = BASSES[rng.integers(len(BASSES))]
        self.voice_program = VOICES[rng.integers(len(VOICES))]
        picks = rng.choice(len(OTHERS), size=int(rng.integers(1, 3)), replace=False)
        self.other_programs = [OTHERS[i] for i in picks]
        self.beats = int(np.ceil(n / fs / self.beat)) + 5  # beats rendered, from one bar before the excerpt
        self.preroll = 4 * self.beat - self.phase

    def _time(self, beat: float) -> float:
        """Time (s, excerpt start = 0) of beat ``beat`` (beat 0 = one bar before the excerpt)."""
        return beat * self.beat - self.preroll

    def chord(self, beat: float, octave: int) -> List[int]:
        """MIDI keys of the triad sounding at ``beat`` (root position, from ``octave``)."""
        degree = self.progression[(int(beat // 4) + self.bar_offset) % 4]
        keys = []
        for step in (0, 2, 4):
            d = degree + step
            keys.append(12 * (octave + 1) + self.key + self.scale[d % 7] + 12 * (d // 7))
        return keys

    def _render(self, notes: List[Note], program: int, drums: bool = False) -> np.ndarray:
        return render_window(self.fs, notes, self.n, self.preroll, program, drums=drums)

    def drums(self) -> np.ndarray:
        rng, notes = self.rng, []
        sixteenths = 4 * self.beats
        hat = RIDE if rng.random() < 0.25 else HAT
        hat_every = 1 if rng.random() < 0.3 else 2
        kick_extra = rng.random(16) < 0.2
        back = CLAP if rng.random() < 0.2 else SNARE
        for s in range(sixteenths):
            t, pos = self._time(s / 4), s % 16
            if pos in (0, 8) or (kick_extra[pos] and pos % 2 == 0):
                notes.append(Note(t, 0.2, KICK, int(rng.integers(100, 128))))
            if pos in (4, 12):
                notes.append(Note(t, 0.2, back, int(rng.integers(90, 120))))
            if pos % hat_every == 0:
                key = OPEN_HAT if (pos == 14 and rng.random() < 0.5) else hat
                notes.append(Note(t, 0.1, key, int(rng.integers(50, 90))))
            if pos == 0 and s // 16 == 1 and rng.random() < 0.5:
                notes.append(Note(t, 0.5, CRASH, 100))
            if pos >= 12 and s // 16 % 2 == 1 and rng.random() < 0.15:  # a fill at the end of a bar
                notes.append(Note(t, 0.15, int(TOMS[rng.integers(len(TOMS))]), int(rng.integers(80, 120))))
        return self._render(notes, self.kit, drums=True)

    def bass(self) -> np.ndarray:
        rng, notes = self.rng, []
        step = 0.5 if rng.random() < 0.5 else 1.0  # eighths or quarters
        pattern = rng.integers(0, 3, size=8)  # root, fifth or octave per position in the bar
        for i in range(int(self.beats / step)):
            beat = i * step
            root = self.chord(beat, 1)[0]
            key = root + (0, 7, 12)[pattern[i % 8]]
            notes.append(Note(self._time(beat), 0.9 * step * self.beat, key, int(rng.integers(90, 120))))
        return self._render(notes, self.bass_program)

    def vocals(self) -> np.ndarray:
        rng, notes, beat = self.rng, [], 0.0
        while beat < self.beats:
            length = float(rng.choice([0.5, 1.0, 1.0, 2.0, 3.0]))
            if rng.random() < 0.15:  # a breath between phrases
                beat += length
                continue
            keys = self.chord(beat, 4)
            if rng.random() < 0.3:  # a passing note of the scale
                key = 12 * 5 + self.key + self.scale[int(rng.integers(0, 7))]
            else:
                key = keys[rng.integers(3)]
            notes.append(Note(self._time(beat), 0.95 * length * self.beat, int(key), int(rng.integers(80, 115))))
            beat += length
        return self._render(notes, self.voice_program)

    def other(self) -> np.ndarray:
        rng, out = self.rng, np.zeros(self.n)
        for program in self.other_programs:
            notes = []
            arpeggio = rng.random() < 0.4
            step = float(rng.choice([1.0, 2.0, 4.0])) if not arpeggio else 0.5
            for i in range(int(self.beats / step)):
                beat = i * step
                keys = self.chord(beat, 3 + int(rng.integers(0, 2)))
                if arpeggio:
                    keys = [keys[i % 3]]
                for key in keys:
                    notes.append(Note(self._time(beat), 0.9 * step * self.beat, key, int(rng.integers(70, 110))))
            x = self._render(notes, program)
            out += x / (np.std(x) + 1e-9) * 10 ** (rng.uniform(-6, 0) / 20)
        return out

    def stems(self) -> List[np.ndarray]:
        """drums, bass, vocals, other (the order of MUSDB18 and of the prompts)."""
        return [self.drums(), self.bass(), self.vocals(), self.other()]

    def mix(self) -> np.ndarray:
        stems = self.stems()
        return np.sum([s / (np.std(s) + 1e-9) * 10 ** (self.rng.uniform(-8, 0) / 20) for s in stems], axis=0)
