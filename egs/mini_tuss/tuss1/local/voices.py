# SPDX-License-Identifier: Apache-2.0
"""Spoken sentences from eSpeak NG, offline: the speakers and sentences of the mini corpus.

The library and its voice data come with the ``espeakng-loader`` package
(installed by ``make -C tools``); it is driven here through ctypes, with
synthesis into memory (no audio device). A *speaker* is a voice (language
and variant), a pitch, a pitch range and a rate; the speakers of train, dev
and test are disjoint, as in a real corpus. Sentences come from a small
grammar of this module, drawn from a seed.

eSpeak NG has no random state: the same sentence and speaker give the same
samples on every machine.
"""

from __future__ import annotations

import ctypes
import itertools
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

# eSpeak NG API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_RATE, _PITCH, _RANGE = 1, 3, 4
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

# languages (accents of one English text) and voice variants
LANGUAGES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "de", "nl", "fr", "es", "it", "pl", "sv")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
SET_OF_SPEAKER = ("train", "train", "train", "train", "dev", "test")  # by speaker index mod 6


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: ``voice`` (eSpeak name, language+variant), pitch and
    range (0-100), rate (words per minute)."""

    voice: str
    pitch: int
    range: int
    rate: int

    @property
    def id(self) -> str:
        return f"{self.voice.replace('+', '_')}_p{self.pitch}_r{self.rate}"


def speakers() -> Dict[str, List[Speaker]]:
    """The speakers of each set ('train', 'dev', 'test'), fixed (no seed)."""
    out: Dict[str, List[Speaker]] = {"train": [], "dev": [], "test": []}
    for i, (lang, var) in enumerate(itertools.product(LANGUAGES, VARIANTS)):
        female = var.startswith("f")
        pitch = (55 if female else 35) + (i * 7) % 25
        spk = Speaker(f"{lang}+{var}", pitch, 30 + (i * 11) % 50, 140 + (i * 13) % 60)
        out[SET_OF_SPEAKER[i % len(SET_OF_SPEAKER)]].append(spk)
    return out


# ---------------------------------------------------------------- sentences
_DET = ("the", "a", "every", "one", "that", "this", "some", "no")
_ADJ = (
    "quiet", "heavy", "bright", "narrow", "early", "sudden", "careful", "green", "ancient", "little",
    "silver", "broken", "patient", "distant", "warm", "crowded", "empty", "gentle", "rusty", "famous",
)  # fmt: skip
_NOUN = (
    "farmer", "teacher", "river", "window", "basket", "engine", "letter", "garden", "doctor", "kitten",
    "bridge", "market", "painter", "ticket", "village", "journey", "lantern", "pilot", "harbour", "violin",
    "station", "captain", "forest", "kettle", "student", "mountain", "carpet", "sailor", "parcel", "museum",
)  # fmt: skip
_VERB = (
    "carried", "painted", "opened", "followed", "repaired", "noticed", "visited", "measured", "described",
    "borrowed", "cleaned", "counted", "reached", "watched", "delivered", "ignored", "admired", "finished",
)  # fmt: skip
_PREP = ("across", "behind", "near", "under", "beyond", "along", "inside", "around", "before", "after")
_TIME = ("yesterday", "at noon", "before sunset", "on monday", "every morning", "last winter", "at midnight", "today")
_NUM = ("two", "three", "seven", "eleven", "twenty", "forty", "ninety", "a hundred")


def _noun_phrase(rng: np.random.Generator) -> str:
    words = [_DET[rng.integers(len(_DET))]]
    if rng.random() < 0.6:
        words.append(_ADJ[rng.integers(len(_ADJ))])
    words.append(_NOUN[rng.integers(len(_NOUN))])
    return " ".join(words)


def sentence(rng: np.random.Generator) -> str:
    """One sentence of the grammar: subject, verb, object, optional place, time or count."""
    parts = [_noun_phrase(rng), _VERB[rng.integers(len(_VERB))]]
    if rng.random() < 0.3:
        parts.append(f"{_NUM[rng.integers(len(_NUM))]} {_NOUN[rng.integers(len(_NOUN))]}s")
    else:
        parts.append(_noun_phrase(rng))
    if rng.random() < 0.5:
        parts.append(f"{_PREP[rng.integers(len(_PREP))]} {_noun_phrase(rng)}")
    if rng.random() < 0.4:
        parts.append(("," if rng.random() < 0.5 else "") + " " + _TIME[rng.integers(len(_TIME))])
    text = " ".join(parts).replace(" ,", ",")
    return text[0].upper() + text[1:] + (". " if rng.random() < 0.8 else "? ")


# ---------------------------------------------------------------- synthesis
class Espeak:
    """eSpeak NG in this process (initialised once; eSpeak has global state).

    ``Espeak.get().say(texts, speaker, seed)`` -> int16 samples at ``fs`` (22,050 Hz).
    """

    _instance: Optional["Espeak"] = None

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as e:
            raise RuntimeError(
                "espeakng-loader is not installed (make -C tools installs it; or pip install -e '.[mini]')"
            ) from e
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._chunks: List[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept alive as long as the library may call it
        data = espeakng_loader.get_data_path().encode()
        self.fs = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if self.fs <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise (data: {data.decode()})")
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> "Espeak":
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _collect(self, wav, num_samples: int, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0  # continue

    def _say(self, text: str, speaker: Speaker, seed: int) -> np.ndarray:
        lib = self._lib
        lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        if lib.espeak_SetVoiceByName(speaker.voice.encode()) != 0:
            raise RuntimeError(f"eSpeak NG has no voice {speaker.voice!r}")
        lib.espeak_SetParameter(_RATE, speaker.rate, 0)
        lib.espeak_SetParameter(_PITCH, speaker.pitch, 0)
        lib.espeak_SetParameter(_RANGE, speaker.range, 0)
        self._chunks.clear()
        data = text.encode()
        if lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None) != 0:
            raise RuntimeError(f"eSpeak NG could not synthesise {text!r}")
        lib.espeak_Synchronize()
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)

    def say(self, texts: Sequence[str], speaker: Speaker, seed: int = 0) -> np.ndarray:
        """int16 samples of ``speaker`` reading ``texts`` one after the other.

        ``seed`` seeds eSpeak's own random generator (breath noise, jitter).
        eSpeak also keeps state from one sentence to the next that no call
        resets (the same sentence said twice in a process differs), so the
        sentences are synthesised in a child process forked from this one,
        whose eSpeak has never spoken: a source depends only on its arguments,
        not on what was synthesised before it.
        """
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: synthesise, send the samples, exit without cleanup
            status = 1
            try:
                os.close(read_end)
                data = b"".join(self._say(t, speaker, seed).tobytes() for t in texts)
                with os.fdopen(write_end, "wb") as f:
                    f.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f"eSpeak NG failed on voice {speaker.voice!r} (texts {list(texts)!r})")
        return np.frombuffer(data, np.int16)
