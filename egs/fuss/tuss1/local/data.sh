#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the fuss recipe: data/dev_fuss and data/test_fuss from $FUSS
# (db.sh), written by tuss_plugin.dataprep.eval_sets.fuss (see README.md for the
# expected layout). Re-running with the same options does nothing.
set -euo pipefail

download=false   # true: first fetch the corpus into $FUSS if it is not there (local/download.sh)
num_dev_per_count=200   # validation examples per source count (2, 3, 4); <=0: all
help_message="Usage: $0 [--download true|false] [--num_dev_per_count N]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

if ${download}; then
    local/download.sh "${FUSS}"
fi
python3 -m tuss_plugin.dataprep.eval_sets.fuss --root "${FUSS}" --data_dir data --num_dev_per_count "${num_dev_per_count}" \
    --hint "to download it: run.sh --local_data_opts '--download true'"
