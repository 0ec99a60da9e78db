# SPDX-License-Identifier: Apache-2.0
"""The split directories of ESPnet's ``collect_stats`` (recipe stage 3), made
joinable by ``espnet2.bin.aggregate_stats_dirs``.

ESPnet writes ``<split>/<mode>/batch_keys`` from the *last* batch of a split
only, and its aggregation reads the keys of the first split and opens
``<key>_shape`` in every split. TUSS batches carry as many references as
their prompts (``speech_ref1`` .. ``speech_refN``), so the keys differ from
batch to batch: when the first split's last batch has a reference that
another split never has, the aggregation stops on a missing file; when it has
fewer, the shapes of the other references are left out of the statistics.
:func:`align_batch_keys` gives every split the union of the keys that any of
its batches had (the ``<key>_shape`` files written) before the aggregation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

from tuss_plugin.fileio.atomic import atomic_write_text

MODES = ("train", "valid")
_SUFFIX = "_shape"


def split_keys(mode_dir: Path) -> List[str]:
    """The batch keys of one split and mode: the ``<key>_shape`` files it has."""
    return sorted(p.name[: -len(_SUFFIX)] for p in mode_dir.glob(f"*{_SUFFIX}"))


def align_batch_keys(split_dirs: Sequence[Path]) -> Dict[str, List[str]]:
    """Give every split the same batch keys, in place.

    For each mode (``train``, ``valid``) that the splits have: the union of
    their ``<key>_shape`` files; a split without one of them gets it empty
    (none of its utterances has that key), and ``batch_keys`` lists the union
    in every split. Returns ``{mode: keys}``.
    """
    result = {}
    for mode in MODES:
        dirs = [Path(d) / mode for d in split_dirs if (Path(d) / mode / "batch_keys").is_file()]
        if not dirs:
            continue
        keys = sorted({k for d in dirs for k in split_keys(d)})  # the order does not matter to the join
        for d in dirs:
            for key in keys:
                shape = d / f"{key}{_SUFFIX}"
                if not shape.exists():
                    atomic_write_text(shape, "")
            atomic_write_text(d / "batch_keys", "".join(f"{k}\n" for k in keys))
        result[mode] = keys
    return result
