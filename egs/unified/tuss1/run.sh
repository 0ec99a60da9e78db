#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The unified TUSS model (K. Saijo et al., "Task-aware Unified Source
# Separation", ICASSP 2025): one 48-kHz model trained on mixtures simulated on
# the fly from all training pools (conf/train.yaml; train_set "onthefly" has
# no data dir), evaluated on the five Table III test sets. Stage 1 needs only
# the five evaluation corpora (db.sh: VCTK_DEMAND, WHAM, FUSS, MUSDB18HQ, DNR).
#
# MUSDB18-HQ and DnR are separated in 6-s segments (conf/inference_segmented.yaml)
# and the other sets whole (conf/inference.yaml), so stages 5-6 run once per
# group; all results land in the same exp dir and RESULTS.md. Other options
# are passed to tuss.sh.
#
# Prompt-dropout fine-tuning (the paper's L6): --finetune_from <exp dir of the
# trained model> trains ${finetune_config} from the weights that model kept
# after epoch ${finetune_init_epoch} (<N>epoch.kept.pth, train config
# keep_epochs) into its own exp dir, then evaluates it as above.
set -euo pipefail

stage=1
stop_stage=10000
train_set=onthefly
valid_set=dev   # union of the five dev_<corpus> sets
whole_sets="test_vctk_demand test_wham test_fuss"
segmented_sets="test_musdb18hq test_dnr"
finetune_from=
finetune_init_epoch=124
finetune_config=conf/tuning/finetune_tuss_large_promptdropout.yaml

args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --stage) stage=$2; shift 2 ;;
        --stop_stage|--stop-stage) stop_stage=$2; shift 2 ;;
        --finetune_from) finetune_from=$2; shift 2 ;;
        --finetune_init_epoch) finetune_init_epoch=$2; shift 2 ;;
        --finetune_config) finetune_config=$2; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
init=()  # fine-tuning: its config and initial weights, before the user's options
if [ -n "${finetune_from}" ]; then
    [[ "${finetune_init_epoch}" =~ ^[0-9]+$ ]] || { echo "$0: --finetune_init_epoch: a whole number" >&2; exit 1; }
    init_file=$(. ./path.sh && python3 -m tuss_plugin.bin.recipe_model --prog "$0" kept_epoch "${finetune_from}" \
        "${finetune_init_epoch}")
    if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ] && [ ! -f "${init_file}" ]; then
        echo "$0: --finetune_from ${finetune_from}: no ${init_file} (train with keep_epochs: [${finetune_init_epoch}])" >&2
        exit 1
    fi
    init=(--train_config "${finetune_config}" --pretrained_model "${init_file}")
fi
max() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }

tuss() {  # tuss.sh with this recipe's options: first stage, last stage, test sets, inference config
    local first=$1 last=$2 sets=$3 conf=$4
    [ "${first}" -gt "${last}" ] && return 0
    ./tuss.sh \
        --fs 48k \
        --test_fs native \
        --valid_fs native \
        --train_set "${train_set}" \
        --valid_set "${valid_set}" \
        --test_sets "${sets}" \
        --train_config conf/train.yaml \
        --inference_config "${conf}" \
        --mix_from_refs true \
        --ngpu 1 \
        --nj 4 \
        --inference_nj 4 \
        ${init[@]+"${init[@]}"} \
        ${args[@]+"${args[@]}"} \
        --stage "${first}" --stop_stage "${last}"
}

all_sets="${whole_sets} ${segmented_sets}"
# 1-4: data of all sets, training
tuss "${stage}" "$(min "${stop_stage}" 4)" "${all_sets}" conf/inference.yaml
# 5-6: inference and scoring per inference configuration
tuss "$(max "${stage}" 5)" "$(min "${stop_stage}" 6)" "${whole_sets}" conf/inference.yaml
tuss "$(max "${stage}" 5)" "$(min "${stop_stage}" 6)" "${segmented_sets}" conf/inference_segmented.yaml
# 7-8: packing and model card
tuss "$(max "${stage}" 7)" "${stop_stage}" "${all_sets}" conf/inference.yaml
