#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the wham recipe: data/dev_wham and data/test_wham from $WHAM
# (db.sh), written by tuss_plugin.dataprep.eval_sets.wham (see README.md for the
# expected layout). Re-running with the same options does nothing. WHAM! is
# generated from the licensed WSJ0 corpus and cannot be downloaded.
set -euo pipefail

num_dev=500   # validation mixtures (cv); <=0: all
help_message="Usage: $0 [--num_dev N]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

python3 -m tuss_plugin.dataprep.eval_sets.wham --root "${WHAM}" --data_dir data --num_dev "${num_dev}" \
    --hint "WHAM! is generated from WSJ0 with the official WHAM!/WHAMR! scripts (see README.md)"
