# SPDX-License-Identifier: Apache-2.0
"""Separate audio with a trained or imported TUSS model.

    from tuss_plugin.inference import SeparateAudio
    sep = SeparateAudio.from_pretrained("exp/tuss_medium")   # or an imported dir / packed zip
    est = sep(mixture, fs=44100, prompts=["speech", "sfxbg", "musicbg"])  # (3, n_samples)

    # long files: streamed from and to disk, memory bounded by the segment
    sep = SeparateAudio.from_pretrained("exp/tuss_medium", segment_size=6, hop_size=3)
    sep.separate_file("long.flac", ["speech.wav", "sfx.wav"], prompts=["speech", "sfxbg"])

TUSS: Saijo et al., "Task-aware Unified Source Separation", ICASSP 2025.

The package, by job:

* :mod:`.model_files`: which config and weights a directory, file, packed zip
  or tag names (:func:`resolve_model_files`, :func:`default_model_file`) and
  loading them safely (:func:`load_model`);
* :mod:`.unpack`: bounded, safe unpacking of packed models into a cache;
* :mod:`.streaming`: block-wise reading, resampling and writing of files;
* :mod:`.overlap_add`: segments, cross-fades and the stitcher (:class:`OverlapAdd`);
* :mod:`.inputs`: checks of an in-memory mixture and its rate;
* :mod:`.api`: :class:`SeparateAudio`.
* :mod:`.stamps`, :mod:`.datadir_outputs`: separating a data dir (recipe stage 5):
  per-utterance stamps, prompt lists, output files and lists.

``SeparateAudio`` and ``load_model`` are the package's public names; everything
else is imported from the submodule that defines it.
"""

# the public names and their submodules, loaded on first use, so that importing a
# submodule (e.g. model_files for --list-prompts) does not import torch
_PUBLIC = {"SeparateAudio": "api", "load_model": "model_files"}


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = ["SeparateAudio", "load_model"]
