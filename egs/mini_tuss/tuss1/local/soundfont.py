# SPDX-License-Identifier: Apache-2.0
"""Sampled instruments and sound effects of a General MIDI SoundFont, rendered offline.

The SoundFont is ``TimGM6mb.sf2``, shipped inside the ``pretty_midi`` package
(only the file is used; ``pretty_midi`` is not imported). ``tinysoundfont``
renders it to float arrays with no system library and no audio device. Both
packages are installed by ``make -C tools`` (setup.py's ``mini`` extra).

Rendering is deterministic: the same notes give the same samples on every
machine (the synthesiser has no random state; tests check checksums).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

DRUM_BANK = 128  # SoundFont bank of the drum kits (General MIDI channel 10)
DRUM_CHANNEL = 9
MELODIC_CHANNEL = 0


@dataclass(frozen=True)
class Note:
    """One note: onset and duration in seconds, MIDI key (0-127), velocity (1-127)."""

    start: float
    duration: float
    key: int
    velocity: int = 100


def soundfont_path() -> Path:
    """Path of ``TimGM6mb.sf2`` inside the installed ``pretty_midi`` package."""
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the General MIDI SoundFont comes with the package pretty_midi, which is not installed "
            "(make -C tools installs it; or pip install -e '.[mini]')"
        )
    path = Path(spec.origin).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise RuntimeError(f"{path}: missing (the pretty_midi package should ship it)")
    return path


class Renderer:
    """Renders note lists of one General MIDI program (or drum kit) to mono audio.

    One synthesiser is kept per renderer and reset before every render, so a
    render depends only on its own arguments.

    Args:
        fs: output sampling rate in Hz (the SoundFont's samples are resampled by
            the synthesiser itself).
    """

    def __init__(self, fs: int) -> None:
        try:
            import tinysoundfont
        except ImportError as e:
            raise RuntimeError(
                "tinysoundfont is not installed (make -C tools installs it; or pip install --no-deps tinysoundfont)"
            ) from e
        self.fs = fs
        self._synth = tinysoundfont.Synth(samplerate=fs)
        self._sfid = self._synth.sfload(str(soundfont_path()))

    def preset_name(self, program: int, drums: bool = False) -> Optional[str]:
        return self._synth.sfpreset_name(self._sfid, DRUM_BANK if drums else 0, program)

    def render(
        self,
        notes: Sequence[Note],
        num_samples: int,
        program: int,
        drums: bool = False,
        tuning: float = 0.0,
    ) -> np.ndarray:
        """Mono float64 audio (num_samples,) of ``notes`` played by ``program``.

        ``drums``: ``program`` is a drum kit (bank 128) and keys are percussion
        sounds; ``tuning``: shift of the whole render in semitones.
        Notes past the end are cut; a note still sounding at the end is cut too.
        """
        synth = self._synth
        chan = DRUM_CHANNEL if drums else MELODIC_CHANNEL
        synth.sounds_off()
        synth.program_select(chan, self._sfid, DRUM_BANK if drums else 0, program, is_drums=drums)
        synth.set_tuning(chan, float(tuning))
        events = []  # (sample, order, key, velocity): note-offs (order 0) before note-ons at one sample
        for note in notes:
            on = int(round(note.start * self.fs))
            off = int(round((note.start + note.duration) * self.fs))
            if on >= num_samples or off <= on:
                continue
            events.append((on, 1, note.key, note.velocity))
            events.append((off, 0, note.key, 0))
        events.sort()
        out = np.zeros((num_samples, 2), np.float32)  # the synthesiser renders interleaved stereo
        pos = 0
        for sample, is_on, key, velocity in events:
            sample = min(sample, num_samples)
            if sample > pos:
                out[pos:sample] = np.frombuffer(synth.generate_simple(sample - pos), np.float32).reshape(-1, 2)
                pos = sample
            if is_on:
                synth.noteon(chan, key, velocity)
            else:
                synth.noteoff(chan, key)
        if pos < num_samples:
            out[pos:] = np.frombuffer(synth.generate_simple(num_samples - pos), np.float32).reshape(-1, 2)
        synth.sounds_off()
        return out.astype(np.float64).mean(axis=1)
