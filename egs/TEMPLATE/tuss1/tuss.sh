#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared stage script of the TUSS recipes (egs/<corpus>/tuss1/run.sh calls it).
#
# Stages
#   1  data preparation: local/data.sh writes data/<set>/ (wav.scp, spk<k>.scp,
#      utt2prompts, utt2spk, spk2utt)
#   2  format: resample to --fs into ${dumpdir}/raw/<set>/, validate the lists
#   3  statistics: utterance lengths (ESPnet collect_stats) -> ${expdir}/tuss_stats_<train_set>_<fs>
#      (on-the-fly training, --train_set onthefly: first local/pools.sh if the recipe
#      has one, then the validation set only)
#   4  training (tuss_train; resumes from the last checkpoint; on the fly: no training lists)
#   5  inference: ${exp}/<inference_tag>_<set>/ (wavs/<k>/<utt>.wav, spk<k>.scp)
#   6  scoring: SI-SNR, SI-SNRi, SNR, SDR -> ${exp}/RESULTS.md, ${expdir}/RESULTS.md
#   7  packing: ESPnet model-zoo zip (espnet2.bin.pack)
#   8  upload-ready model dir with a model card
set -euo pipefail

log() {
    echo "$(date '+%Y-%m-%d %H:%M:%S') ($(basename "$0"):${BASH_LINENO[0]}) $*"
}
min() { local a=$1 b=$2; [ "$a" -lt "$b" ] && echo "$a" || echo "$b"; }
sanitize() { echo "$1" | sed -e 's/--//g' -e 's/[^A-Za-z0-9.=_-]/_/g' -e 's/__*/_/g' -e 's/_$//'; }

stage=1
stop_stage=10000
skip_data_prep=false
skip_train=false
skip_eval=false
skip_packing=false
ngpu=0
nj=4
inference_nj=4
train_num_threads=$(nproc 2>/dev/null || echo 2)
fs=16k
test_fs=
audio_subtype=FLOAT
mix_from_refs=false
dumpdir=dump
expdir=exp
train_set=
valid_set=
test_sets=
local_data_opts=
train_config=
train_args=
tag=
pretrained_model=
inference_config=
inference_args=
inference_model=  # empty: the experiment's default model file (resolve_inference_model)
inference_tag=
inference_prompts=
eval_modes=all
scoring_args=
segment_size=
hop_size=
fold_length=80000

help_message=$(cat << HELP
Usage: $0 --train_set <set> --valid_set <set> --test_sets "<set> ..." --train_config <yaml> [options]

Options:
  --stage / --stop_stage   first / last stage to run (${stage} / ${stop_stage})
  --skip_data_prep, --skip_train, --skip_eval, --skip_packing   skip stage groups (false)
  --ngpu                   GPUs for training and inference (${ngpu})
  --nj                     parallel jobs for formatting and statistics (${nj})
  --inference_nj           parallel jobs for inference and scoring (${inference_nj})
  --train_num_threads      CPU threads of the training job (${train_num_threads})
  --fs                     sampling rate of the model, of training and of the
                           dumped validation set (${fs})
  --test_fs                rate of the dumped test sets: a rate, or "native" to
                           keep each corpus' own rate (the paper's scoring; the
                           model resamples to --fs and back) (default: --fs)
  --dumpdir / --expdir     (${dumpdir} / ${expdir})
  --local_data_opts        options of local/data.sh
  --mix_from_refs          stage 2 writes the sum of the references as the mixture
                           (the paper's evaluation; utt2channel picks channels) (${mix_from_refs})
  --train_config           training YAML (TUSSTask options)
  --train_args             extra tuss_train arguments
  --tag                    experiment tag (default: config name + train_args)
  --pretrained_model       initialise from this .pth (ESPnet --init_param)
  --inference_config       YAML of tuss_inference options (segment_size, hop_size, ...)
  --inference_args         extra tuss_inference arguments
  --inference_model        model file in the exp dir for stages 5, 7, 8 (default: the
                           first of valid.loss.ave.pth (ESPnet's average of the
                           keep_nbest_models best epochs by validation loss, as the
                           paper evaluates), valid.loss.best.pth, latest.pth,
                           checkpoint.pth, the last <N>epoch.pth; the rule of
                           SeparateAudio.from_pretrained)
  --inference_tag          name prefix of inference dirs (default: enhanced, plus
                           _<prompts> with --inference_prompts and _<model> when
                           --inference_model is given)
  --inference_prompts      separate every test mixture with this prompt list
                           instead of its utt2prompts (e.g. "speech sfxbg")
  --eval_modes             "all" (one pass with all prompts), "single" (one pass
                           per prompt category, the paper's "single" rows) or
                           "all single" (${eval_modes})
  --scoring_args           extra options of tuss_plugin.bin.score (e.g. --museval)
  --segment_size / --hop_size   segment-wise inference (seconds)
HELP
)

. ./path.sh
. ./cmd.sh
default_inference_model=${inference_model}  # another model gets its own inference dirs
. utils/parse_options.sh

if [ $# -ne 0 ]; then
    echo "$0: unexpected argument(s): $*" >&2
    echo "${help_message}" >&2
    exit 1
fi
for v in train_set valid_set test_sets train_config; do
    if [ -z "${!v}" ]; then
        echo "$0: --${v} is required" >&2
        exit 1
    fi
done
[ ! -f "${train_config}" ] && { echo "$0: ${train_config}: no such file" >&2; exit 1; }
to_hz() {  # 16k / 44.1k / 16000 -> samples per second
    echo "$1" | awk '/^[0-9]+(\.[0-9]+)?[kK]$/ {printf "%d\n", substr($0, 1, length($0) - 1) * 1000 + 0.5; next}
                     /^[0-9]+$/ {print; next} {exit 1}'
}
fs_hz=$(to_hz "${fs}") || { echo "$0: invalid --fs ${fs} (use e.g. 16k, 44.1k or 48000)" >&2; exit 1; }
test_fs_hz=${fs_hz}
if [ "${test_fs}" = native ]; then
    test_fs_hz=native
elif [ -n "${test_fs}" ]; then
    test_fs_hz=$(to_hz "${test_fs}") || { echo "$0: invalid --test_fs ${test_fs}" >&2; exit 1; }
fi

if [ -z "${tag}" ]; then
    tag=$(basename "$(readlink -f "${train_config}")" .yaml)
    [ -n "${train_args}" ] && tag+="_$(sanitize "${train_args}")"
fi
exp=${expdir}/enh_${tag}
stats_dir=${expdir}/tuss_stats_${train_set}_${fs}
# the model file of stages 5, 7 and 8: --inference_model, else the default of the
# experiment as SeparateAudio.from_pretrained picks it (one rule:
# tuss_plugin.inference.default_model_file), looked up once training has written it
resolve_inference_model() {
    [ -n "${inference_model}" ] && return 0
    inference_model=$(python3 -c 'import sys
from tuss_plugin.inference import default_model_file
try:
    print(default_model_file(sys.argv[1]).name)
except FileNotFoundError as e:
    sys.exit(f"tuss.sh: {e}")' "${exp}" | tail -n 1) || exit 1
    log "Model file: ${exp}/${inference_model} (default of --inference_model: valid.loss.ave.pth," \
        "else valid.loss.best.pth, latest.pth, checkpoint.pth, <N>epoch.pth)"
}
if [ -z "${inference_tag}" ]; then
    inference_tag=enhanced
    [ -n "${inference_prompts}" ] && inference_tag+="_$(sanitize "${inference_prompts}")"
    [ "${inference_model}" != "${default_inference_model}" ] && inference_tag+="_$(sanitize "${inference_model%.pth}")"
fi
for m in ${eval_modes}; do
    case ${m} in all|single) ;; *) echo "$0: --eval_modes: unknown mode '${m}' (all, single)" >&2; exit 1;; esac
done
mode_tag() { [ "$1" = all ] && echo "${inference_tag}" || echo "${inference_tag}_$1"; }
# checksum of files/options, used by the .done markers
stamp() { { cat "$@" 2>/dev/null || true; } | md5sum | cut -c1-16; }  # missing files are skipped

data_args() {  # data options of tuss_train for set $1 as mode $2 (train/valid)
    local d=${dumpdir}/raw/$1 m=$2
    echo "--${m}_data_path_and_name_and_type ${d}/wav.scp,speech_mix,sound" \
         "--${m}_data_path_and_name_and_type ${d}/spk.scp,speech_refs,variable_columns_sound" \
         "--${m}_data_path_and_name_and_type ${d}/utt2prompts,prompts,text"
}

# sets with a data dir (--train_set onthefly: training mixtures are simulated, no list)
data_sets=$(for d in ${train_set} ${valid_set} ${test_sets}; do [ "${d}" = onthefly ] || echo "${d}"; done)

# ---------------------------------------------------------------- stage 1
if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ] && ! ${skip_data_prep}; then
    log "Stage 1: data preparation: local/data.sh ${local_data_opts}"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
    for dset in ${data_sets}; do
        validate_data_dir.py --config "${train_config}" "data/${dset}" > /dev/null
    done
    log "Stage 1 done: $(for d in ${data_sets}; do printf '%s=%s ' "$d" "$(wc -l < "data/$d/wav.scp")"; done)mixtures"
fi

# ---------------------------------------------------------------- stage 2
if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ] && ! ${skip_data_prep}; then
    log "Stage 2: format data at ${fs_hz} Hz (test sets: ${test_fs_hz}) -> ${dumpdir}/raw/"
    fmt_opts=""
    ${mix_from_refs} && fmt_opts+=" --mix_from_refs"
    for dset in ${data_sets}; do
        out=${dumpdir}/raw/${dset}
        set_fs=${fs_hz}
        if [ "${dset}" != "${valid_set}" ] && [ "${dset}" != "${train_set}" ] && [[ " ${test_sets} " == *" ${dset} "* ]]; then
            set_fs=${test_fs_hz}
        fi
        key="fs=${set_fs} subtype=${audio_subtype}${fmt_opts} $(stamp data/"${dset}"/{wav.scp,utt2prompts,utt2channel,utt2corpus,spk*.scp})"
        if [ -f "${out}/.done" ] && [ "$(cat "${out}/.done")" = "${key}" ]; then
            log "  ${dset}: already formatted"
            continue
        fi
        ${train_cmd} "${out}/log/format.log" \
            python3 -m tuss_plugin.bin.format_data --fs "${set_fs}" --nj "${nj}" \
            --subtype "${audio_subtype}"${fmt_opts} "data/${dset}" "${out}"
        grep -h "skipped:" "${out}/log/format.log" | sed 's/^/  /' || true
        grep -h "^format_data: data" "${out}/log/format.log" | sed 's/^/  /' || true
        validate_data_dir.py --config "${train_config}" --check-audio --formatted "${out}" > /dev/null
        echo "${key}" > "${out}/.done"
    done
fi

# on-the-fly training mixtures (train config: train_data_source: onthefly):
# no training lists; stage 3 builds the source pools (local/pools.sh, if the
# recipe has one) and takes the statistics of the validation set only
onthefly=false
if [ "${train_set}" = onthefly ] || grep -Eq "^train_data_source:[[:space:]]*onthefly" "${train_config}" \
        || [[ "${train_args}" == *"--train_data_source onthefly"* ]]; then
    onthefly=true
    if ! grep -Eq "^train_data_source:[[:space:]]*onthefly" "${train_config}" \
            && [[ "${train_args}" != *"--train_data_source onthefly"* ]]; then
        echo "$0: --train_set onthefly needs a train config with 'train_data_source: onthefly'" >&2
        exit 1
    fi
fi
train_data_opts() {  # training data options of tuss_train: lists, or none on the fly
    ${onthefly} || data_args "${train_set}" train
}

# ---------------------------------------------------------------- stage 3
if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ] && ! ${skip_train}; then
    log "Stage 3: statistics -> ${stats_dir}"
    if ${onthefly} && [ -f local/pools.sh ]; then
        log "  source pools: local/pools.sh"
        local/pools.sh
    fi
    key="$(stamp "${dumpdir}/raw/${train_set}/utt2num_samples" "${dumpdir}/raw/${valid_set}/utt2num_samples")"
    if [ -f "${stats_dir}/.done" ] && [ "$(cat "${stats_dir}/.done")" = "${key}" ]; then
        log "  already collected"
    else
        logdir=${stats_dir}/logdir
        rm -rf "${logdir}"
        mkdir -p "${logdir}"
        _nj=$(min "${nj}" "$(wc -l < "${dumpdir}/raw/${valid_set}/wav.scp")")
        shape_opts="--valid_shape_file ${logdir}/valid.JOB.scp"
        if ! ${onthefly}; then
            _nj=$(min "${_nj}" "$(wc -l < "${dumpdir}/raw/${train_set}/wav.scp")")
            split_scp.py --num "${_nj}" "${dumpdir}/raw/${train_set}/utt2num_samples" "${logdir}/train.JOB.scp"
            shape_opts+=" --train_shape_file ${logdir}/train.JOB.scp"
        fi
        split_scp.py --num "${_nj}" "${dumpdir}/raw/${valid_set}/utt2num_samples" "${logdir}/valid.JOB.scp"
        # shellcheck disable=SC2046,SC2086
        ${train_cmd} JOB=1:"${_nj}" "${logdir}/stats.JOB.log" \
            python3 -m tuss_plugin.bin.tuss_train --collect_stats true \
            --config "${train_config}" --ngpu 0 --num_workers 0 \
            --batch_type unsorted --batch_size 1 \
            $(train_data_opts) $(data_args "${valid_set}" valid) ${shape_opts} \
            --output_dir "${logdir}/stats.JOB" ${train_args}
        # shellcheck disable=SC2046
        python3 -m espnet2.bin.aggregate_stats_dirs \
            $(for n in $(seq "${_nj}"); do echo --input_dir "${logdir}/stats.${n}"; done) \
            --output_dir "${stats_dir}" > "${logdir}/aggregate.log" 2>&1
        echo "${key}" > "${stats_dir}/.done"
    fi
    log "Stage 3 done: $(wc -l < "${stats_dir}/train/speech_mix_shape") train / $(wc -l < "${stats_dir}/valid/speech_mix_shape") valid utterances"
fi

# ---------------------------------------------------------------- stage 4
if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ] && ! ${skip_train}; then
    log "Stage 4: training -> ${exp} (log: ${exp}/train.log)"
    mkdir -p "${exp}"
    key="$(stamp "${train_config}" "${stats_dir}/.done") ${train_args} ${pretrained_model}"
    ${onthefly} && key+=" pools=$(stamp data/pool_*/wav.scp)"
    if [ -f "${exp}/.train.done" ] && [ "$(cat "${exp}/.train.done")" = "${key}" ]; then
        log "  already trained"
    else
        init_opts=""
        [ -n "${pretrained_model}" ] && init_opts="--init_param ${pretrained_model}"
        train_shape_opt="--train_shape_file ${stats_dir}/train/speech_mix_shape"
        ${onthefly} && train_shape_opt=""
        train_cmdline="python3 -m tuss_plugin.bin.tuss_train --config ${train_config} --ngpu ${ngpu} \
$(train_data_opts) $(data_args "${valid_set}" valid) \
${train_shape_opt} --valid_shape_file ${stats_dir}/valid/speech_mix_shape \
--fold_length ${fold_length} --fs ${fs_hz} --resume true --output_dir ${exp} ${init_opts} ${train_args}"
        # a script to resume this training by hand
        {
            echo "#!/usr/bin/env bash"
            echo "# Generated by $0; resumes the training of ${exp}"
            echo "cd \"$(pwd)\" && . ./path.sh && ${train_cmdline} \"\$@\""
        } > "${exp}/run.sh"
        chmod +x "${exp}/run.sh"
        # shellcheck disable=SC2086
        ${cuda_cmd} --gpu "${ngpu}" --num-threads "${train_num_threads}" "${exp}/train.log" ${train_cmdline} &
        pid=$!
        shown=0
        show_epochs() {
            local lines
            lines=$(sed -nE 's/.* ([0-9]+)epoch results: \[train\] .*[ ,]loss=(-?[0-9.e+-]+).*\[valid\] .*[ ,]loss=(-?[0-9.e+-]+).*/  epoch \1: train loss \2, valid loss \3/p' "${exp}/train.log" 2>/dev/null || true)
            [ -z "${lines}" ] && return 0
            echo "${lines}" | tail -n +$((shown + 1))
            shown=$(echo "${lines}" | wc -l)
        }
        while kill -0 "${pid}" 2>/dev/null; do
            sleep 5
            show_epochs
        done
        if ! wait "${pid}"; then
            echo "$0: training failed; see ${exp}/train.log" >&2
            tail -n 5 "${exp}/train.log" >&2
            exit 1
        fi
        show_epochs
        echo "${key}" > "${exp}/.train.done"
    fi
    log "Stage 4 done: $(find "${exp}" -maxdepth 1 -name '*.pth' | wc -l) model file(s) in ${exp}"
fi

# ---------------------------------------------------------------- stage 5
# the evaluation modes of stages 5 and 6: "single" (one pass per prompt category)
# exists only for models with prompts; a fixed-output separator (no prompt
# vocabulary: the conventional bslocoformer, ESPnet's stock separators) runs "all"
# alone. Asked of the model once (SeparateAudio.vocab), only when "single" is asked for.
model_eval_modes=
resolve_eval_modes() {
    [ -n "${model_eval_modes}" ] && return 0
    model_eval_modes=${eval_modes}
    case " ${eval_modes} " in *" single "*) ;; *) return 0;; esac
    local kind
    kind=$(python3 -c 'import sys
from tuss_plugin.inference import SeparateAudio
try:
    print("prompts" if SeparateAudio.from_pretrained(sys.argv[1]).vocab is not None else "fixed")
except (OSError, ValueError) as e:
    sys.exit(f"tuss.sh: {e}")' "${exp}${inference_model:+/${inference_model}}" | tail -n 1) || exit 1
    [ "${kind}" = prompts ] && return 0
    model_eval_modes=$(for m in ${eval_modes}; do [ "${m}" = single ] || echo "${m}"; done | xargs)
    if [ -z "${model_eval_modes}" ]; then
        echo "$0: --eval_modes single: ${exp} has no prompts (a fixed-output separator); use --eval_modes all" >&2
        exit 1
    fi
    log "Skipping --eval_modes single: ${exp} has no prompts (a fixed-output separator; 'single' is one" \
        "pass per prompt category)"
}
if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ] && ! ${skip_eval}; then
    resolve_inference_model
    resolve_eval_modes
    log "Stage 5: inference with ${exp}/${inference_model}"
    inf_opts=""
    [ -n "${inference_config}" ] && inf_opts+=" --config ${inference_config}"
    [ -n "${inference_prompts}" ] && inf_opts+=" --prompts ${inference_prompts}"
    [ -n "${segment_size}" ] && inf_opts+=" --segment_size ${segment_size}"
    [ -n "${hop_size}" ] && inf_opts+=" --hop_size ${hop_size}"
    [ "${ngpu}" -gt 0 ] && inf_opts+=" --device cuda"
    for mode in ${model_eval_modes}; do
    for dset in ${test_sets}; do
        out=${exp}/$(mode_tag "${mode}")_${dset}
        logdir=${out}/logdir
        mkdir -p "${logdir}"
        _nj=$(min "${inference_nj}" "$(wc -l < "${dumpdir}/raw/${dset}/wav.scp")")
        rm -rf "${logdir}"/keys.*.scp "${logdir}"/output.*  # lists of an earlier run
        split_scp.py --num "${_nj}" "${dumpdir}/raw/${dset}/wav.scp" "${logdir}/keys.JOB.scp"
        # shellcheck disable=SC2086
        ${decode_cmd} --gpu "${ngpu}" JOB=1:"${_nj}" "${logdir}/inference.JOB.log" \
            python3 -m tuss_plugin.bin.tuss_inference --model "${exp}/${inference_model}" \
            --data_dir "${dumpdir}/raw/${dset}" --key_file "${logdir}/keys.JOB.scp" \
            --output_dir "${out}" --list_dir "${logdir}/output.JOB" --eval_mode "${mode}" ${inf_opts} ${inference_args}
        # tuss_inference redoes the utterances whose stamp (model weights, prompts,
        # segments, options) does not match; lists of a longer prompt list go
        rm -f "${out}"/spk*.scp
        for name in $(find "${logdir}"/output.* -type f -printf '%f\n' | sort -u); do
            cat "${logdir}"/output.*/"${name}" 2>/dev/null | sort > "${out}/${name}"
        done
        echo "${mode}" > "${out}/eval_mode"
        echo "${dset}" > "${out}/eval_set"
        log "  ${dset} (${mode} prompts): $(wc -l < "${out}/utt2prompts") mixtures separated -> ${out}"
    done
    done
fi

# ---------------------------------------------------------------- stage 6
if [ ${stage} -le 6 ] && [ ${stop_stage} -ge 6 ] && ! ${skip_eval}; then
    resolve_eval_modes
    log "Stage 6: scoring"
    for mode in ${model_eval_modes}; do
    for dset in ${test_sets}; do
        out=${exp}/$(mode_tag "${mode}")_${dset}
        logdir=${out}/scoring/logdir
        mkdir -p "${logdir}"
        _nj=$(find "${out}/logdir" -name 'keys.*.scp' | wc -l)
        ${decode_cmd} JOB=1:"${_nj}" "${logdir}/score.JOB.log" \
            python3 -m tuss_plugin.bin.score --ref_dir "${dumpdir}/raw/${dset}" --inf_dir "${out}" \
            --key_file "${out}/logdir/keys.JOB.scp" --output "${logdir}/scores.JOB.tsv" ${scoring_args}
        {
            head -n 1 "${logdir}/scores.1.tsv"
            for n in $(seq "${_nj}"); do tail -n +2 "${logdir}/scores.${n}.tsv"; done
        } > "${out}/scoring/scores.tsv"
    done
    done
    python3 -m tuss_plugin.bin.show_results "${exp}" > /dev/null
    # shellcheck disable=SC2046
    python3 -m tuss_plugin.bin.show_results --compare $(find "${expdir}" -maxdepth 1 -type d -name 'enh_*' | sort) \
        --output "${expdir}/RESULTS.md" > /dev/null
    log "Stage 6 done: ${exp}/RESULTS.md (all models: ${expdir}/RESULTS.md)"
    awk '/^### (All outputs|Table III layout|Per task pattern)/{p=1; print; next} /^### /{p=0} p && /^\|/' "${exp}/RESULTS.md"
fi

# ---------------------------------------------------------------- stage 7
packed=
if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 7 ] && ! ${skip_packing}; then
    resolve_inference_model
    packed=${exp}/${exp##*/}_${inference_model%.pth}.zip
fi
if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ] && ! ${skip_packing}; then
    log "Stage 7: packing -> ${packed}"
    pack_opts=()
    [ -f "${exp}/RESULTS.md" ] && pack_opts+=(--option "${exp}/RESULTS.md")
    [ -d "${exp}/images" ] && pack_opts+=(--option "${exp}/images")
    python3 -m espnet2.bin.pack enh --train_config "${exp}/config.yaml" \
        --model_file "${exp}/${inference_model}" "${pack_opts[@]}" --outpath "${packed}" \
        > "${exp}/pack.log" 2>&1 || { echo "$0: packing failed; see ${exp}/pack.log" >&2; exit 1; }
    python3 -c "import sys; from tuss_plugin.inference import SeparateAudio; SeparateAudio.from_pretrained(sys.argv[1])" \
        "${packed}" > /dev/null 2>&1 \
        || { echo "$0: ${packed} does not load with SeparateAudio.from_pretrained" >&2; exit 1; }
    log "Stage 7 done: ${packed} ($(du -h "${packed}" | cut -f1))"
fi

# ---------------------------------------------------------------- stage 8
if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ] && ! ${skip_packing}; then
    log "Stage 8: upload-ready model dir -> ${exp}/model_card"
    python3 -m tuss_plugin.bin.make_model_card --packed "${packed}" --exp "${exp}" \
        --outdir "${exp}/model_card" --recipe "$(basename "$(dirname "$(pwd)")")"
    log "Stage 8 done"
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
