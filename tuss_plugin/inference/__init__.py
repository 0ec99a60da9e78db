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

Every name importable from ``tuss_plugin.inference`` before the split still is.
"""

# every name of the package before the split, and the submodule that holds it;
# loaded on first use, so that importing a submodule (e.g. model_files for
# --list-prompts) does not import torch through SeparateAudio
_NAMES = {
    **dict.fromkeys(("SeparateAudio",), "api"),
    **dict.fromkeys(("MAX_CHANNELS", "MAX_FS"), "inputs"),
    **dict.fromkeys(
        (
            "MODEL_FILE_CANDIDATES",
            "_build_model",
            "_check_shapes",
            "_download",
            "_read_config",
            "_read_state",
            "_state_digest",
            "default_model_file",
            "load_model",
            "logger",
            "resolve_model_files",
        ),
        "model_files",
    ),
    **dict.fromkeys(
        ("OverlapAdd", "_check_segment_values", "_crossfade", "align_outputs", "segment_samples", "segment_starts"),
        "overlap_add",
    ),
    **dict.fromkeys(
        ("ForwardReader", "_SegmentProgress", "_check_length", "read_blocks", "resampled_length"), "streaming"
    ),
    **dict.fromkeys(
        (
            "DEFAULT_CACHE_KEEP",
            "DEFAULT_MAX_UNPACK_BYTES",
            "_ENTRY_NAME",
            "_MARKER",
            "_MAX_META_BYTES",
            "_META",
            "_STALE_TEMP_S",
            "_TEMP_NAME",
            "_ZIP_ERRORS",
            "_cache_base",
            "_check_member_names",
            "_discard_unpacked",
            "_extract_member",
            "_is_pack",
            "_pack_members",
            "_positive_setting",
            "_prune_cache",
            "_safe_extract",
            "_select_members",
            "_unpack_once",
            "_zip_stamp",
            "max_unpack_bytes",
        ),
        "unpack",
    ),
}


def __getattr__(name: str):
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__():
    return sorted(set(globals()) | set(_NAMES))


__all__ = [
    "SeparateAudio",
    "OverlapAdd",
    "ForwardReader",
    "resolve_model_files",
    "default_model_file",
    "load_model",
    "MODEL_FILE_CANDIDATES",
    "read_blocks",
    "resampled_length",
    "segment_starts",
    "segment_samples",
    "align_outputs",
    "max_unpack_bytes",
    "DEFAULT_MAX_UNPACK_BYTES",
    "DEFAULT_CACHE_KEEP",
    "MAX_CHANNELS",
    "MAX_FS",
]
