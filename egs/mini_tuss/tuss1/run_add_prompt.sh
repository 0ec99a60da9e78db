#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Add a prompt to the trained mini model without retraining it (TUSS, Saijo et
# al., ICASSP 2025: "more prompts could of course be added"). Run ./run.sh
# (stages 1-6) first; then
#   ./run_add_prompt.sh
# synthesises mixtures with a category the base model never saw (struck bells,
# local/synthesize.py --new_category bell), adds the prompt `bell` (its vector a
# copy of the sound-effect mix `sfxbg`'s; excluded with `sfxbg`), scores the
# initial vector, trains
# only the new vector (everything else frozen), scores again, and checks that
# every old prompt list gives bit-identical outputs.
#
# Stages
#   1  data: data/{train,dev,test}_bell (2-s mixtures of bell with speech, sound
#      events and music; dev has utt2corpus = the four patterns)
#   2  add the prompt: tuss_plugin.bin.add_prompts -> exp/enh_<base>_add_<prompt>_init
#      (config.yaml, model.pth, train.yaml)
#   3  format the new sets; separate and score test_<prompt> with the initial vector
#   4  fine-tune only the new vector on train_<prompt> -> exp/enh_<base>_add_<prompt>;
#      separate and score test_<prompt> and the old test set
#   5  report: SI-SNRi of the new prompt before and after, old outputs bit-identical?
set -euo pipefail

log() {
    echo "$(date '+%Y-%m-%d %H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"
}

stage=1
stop_stage=5
base_tag=train_tuss_mini # the base model: exp/enh_<base_tag> (./run.sh trains exp/enh_train_tuss_mini)
prompt=bell
init=sfxbg              # start from this prompt's vector (a bell is a sound effect), or: random
exclusive=sfxbg         # prompts the new one may not be combined with ("" for none)
finetune_config=conf/tuning/finetune_prompt.yaml
train_args=             # extra tuss_train options of the fine-tuning (e.g. "--max_epoch 2")
num_train=60            # mixtures per pattern (4 patterns)
num_dev=4
num_test=10
nj=2
help_message="Usage: $0 [--stage N] [--stop_stage N] [--base_tag train] [--init random] [--exclusive sfxbg]
    [--finetune_config ${finetune_config}] [--train_args \"...\"] [--num_train ${num_train}] [--num_dev ${num_dev}]
    [--num_test ${num_test}] [--nj ${nj}]"

. ./path.sh
. ./db.sh
. utils/parse_options.sh

base=exp/enh_${base_tag}
init_tag=${base_tag}_add_${prompt}_init
tag=${base_tag}_add_${prompt}
init_dir=exp/enh_${init_tag}
sets="train_${prompt} dev_${prompt} test_${prompt}"
tuss_opts=(--fs 16k --nj "${nj}" --inference_nj "${nj}" --train_set "train_${prompt}"
           --valid_set "dev_${prompt}" --train_config "${init_dir}/train.yaml" --inference_config conf/inference.yaml)

if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ]; then
    log "Stage 1: mixtures with the new category '${prompt}' -> data/{train,dev,test}_${prompt}"
    marker=data/.mini_tuss_${prompt}.complete
    opts="num_train=${num_train} num_dev=${num_dev} num_test=${num_test}"
    if [ -f "${marker}" ] && [ "$(cat "${marker}")" = "${opts}" ]; then
        log "  already synthesised (${opts})"
    else
        rm -f "${marker}"
        python3 local/synthesize.py --data_dir data --audio_dir "${MINI_TUSS}" --new_category "${prompt}" \
            --num_train "${num_train}" --num_dev "${num_dev}" --num_test "${num_test}"
        echo "${opts}" > "${marker}"
    fi
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ]; then
    log "Stage 2: add prompt '${prompt}' (from ${init}) to ${base} -> ${init_dir}"
    [ -f "${base}/config.yaml" ] || { echo "$0: ${base}/config.yaml: missing (run ./run.sh first)" >&2; exit 1; }
    add_opts=(--model "${base}" --add "${prompt}=${init}" --outdir "${init_dir}" --train_config "${finetune_config}")
    [ -n "${exclusive}" ] && add_opts+=(--exclusive "${prompt}:${exclusive}")
    base_model=${base}/$(python3 -m tuss_plugin.bin.recipe_model --prog "$0" model_file "${base}")
    key=$(cat "${finetune_config}" "${base_model}" | md5sum | cut -c1-16)" ${add_opts[*]}"
    if [ -f "${init_dir}/.done" ] && [ "$(cat "${init_dir}/.done")" = "${key}" ]; then
        log "  already added"
    else
        python3 -m tuss_plugin.bin.add_prompts "${add_opts[@]}" --overwrite
        echo "${key}" > "${init_dir}/.done"
        # a fine-tuning of an earlier initial model would be resumed by stage 4
        rm -rf "exp/enh_${tag}"
    fi
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
    log "Stage 3: the initial vector on test_${prompt}"
    ./tuss.sh "${tuss_opts[@]}" --test_sets "test_${prompt}" --stage 2 --stop_stage 2
    ./tuss.sh "${tuss_opts[@]}" --test_sets "test_${prompt}" --stage 5 --stop_stage 6 \
        --tag "${init_tag}" --inference_model model.pth --inference_tag enhanced
fi

if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ]; then
    log "Stage 4: train only the vector of '${prompt}' -> exp/enh_${tag}"
    start=${SECONDS}
    ./tuss.sh "${tuss_opts[@]}" --test_sets "test_${prompt}" --stage 3 --stop_stage 4 --tag "${tag}" \
        --train_args "${train_args}"
    log "  fine-tuning took $((SECONDS - start)) s"
    ./tuss.sh "${tuss_opts[@]}" --test_sets "test_${prompt} test" --stage 5 --stop_stage 6 --tag "${tag}"
fi

if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ]; then
    log "Stage 5: report"
    python3 local/new_prompt_report.py --prompt "${prompt}" --base "${base}" --init "${init_dir}" \
        --finetuned "exp/enh_${tag}" --output "exp/enh_${tag}/NEW_PROMPT.md"
fi
log "Successfully finished. [elapsed=${SECONDS}s]"
