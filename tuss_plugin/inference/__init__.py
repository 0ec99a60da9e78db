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

# every name is re-exported, the private ones of the module before the split included
from tuss_plugin.inference.api import SeparateAudio  # noqa: F401
from tuss_plugin.inference.inputs import MAX_CHANNELS, MAX_FS  # noqa: F401
from tuss_plugin.inference.model_files import (  # noqa: F401
    MODEL_FILE_CANDIDATES,
    _build_model,
    _check_shapes,
    _download,
    _read_config,
    _read_state,
    _state_digest,
    default_model_file,
    load_model,
    logger,
    resolve_model_files,
)
from tuss_plugin.inference.overlap_add import (  # noqa: F401
    OverlapAdd,
    _check_segment_values,
    _crossfade,
    align_outputs,
    segment_samples,
    segment_starts,
)
from tuss_plugin.inference.streaming import (  # noqa: F401
    ForwardReader,
    _check_length,
    _SegmentProgress,
    read_blocks,
    resampled_length,
)
from tuss_plugin.inference.unpack import (  # noqa: F401
    _ENTRY_NAME,
    _MARKER,
    _MAX_META_BYTES,
    _META,
    _STALE_TEMP_S,
    _TEMP_NAME,
    _ZIP_ERRORS,
    DEFAULT_CACHE_KEEP,
    DEFAULT_MAX_UNPACK_BYTES,
    _cache_base,
    _check_member_names,
    _discard_unpacked,
    _extract_member,
    _is_pack,
    _pack_members,
    _positive_setting,
    _prune_cache,
    _safe_extract,
    _select_members,
    _unpack_once,
    _zip_stamp,
    max_unpack_bytes,
)

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
