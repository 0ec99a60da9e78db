#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the vctk_demand recipe: data/dev_vctk_demand and
# data/test_vctk_demand from $VCTK_DEMAND (db.sh), written by
# tuss_plugin.dataprep.eval_sets.vctk_demand (see README.md for the expected layout).
# Re-running with the same options does nothing.
set -euo pipefail

download=false   # true: first fetch the corpus into $VCTK_DEMAND if it is not there (local/download.sh)
num_dev=500   # validation files (p226, p287); <=0: all
help_message="Usage: $0 [--download true|false] [--num_dev N]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

if ${download}; then
    local/download.sh "${VCTK_DEMAND}"
fi
python3 -m tuss_plugin.dataprep.eval_sets.vctk_demand --root "${VCTK_DEMAND}" --data_dir data --num_dev "${num_dev}" \
    --hint "to download it: run.sh --local_data_opts '--download true'"
