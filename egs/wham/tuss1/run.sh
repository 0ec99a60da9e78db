#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TUSS on WHAM! (max, 16 kHz) (K. Saijo et al., "Task-aware Unified Source
# Separation", ICASSP 2025, Table III: noisy SS, prompts speech speech sfxbg).
# Stage 1 needs only the evaluation corpus ($WHAM in db.sh); training mixtures
# are simulated on the fly from the pools of conf/train.yaml (train_set
# "onthefly" has no data dir). See README.md.
set -euo pipefail

train_set=onthefly
valid_set=dev_wham
test_sets=test_wham

./tuss.sh \
    --fs 48k \
    --test_fs native \
    --valid_fs native \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --train_config conf/train.yaml \
    --inference_config conf/inference.yaml \
    --mix_from_refs true \
    --ngpu 1 \
    --nj 4 \
    --inference_nj 4 \
    "$@"
