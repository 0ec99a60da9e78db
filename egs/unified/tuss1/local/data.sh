#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the unified recipe: the validation and test sets of the five
# evaluation corpora of Table III of the TUSS paper, data/{dev,test}_<corpus>
# for corpus in vctk_demand wham fuss musdb18hq dnr (roots from db.sh; see
# the README of each corpus recipe), plus data/dev, the union of the five
# validation sets. Re-running with the same options does nothing.
set -euo pipefail

download=false   # true: first fetch the downloadable corpora (all but WHAM!) if they are not there
help_message="Usage: $0 [--download true|false]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

corpora="vctk_demand wham fuss musdb18hq dnr"
if ${download}; then
    ../../vctk_demand/tuss1/local/download.sh "${VCTK_DEMAND}"
    ../../fuss/tuss1/local/download.sh "${FUSS}"
    ../../musdb18hq/tuss1/local/download.sh "${MUSDB18HQ}"
    ../../dnr/tuss1/local/download.sh "${DNR}"
fi
# one process for the five corpora (importing the package takes seconds);
# every corpus is tried, each problem is reported on one line
python3 - "vctk_demand=${VCTK_DEMAND}" "wham=${WHAM}" "fuss=${FUSS}" "musdb18hq=${MUSDB18HQ}" "dnr=${DNR}" << 'PY'
import importlib
import sys

from tuss_plugin.dataprep.common import combine_data_dirs
from tuss_plugin.utils.errors import DataPrepError

rc = 0
for spec in sys.argv[1:]:
    corpus, root = spec.split("=", 1)
    module = importlib.import_module(f"tuss_plugin.dataprep.eval_sets.{corpus}")
    rc |= module.main(["--root", root, "--data_dir", "data"])
if rc == 0:
    try:
        names = [spec.split("=", 1)[0] for spec in sys.argv[1:]]
        combine_data_dirs("data/dev", [f"data/dev_{c}" for c in names])
    except DataPrepError as e:
        print(f"error: {e}", file=sys.stderr)
        rc = 1
sys.exit(rc)
PY
echo "$0: data/dev = dev_{${corpora// /,}}: $(wc -l < data/dev/wav.scp) mixtures"
