#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stage 1 of the musdb18hq recipe: data/dev_musdb18hq and data/test_musdb18hq
# from $MUSDB18HQ (db.sh), written by tuss_plugin.dataprep.eval_sets.musdb18hq (see
# README.md for the expected layout). Re-running with the same options does
# nothing.
set -euo pipefail

download=false   # true: first fetch the corpus into $MUSDB18HQ if it is not there (local/download.sh)
num_dev=12   # validation tracks of the official 14 (each gives 2 mono utterances)
help_message="Usage: $0 [--download true|false] [--num_dev N]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

if ${download}; then
    local/download.sh "${MUSDB18HQ}"
fi
python3 -m tuss_plugin.dataprep.eval_sets.musdb18hq --root "${MUSDB18HQ}" --data_dir data --num_dev "${num_dev}" \
    --hint "to download it: run.sh --local_data_opts '--download true'"
