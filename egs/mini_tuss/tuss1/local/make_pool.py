#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turn the references of a Kaldi-style TUSS data dir into a source pool.

Every reference file ``spk<k>.scp`` of ``<data_dir>`` becomes one pool entry
with the prompt at position k of its ``utt2prompts`` line, so that the
on-the-fly training path (``train_data_source: onthefly``, see
``tuss_plugin.onthefly``) can draw new mixtures from the sources of the mini
corpus. Writes ``wav.scp``, ``utt2prompt``, ``utt2fs`` and
``utt2num_samples`` into ``<pool_dir>`` (atomically).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import soundfile as sf

from tuss_plugin.kaldi_io import read_dict, read_scp, write_list


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("pool_dir", type=Path)
    args = parser.parse_args()
    prompts = read_dict(args.data_dir / "utt2prompts")
    rows = {name: [] for name in ("wav.scp", "utt2prompt", "utt2fs", "utt2num_samples")}
    k = 1
    while (args.data_dir / f"spk{k}.scp").is_file():
        for utt, path in read_scp(args.data_dir / f"spk{k}.scp").items():
            if utt not in prompts or len(prompts[utt]) < k:
                raise ValueError(f"{args.data_dir / 'utt2prompts'}: {utt} has no prompt {k}")
            try:
                info = sf.info(path)
            except Exception as e:  # noqa: BLE001 - name the file
                raise OSError(f"{path}: cannot read ({e})") from None
            uid = f"{utt}_s{k}"
            rows["wav.scp"].append((uid, path))
            rows["utt2prompt"].append((uid, prompts[utt][k - 1]))
            rows["utt2fs"].append((uid, str(info.samplerate)))
            rows["utt2num_samples"].append((uid, str(info.frames)))
        k += 1
    if k == 1:
        raise FileNotFoundError(f"{args.data_dir}/spk1.scp: missing")
    args.pool_dir.mkdir(parents=True, exist_ok=True)
    for name, items in rows.items():
        write_list(args.pool_dir / name, items)
    counts = {}
    for _, p in rows["utt2prompt"]:
        counts[p] = counts.get(p, 0) + 1
    print(
        f"make_pool.py: {args.pool_dir}: {len(rows['wav.scp'])} sources "
        f"({', '.join(f'{p} {n}' for p, n in sorted(counts.items()))})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
