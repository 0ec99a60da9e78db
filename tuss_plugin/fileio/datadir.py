# SPDX-License-Identifier: Apache-2.0
"""The reference and output lists of a Kaldi-style TUSS data dir: ``spk<k>.scp``.

A data dir (ESPnet's enhancement layout) lists the mixtures in ``wav.scp``, the
prompt list of each mixture in ``utt2prompts`` and, for k = 1, 2, ..., the k-th
source of every mixture that has k or more prompts in ``spk<k>.scp`` (outputs
of ``tuss_inference`` use the same lists). This module is the one reader and
writer of those lists:

- :func:`read_ref_lists` reads ``spk1.scp``, ``spk2.scp``, ... as long as they exist;
- :func:`refs_by_utt` turns them into ``{utt: [source 1, source 2, ...]}``;
- :func:`write_ref_lists` writes them from ``{utt: [source 1, ...]}`` and removes
  the ``spk<k>.scp`` of an earlier, longer run (:func:`remove_stale_ref_lists`).

Like :mod:`tuss_plugin.fileio.kaldi_io` it needs only the standard library to be
loaded (``utils/validate_data_dir.py`` loads it from its file: importing the
package registers it with ESPnet, seconds of imports for a list check).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Union

PathLike = Union[str, Path]

_REF_LIST = re.compile(r"spk([0-9]+)\.scp")


def ref_list(data_dir: PathLike, k: int) -> Path:
    """``<data_dir>/spk<k>.scp`` (k counts from 1)."""
    if k < 1:
        raise ValueError(f"reference lists count from 1, got {k}")
    return Path(data_dir) / f"spk{k}.scp"


def ref_list_files(data_dir: PathLike) -> Iterator[Path]:
    """``spk1.scp``, ``spk2.scp``, ... of ``data_dir``, up to the first one missing."""
    k = 1
    while ref_list(data_dir, k).is_file():
        yield ref_list(data_dir, k)
        k += 1


def read_ref_lists(data_dir: PathLike) -> List[Dict[str, str]]:
    """``[spk1.scp, spk2.scp, ...]`` as ``{utt: path}`` each (as long as the lists
    exist); a malformed line raises ``ValueError`` naming file and line."""
    from tuss_plugin.fileio.kaldi_io import read_scp  # here: loading this module needs no package import

    return [read_scp(p) for p in ref_list_files(data_dir)]


def refs_by_utt(lists: Sequence[Mapping[str, str]]) -> Dict[str, List[Optional[str]]]:
    """``{utt: [path in spk1.scp, path in spk2.scp, ...]}`` for every utterance in
    any list, sorted by utt; a list that lacks the utterance gives None, and
    trailing Nones (fewer sources than the longest list) are dropped."""
    out: Dict[str, List[Optional[str]]] = {}
    for utt in sorted(set().union(*lists)) if lists else []:
        paths = [lst.get(utt) for lst in lists]
        while paths and paths[-1] is None:
            paths.pop()
        out[utt] = paths
    return out


def remove_stale_ref_lists(data_dir: PathLike, num_lists: int) -> List[Path]:
    """Remove every ``spk<k>.scp`` with k > ``num_lists`` (left by an earlier
    run with longer prompt lists, gaps included); returns the removed files."""
    removed = []
    for path in sorted(Path(data_dir).glob("spk*.scp")):
        m = _REF_LIST.fullmatch(path.name)
        if m and int(m.group(1)) > num_lists:
            path.unlink()
            removed.append(path)
    return removed


def write_ref_lists(data_dir: PathLike, sources: Mapping[str, Sequence[str]]) -> int:
    """Write ``spk<k>.scp`` (k = 1 .. the longest list of ``sources``, each sorted
    by utt, atomically) from ``{utt: [source 1, source 2, ...]}``; stale lists of
    an earlier run are removed. Returns the number of lists written."""
    from tuss_plugin.fileio.kaldi_io import write_list  # here: loading this module needs no package import

    num_lists = max((len(v) for v in sources.values()), default=0)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    for k in range(1, num_lists + 1):
        write_list(ref_list(data_dir, k), ((u, v[k - 1]) for u, v in sources.items() if len(v) >= k))
    remove_stale_ref_lists(data_dir, num_lists)
    return num_lists
