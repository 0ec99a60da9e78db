#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the dnr recipe: data/dev_dnr and data/test_dnr from $DNR (db.sh),
# written by tuss_plugin.dataprep.eval_sets.dnr (see README.md for the expected layout).
# Re-running with the same options does nothing.
set -euo pipefail

download=false   # true: first fetch the corpus into $DNR if it is not there (local/download.sh)
num_dev=100   # validation mixtures (cv); <=0: all
help_message="Usage: $0 [--download true|false] [--num_dev N]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

if ${download}; then
    local/download.sh "${DNR}"
fi
python3 -m tuss_plugin.dataprep.eval_sets.dnr --root "${DNR}" --data_dir data --num_dev "${num_dev}" \
    --hint "to download it: run.sh --local_data_opts '--download true'"
