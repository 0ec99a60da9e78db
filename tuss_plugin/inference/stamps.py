# SPDX-License-Identifier: Apache-2.0
"""Per-utterance stamps of recipe stage 5 (``tuss_plugin.bin.tuss_inference``):
what an utterance's outputs were made from, so that an interrupted or changed
run redoes only what is missing or changed.

A stamp ``<output_dir>/stamps/<utt>.json`` holds the run's hash
(:func:`run_id`: the model's fingerprint, the options that change outputs,
:data:`STAMP_VERSION`), the utterance's prompts and the mixture file's path,
size and modification time. TUSS: Saijo et al., "Task-aware Unified Source
Separation", ICASSP 2025.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Dict, List, Optional

from tuss_plugin.fileio.atomic import sweep_temp_files

# per-utterance records of what the outputs were made from
STAMP_DIR = "stamps"
# options that do not change the outputs (or enter the stamp in another form:
# the model by its weights, the prompts per utterance, the segments as applied)
NOT_OUTPUT_OPTIONS = (
    "model",
    "data_dir",
    "output_dir",
    "key_file",
    "list_dir",
    "config",
    "enh_config",
    "device",
    "num_threads",
    "prompts",
    "segment_size",
    "hop_size",
    "precision",  # in the model's fingerprint as resolved ("auto" -> what it ran in)
)
# bump when the way outputs are computed changes
STAMP_VERSION = 1


def run_id(sep, args: argparse.Namespace) -> str:
    """Hash of everything of this run that determines an utterance's outputs,
    besides its prompts and mixture (see :data:`NOT_OUTPUT_OPTIONS`)."""
    import hashlib

    options = {k: v for k, v in sorted(vars(args).items()) if k not in NOT_OUTPUT_OPTIONS}
    if not options.get("normalize_output_wav"):
        options.pop("normalize_output_wav", None)  # the stamps of runs from before the option stay valid
    run = {"version": STAMP_VERSION, "model": sep.fingerprint(), "options": options}
    return hashlib.sha256(json.dumps(run, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def utterance_stamp(run: str, prompts: List[str], wav: str) -> Optional[Dict[str, object]]:
    """The stamp of an utterance's outputs (None if the mixture cannot be stat'ed)."""
    try:
        st = os.stat(wav)
    except OSError:
        return None
    return {"run": run, "prompts": list(prompts), "mixture": [wav, st.st_size, st.st_mtime_ns]}


def is_done(stamp_file: Path, expected: Optional[Dict[str, object]], paths: List[Path]) -> bool:
    """All outputs exist and were made from what ``expected`` describes."""
    if expected is None or not all(p.exists() for p in paths):
        return False
    try:
        return json.loads(stamp_file.read_text(encoding="utf-8")) == expected
    except (OSError, ValueError):
        return False


def written_before(stamp_file: Path) -> int:
    """How many outputs the earlier run recorded in ``stamp_file`` wrote (0: none known)."""
    try:
        stamp = json.loads(stamp_file.read_text(encoding="utf-8"))
        return len(stamp["prompts"]) if isinstance(stamp.get("prompts"), list) else 0
    except (OSError, ValueError, AttributeError, KeyError):
        return 0


def sweep_output_dirs(out: Path, lists: Path) -> None:
    """Remove temporary files of killed runs from every directory this command writes to."""
    dirs = [out, lists, out / STAMP_DIR]
    if (out / "wavs").is_dir():
        dirs += [d for d in (out / "wavs").iterdir() if d.is_dir()]
    for d in dirs:
        sweep_temp_files(d)
