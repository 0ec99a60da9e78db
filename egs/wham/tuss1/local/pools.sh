#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Training source pools of this recipe's data-specialist model (TUSS, Saijo et
# al., ICASSP 2025): WSJ0 speech + WHAM! 48 kHz noise (configs/wham).
# Called by tuss.sh stage 3; options (--nj, --force, --pools) go to the shared
# builder egs/TEMPLATE/tuss1/pools.sh (see there for the corpora it reads).
set -euo pipefail
. ./path.sh
exec "${MAIN_ROOT}/egs/TEMPLATE/tuss1/pools.sh" --pools "wsj0 wham_noise" "$@"
