#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The embedded mini recipe: a 16 kHz corpus rendered offline from real sounds
# (eSpeak NG voices, a General MIDI SoundFont) covering all eight prompts and
# the paper's five task patterns (SE, SS, USS, MSS, CASS).
# `./run.sh` runs stages 1-8 on a CPU; see README.md for options.
set -euo pipefail

train_set=train
valid_set=dev
test_sets=test

./tuss.sh \
    --fs 16k \
    --train_set "${train_set}" \
    --valid_set "${valid_set}" \
    --test_sets "${test_sets}" \
    --train_config conf/train.yaml \
    --inference_config conf/inference.yaml \
    --nj 2 \
    --inference_nj 2 \
    "$@"
