#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build training source pools for on-the-fly mixing (TUSS, Saijo et al., ICASSP
# 2025, Table II). Shared by the recipes: their local/pools.sh (called by
# tuss.sh stage 3 from the recipe dir) runs this with the pools of the
# recipe's data-specialist model, e.g. `--pools "wsj0 wham_noise"`; writes
# data/pool_<name>/{wav.scp,utt2prompt,utt2fs,utt2num_samples} (derived audio
# under data/local/<name>/) and does nothing for a pool that is up to date.
# Corpus roots come from db.sh (or the environment); optional extra inputs:
# WSJ0_2MIX_TR (default $WSJ0/mix_2_spk_tr.txt), FSD50K_ONTOLOGY (default
# $FSD50K/ontology.json), MOISESDB_SPLITS (default $MOISESDB/splits.csv).
set -euo pipefail

pools=        # space-separated pool names (vctk wsj0 librivox fsd50k wham_noise demand musdb_sad moisesdb_sad fma)
nj=2          # parallel processes for header reads, decoding, resampling, SAD
force=false   # true: rebuild pools that are up to date
help_message="Usage: $0 [--pools \"<names>\"] [--nj N] [--force true|false]"

. ./path.sh
. ./db.sh
. "${MAIN_ROOT}/utils/parse_options.sh"
[ -z "${pools}" ] && { echo "$0: --pools is required" >&2; echo "${help_message}" >&2; exit 1; }

# the roots (and the optional inputs) as the pool builder reads them
export VCTK WSJ0 LIBRIVOX_URGENT FSD50K WHAM_NOISE DEMAND MUSDB18HQ MOISESDB FMA
export WSJ0_2MIX_TR="${WSJ0_2MIX_TR:-}" FSD50K_ONTOLOGY="${FSD50K_ONTOLOGY:-}" MOISESDB_SPLITS="${MOISESDB_SPLITS:-}"

force_opt=""
if ${force}; then force_opt="--force"; fi
echo "$0: building pools: ${pools}"
python3 -m tuss_plugin.dataprep.pools.build_pools --pools "${pools}" --data_dir data --local_dir data/local \
    --nj "${nj}" ${force_opt}
