#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Convert an ESPnet enhancement data dir (egs2/*/enh1) into a TUSS data dir.

    utils/espnet_to_tuss_data.py [--spk_num N] [--use_noise_ref true|false] SRC [DST]

spk<k>.scp -> prompt `speech` each; noise1.scp -> prompt `sfxbg` with
--use_noise_ref true (enh.sh's meaning: train with the noise reference);
dereverb*.scp and segments are refused. DST defaults to SRC (utt2prompts and the
noise list are added there). See tuss_plugin/dataprep/espnet_enh.py.
"""

import argparse
import sys
from pathlib import Path

# this checkout's package first (``import tuss_plugin`` imports neither torch nor ESPnet)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tuss_plugin.dataprep.espnet_enh import convert  # noqa: E402
from tuss_plugin.utils.cli import run_main  # noqa: E402


def _bool(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
    return value.lower() == "true"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spk_num", type=int, default=None, help="speakers to use (default: every spk<k>.scp)")
    p.add_argument("--use_noise_ref", type=_bool, default=False, help="noise1.scp as the sfxbg reference (false)")
    p.add_argument("src")
    p.add_argument("dst", nargs="?")
    a = p.parse_args(argv)

    def run() -> int:
        prompts = convert(a.src, a.dst or a.src, a.spk_num, a.use_noise_ref)
        print(f"espnet_to_tuss_data: {a.dst or a.src}: prompts {' '.join(prompts)}")
        return 0

    return run_main("espnet_to_tuss_data", run)


if __name__ == "__main__":
    sys.exit(main())
