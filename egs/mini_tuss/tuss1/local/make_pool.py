#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turn the references of a Kaldi-style TUSS data dir into a source pool.

Every reference file ``spk<k>.scp`` of ``<data_dir>`` becomes one pool entry
with the prompt at position k of its ``utt2prompts`` line, so that the
on-the-fly training path (``train_data_source: onthefly``, see
``tuss_plugin.onthefly``) can draw new mixtures from the sources of the mini
corpus. Writes ``wav.scp``, ``utt2prompt``, ``utt2fs`` and
``utt2num_samples`` into ``<pool_dir>`` with the pool writer of
``tuss_plugin.fileio.pools`` (atomically, ``.complete`` last).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf

from tuss_plugin.fileio.datadir import read_ref_lists
from tuss_plugin.fileio.kaldi_io import read_dict
from tuss_plugin.fileio.pools import PoolEntry, write_pool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("pool_dir", type=Path)
    args = parser.parse_args()
    prompts = read_dict(args.data_dir / "utt2prompts")
    ref_lists = read_ref_lists(args.data_dir)
    if not ref_lists:
        raise FileNotFoundError(f"{args.data_dir}/spk1.scp: missing")
    entries = []
    for k, refs in enumerate(ref_lists, 1):
        for utt, path in refs.items():
            if utt not in prompts or len(prompts[utt]) < k:
                raise ValueError(f"{args.data_dir / 'utt2prompts'}: {utt} has no prompt {k}")
            try:
                info = sf.info(path)
            except Exception as e:  # noqa: BLE001 - name the file
                raise OSError(f"{path}: cannot read ({e})") from None
            entries.append(PoolEntry(f"{utt}_s{k}", path, prompts[utt][k - 1], info.samplerate, info.frames))
    write_pool(args.pool_dir, entries, key=f"mini_tuss {args.data_dir}")
    counts = {}
    for e in entries:
        counts[e.prompt] = counts.get(e.prompt, 0) + 1
    print(
        f"make_pool.py: {args.pool_dir}: {len(entries)} sources "
        f"({', '.join(f'{p} {n}' for p, n in sorted(counts.items()))})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
