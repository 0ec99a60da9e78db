#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared stage script of the TUSS recipes (egs/<corpus>/tuss1/run.sh calls it).
#
# Stages
#   1  data preparation: local/data.sh writes data/<set>/ (wav.scp, spk<k>.scp,
#      utt2prompts, utt2spk, spk2utt)
#   2  format: resample to --fs into ${dumpdir}/raw/<set>/, validate the lists (again
#      when the lists or the size or time of their audio files changed)
#   3  statistics: utterance lengths (ESPnet collect_stats) -> ${expdir}/tuss_stats_<train_set>_<fs>
#      (on-the-fly training, --train_set onthefly: first local/pools.sh if the recipe
#      has one, then the validation set only)
#   4  training (tuss_train; resumes from the last checkpoint; on the fly: no training lists)
#   5  inference: ${exp}/<inference_tag>_<set>/ (wavs/<k>/<utt>.wav, spk<k>.scp)
#   6  scoring: SI-SNR, SI-SNRi, SNR, SDR -> ${exp}/RESULTS.md, ${expdir}/RESULTS.md;
#      spectrograms of one mixture per task pattern -> ${exp}/images/examples/<inference dir>/
#   7  packing: ESPnet model-zoo zip (espnet2.bin.pack, paths relative to ${expdir}'s parent)
#   8  upload-ready model dir with a model card
#   9  upload of the model dir to the Hugging Face hub (only with --hf_repo)
#
# enh.sh's option names are accepted where they mean the same (see the
# README's stage table): --enh_config, --enh_args, --init_param,
# --gpu_inference, --download_model, --skip_upload_hf, --hf_repo,
# --scoring_protocol, --ref_num.
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
pack_onnx=false    # stage 7: also export the model to ONNX and pack model.onnx beside it
ngpu=0
num_nodes=1        # nodes of the training job (ESPnet's enh.sh default)
dist_launcher=     # how the nodes of a multi-node training start: slurm or mpi
nj=4
inference_nj=4
train_num_threads=$(nproc 2>/dev/null || echo 2)
fs=16k
test_fs=
valid_fs=
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
score_obs=false
segment_size=
hop_size=
download_model=  # separate and score with this packed zip, model dir or hub tag (stages 5-6, no training)
hf_repo=         # stage 9: upload the model dir to this Hugging Face repo (<user>/<repo>)
hf_hub_dir=      # stage 9: copy into <dir>/<user>/<repo> instead (a local hub, e.g. offline)
skip_upload_hf=  # true: no stage 9 even with --hf_repo (enh.sh's name)
gpu_inference=false
# enh.sh's names of options of ours (same meaning; empty: not given)
enh_config=      # = --train_config
enh_args=        # = --train_args
init_param=      # = --pretrained_model
scoring_protocol=  # metrics to print after stage 6 (ours scores all; names checked)
ref_num=         # references per mixture (ours: from utt2prompts; checked against it)
inference_enh_config=  # SeparateSpeech's inference config: separator_conf.default_prompts
spk_num=         # ESPnet data dirs (no utt2prompts): speakers to use (default: every spk<k>.scp)
use_noise_ref=false  # ESPnet data dirs: noise1.scp as the reference of prompt sfxbg
# enh.sh options with no counterpart here, and what to use instead (utils/parse_options.sh)
option_pointers="enh_tag use --tag (the experiment dir is \${expdir}/enh_<tag>)
enh_exp use --expdir and --tag (\${expdir}/enh_<tag>)
skip_upload use --skip_upload_hf true (stage 9) or --skip_packing true (stages 7-9)
enh_speech_fold_length use --fold_length
speed_perturb_factors not supported (on-the-fly mixing draws gains and sources per step)
use_dereverb_ref not supported (TUSS prompts name sources; utils/espnet_to_tuss_data.py refuses dereverb*.scp)
extra_wav_list not supported (TUSS data dirs list references in spk<k>.scp with prompts in utt2prompts)
ref_channel not supported (stage 2 picks a channel per utterance: utt2channel)
inference_enh_tag use --inference_tag
score_with_asr not supported (no ASR-based scoring; stage 6 scores STOI, ESTOI and PESQ of speech)
enh_s2t_task not supported (TUSS models are enhancement models)
lang not supported (prompts, not languages)"
fold_length=80000

help_message=$(cat << HELP
Usage: $0 --train_set <set> --valid_set <set> --test_sets "<set> ..." --train_config <yaml> [options]

Options:
  --stage / --stop_stage   first / last stage to run (${stage} / ${stop_stage})
  --skip_data_prep, --skip_train, --skip_eval, --skip_packing   skip stage groups (false)
  --pack_onnx              stage 7: export to ONNX and pack model.onnx beside the model (${pack_onnx})
  --ngpu                   GPUs for training and inference (${ngpu})
  --num_nodes              nodes of the training job (${num_nodes}). Training with --ngpu > 1
                           or --num_nodes > 1 is DDP (one process per GPU, unused-parameter
                           detection on; --batch_size is the batch of all processes):
                           on one node started by ESPnet's launcher (espnet2.bin.launch)
  --dist_launcher          how the nodes of a multi-node training start: slurm (srun with
                           --nodes, plus conf/slurm.conf's options) or mpi (mpirun; needs
                           mpi4py); the exp dir must be on a file system all nodes share
                           (default: slurm when cmd.sh's backend is slurm)
  --nj                     parallel jobs for formatting and statistics (${nj})
  --inference_nj           parallel jobs for inference and scoring (${inference_nj})
  --train_num_threads      CPU threads of the training job (${train_num_threads})
  --fs                     sampling rate of the model, of training and of the
                           dumped validation set (${fs})
  --test_fs                rate of the dumped test sets: a rate, or "native" to
                           keep each corpus' own rate (the paper's scoring; the
                           model resamples to --fs and back) (default: --fs)
  --valid_fs               rate of the dumped validation set: a rate, or "native" (each
                           corpus at its own rate, utt2fs; the loss is computed at that
                           rate, as the authors validate) (default: --fs)
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
  --score_obs              stage 6 also scores the unprocessed mixtures of the test sets
                           -> ${dumpdir}/raw/<set>/scoring/, ${dumpdir}/raw/RESULTS.md (${score_obs})
  --segment_size / --hop_size   segment-wise inference (seconds)
  --download_model         stages 5-6 with this packed zip, model dir or hub tag
                           (no training; exp dir ${expdir}/enh_<tag>)
  --gpu_inference          inference on a GPU even with --ngpu 0 (false)
  --hf_repo                stage 9 uploads ${expdir}/enh_<tag>/model_card to this
                           Hugging Face repo (<user>/<repo>; skipped when empty)
  --hf_hub_dir             stage 9 copies into <dir>/<user>/<repo> instead of uploading
  --skip_upload_hf         no stage 9 (enh.sh's name; default: run it when --hf_repo is set)
  --inference_enh_config   ESPnet SeparateSpeech inference config (separator_conf.default_prompts)
  --spk_num / --use_noise_ref   ESPnet data dirs without utt2prompts are converted in place
                           (utils/espnet_to_tuss_data.py): spk1..<spk_num>.scp -> speech,
                           noise1.scp -> sfxbg with --use_noise_ref true (${use_noise_ref})
enh.sh's names (aliases): --enh_config (= --train_config), --enh_args (= --train_args),
  --init_param (= --pretrained_model), --scoring_protocol (checked: stage 6 scores all of
  SI_SNR SI_SNRi SNR SDR SI_SDR, and STOI ESTOI PESQ_WB PESQ_NB of speech; SIR and SAR when
  named, as ESPnet's enh_scoring computes them), --ref_num (no
  test mixture may have more prompts)
HELP
)

. ./cmd.sh
default_inference_model=${inference_model}  # another model gets its own inference dirs
. utils/parse_options.sh

if [ $# -ne 0 ]; then
    echo "$0: unexpected argument(s): $*" >&2
    echo "${help_message}" >&2
    exit 1
fi
# the environment after the options: --help or a wrong option installs nothing on a fresh clone
. ./path.sh
# enh.sh's option names
[ -n "${enh_config}" ] && train_config=${enh_config}
[ -n "${enh_args}" ] && train_args="${train_args:+${train_args} }${enh_args}"
[ -n "${init_param}" ] && pretrained_model=${init_param}
case ${gpu_inference} in true|false) ;; *) echo "$0: --gpu_inference: true or false, got '${gpu_inference}'" >&2; exit 1;; esac
case ${skip_upload_hf} in ""|true|false) ;; *) echo "$0: --skip_upload_hf: true or false, got '${skip_upload_hf}'" >&2; exit 1;; esac
for m in ${scoring_protocol}; do
    case $(echo "${m}" | tr '[:upper:]' '[:lower:]') in si_snr|si_snri|snr|sdr|si_sdr|stoi|estoi|pesq|pesq_wb|pesq_nb) ;;
        sir|sar) [[ " ${scoring_args} " == *" --bss_eval "* ]] || scoring_args+=" --bss_eval" ;;  # ESPnet's, opt-in
        *) echo "$0: --scoring_protocol: '${m}' is not scored here (SI_SNR SI_SNRi SNR SDR SI_SDR SIR SAR STOI ESTOI PESQ_WB PESQ_NB)" >&2
           exit 1;; esac
done
if [ -n "${download_model}" ]; then  # a trained model: no training, no packing
    skip_train=true
    skip_packing=true
    [ -z "${tag}" ] && tag=download_$(sanitize "$(basename "${download_model}")")
    required="test_sets"
else
    required="train_set valid_set test_sets train_config"
fi
for v in ${required}; do
    if [ -z "${!v}" ]; then
        echo "$0: --${v} is required" >&2
        exit 1
    fi
done
[ -n "${train_config}" ] && [ ! -f "${train_config}" ] && { echo "$0: ${train_config}: no such file" >&2; exit 1; }
to_hz() {  # 16k / 44.1k / 16000 -> samples per second
    echo "$1" | awk '/^[0-9]+(\.[0-9]+)?[kK]$/ {printf "%d\n", substr($0, 1, length($0) - 1) * 1000 + 0.5; next}
                     /^[0-9]+$/ {print; next} {exit 1}'
}
fs_hz=$(to_hz "${fs}") || { echo "$0: invalid --fs ${fs} (use e.g. 16k, 44.1k or 48000)" >&2; exit 1; }
set_rate() {  # option $1 = value $2: a rate in Hz, "native", or --fs's rate when empty
    case $2 in native) echo native ;; "") echo "${fs_hz}" ;; *) to_hz "$2" || { echo "$0: invalid --$1 $2" >&2; return 1; } ;; esac
}
test_fs_hz=$(set_rate test_fs "${test_fs}") || exit 1
valid_fs_hz=$(set_rate valid_fs "${valid_fs}") || exit 1

if [ -z "${tag}" ]; then
    tag=$(basename "$(readlink -f "${train_config}")" .yaml)
    [ -n "${train_args}" ] && tag+="_$(sanitize "${train_args}")"
fi
exp=${expdir}/enh_${tag}
model_path=${download_model}  # the model of stages 5-6 (set by resolve_inference_model)
stats_dir=${expdir}/tuss_stats_${train_set}_${fs}
# the model file of stages 5, 7 and 8: --inference_model, else the default of the
# experiment as SeparateAudio.from_pretrained picks it (one rule:
# tuss_plugin.inference.default_model_file), looked up once training has written it
resolve_inference_model() {
    if [ -n "${download_model}" ]; then  # tuss_inference resolves it as SeparateAudio.from_pretrained does
        model_path=${download_model}
        return 0
    fi
    model_path=${exp}/${inference_model}
    [ -n "${inference_model}" ] && return 0
    inference_model=$(python3 -m tuss_plugin.bin.recipe_model --prog "$0" model_file "${exp}") || exit 1
    model_path=${exp}/${inference_model}
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
# size and modification time of the files the lists $@ name (fields 2-; words that are
# no file, as a pipe's, are skipped): audio rewritten under the same names (a corpus
# synthesised again) changes it, where the lists' own stamp would not
audio_stamp() {
    { awk '{for (i = 2; i <= NF; i++) print $i}' "$@" 2>/dev/null | LC_ALL=C sort -u \
        | xargs -r -d '\n' stat -c '%n %s %.9Y' 2>/dev/null || true; } | md5sum | cut -c1-16
}

data_args() {  # data options of tuss_train for set $1 as mode $2 (train/valid)
    local d=${dumpdir}/raw/$1 m=$2
    echo "--${m}_data_path_and_name_and_type ${d}/wav.scp,speech_mix,sound" \
         "--${m}_data_path_and_name_and_type ${d}/spk.scp,speech_refs,variable_columns_sound" \
         "--${m}_data_path_and_name_and_type ${d}/utt2prompts,prompts,text"
}

# sets with a data dir (--train_set onthefly: training mixtures are simulated, no list)
data_sets=$(for d in ${train_set} ${valid_set} ${test_sets}; do [ "${d}" = onthefly ] || echo "${d}"; done)
# the config whose prompt vocabulary the lists are checked against: the training
# config, or with --download_model the model's own
vocab_config=${train_config}
if [ -z "${vocab_config}" ] && [ ${stage} -le 2 ] && [ ${stop_stage} -ge 1 ] && ! ${skip_data_prep}; then
    vocab_config=$(python3 -m tuss_plugin.bin.recipe_model --prog "$0: --download_model" config "${download_model}") \
        || exit 1
fi

# ESPnet enh data dirs (spk<k>.scp, noise1.scp, no utt2prompts) get prompts in place
# (utils/espnet_to_tuss_data.py: speech per speaker, sfxbg for the noise with --use_noise_ref)
convert_espnet_dirs() {
    local dset
    for dset in ${data_sets}; do
        if [ ! -f "data/${dset}/utt2prompts" ] && [ -f "data/${dset}/spk1.scp" ]; then
            espnet_to_tuss_data.py ${spk_num:+--spk_num "${spk_num}"} --use_noise_ref "${use_noise_ref}" \
                "data/${dset}" | sed 's/^/  /'
            [ "${PIPESTATUS[0]}" -eq 0 ] || exit 1
        fi
    done
}

# ---------------------------------------------------------------- stage 1
if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ] && ! ${skip_data_prep}; then
    log "Stage 1: data preparation: local/data.sh ${local_data_opts}"
    # shellcheck disable=SC2086
    local/data.sh ${local_data_opts}
    convert_espnet_dirs
    for dset in ${data_sets}; do
        validate_data_dir.py --config "${vocab_config}" "data/${dset}" > /dev/null
    done
    log "Stage 1 done: $(for d in ${data_sets}; do printf '%s=%s ' "$d" "$(wc -l < "data/$d/wav.scp")"; done)mixtures"
fi

# ---------------------------------------------------------------- stage 2
if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ] && ! ${skip_data_prep}; then
    log "Stage 2: format data at ${fs_hz} Hz (validation set: ${valid_fs_hz}, test sets: ${test_fs_hz}) -> ${dumpdir}/raw/"
    convert_espnet_dirs
    fmt_opts=""
    ${mix_from_refs} && fmt_opts+=" --mix_from_refs"
    for dset in ${data_sets}; do
        out=${dumpdir}/raw/${dset}
        set_fs=${fs_hz}
        [ "${dset}" = "${valid_set}" ] && set_fs=${valid_fs_hz}
        if [ "${dset}" != "${valid_set}" ] && [ "${dset}" != "${train_set}" ] && [[ " ${test_sets} " == *" ${dset} "* ]]; then
            set_fs=${test_fs_hz}
        fi
        key="fs=${set_fs} subtype=${audio_subtype}${fmt_opts} $(stamp data/"${dset}"/{wav.scp,utt2prompts,utt2channel,utt2corpus,spk*.scp})"
        key+=" audio=$(audio_stamp data/"${dset}"/wav.scp data/"${dset}"/spk*.scp)"
        if [ -f "${out}/.done" ] && [ "$(cat "${out}/.done")" = "${key}" ]; then
            log "  ${dset}: already formatted"
            continue
        fi
        ${train_cmd} "${out}/log/format.log" \
            python3 -m tuss_plugin.bin.format_data --fs "${set_fs}" --nj "${nj}" \
            --subtype "${audio_subtype}"${fmt_opts} "data/${dset}" "${out}"
        grep -h "skipped:" "${out}/log/format.log" | sed 's/^/  /' || true
        grep -h "^format_data: data" "${out}/log/format.log" | sed 's/^/  /' || true
        validate_data_dir.py --config "${vocab_config}" --check-audio --formatted "${out}" > /dev/null
        echo "${key}" > "${out}/.done"
    done
fi

# on-the-fly training mixtures (train config: train_data_source: onthefly):
# no training lists; stage 3 builds the source pools (local/pools.sh, if the
# recipe has one) and takes the statistics of the validation set only
onthefly=false
if [ "${train_set}" = onthefly ] || { [ -n "${train_config}" ] && grep -Eq "^train_data_source:[[:space:]]*onthefly" \
        "${train_config}"; } || [[ "${train_args}" == *"--train_data_source onthefly"* ]]; then
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
    # the lists stage 2 writes (the training set's only when it is listed, not on the fly)
    for _set in "${valid_set}" $(${onthefly} || echo "${train_set}"); do
        [ -f "${dumpdir}/raw/${_set}/wav.scp" ] || {
            echo "$0: stage 3: ${dumpdir}/raw/${_set}/wav.scp not found: run stage 2 for ${_set} first (--stage 2)" >&2
            exit 1
        }
    done
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
        python3 -m tuss_plugin.bin.aggregate_stats --output_dir "${stats_dir}" \
            $(for n in $(seq "${_nj}"); do echo "${logdir}/stats.${n}"; done)
        echo "${key}" > "${stats_dir}/.done"
    fi
    log "Stage 3 done: $(wc -l < "${stats_dir}/train/speech_mix_shape") train / $(wc -l < "${stats_dir}/valid/speech_mix_shape") valid utterances"
fi

# ---------------------------------------------------------------- stage 4
# One process (--ngpu 0 or 1 on one node): tuss_train through ${cuda_cmd}. Several
# GPUs on one node: DDP, one process per GPU, started by ESPnet's launcher
# (espnet2.bin.launch, as ESPnet's recipes do). Several nodes: one process per node
# started by srun or mpirun (--dist_launcher), each spawning one per GPU; the ranks
# meet through a file in ${exp} (a file system shared by the nodes).
if [ ${stage} -le 4 ] && [ ${stop_stage} -ge 4 ] && ! ${skip_train}; then
    for v in ngpu num_nodes train_num_threads; do
        [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$0: --${v} must be a whole number, got '${!v}'" >&2; exit 1; }
    done
    [ "${num_nodes}" -ge 1 ] || { echo "$0: --num_nodes must be at least 1" >&2; exit 1; }
    launcher=${dist_launcher}
    if [ "${num_nodes}" -gt 1 ] && [ -z "${launcher}" ]; then
        case ${cuda_cmd} in
            slurm_jobs.sh*) launcher=slurm ;;
            *) echo "$0: --num_nodes ${num_nodes}: choose how the nodes start with --dist_launcher slurm or mpi" >&2; exit 1 ;;
        esac
    fi
    case ${launcher} in
        ""|slurm|mpi) ;;
        *) echo "$0: --dist_launcher: unknown launcher '${launcher}' (slurm or mpi)" >&2; exit 1 ;;
    esac
    if [ "${num_nodes}" -gt 1 ]; then
        dist_mode="DDP on ${num_nodes} nodes x $(( ngpu > 1 ? ngpu : 1 )) process(es) (${launcher})"
    elif [ "${ngpu}" -gt 1 ]; then
        dist_mode="DDP, ${ngpu} processes (espnet2.bin.launch)"
    else
        dist_mode="1 process"
    fi
    log "Stage 4: training -> ${exp} (${dist_mode}; log: ${exp}/train.log)"
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
        # how this run starts (launch: its command line): one process, ESPnet's launcher,
        # or srun/mpirun on several nodes; resume_cmdline: the same by hand (${exp}/run.sh).
        # The nodes meet through a new file in ${exp} each time (run.sh names it when it
        # runs). Several nodes are not started by espnet2.bin.launch: it takes its Slurm
        # way only for a runner named slurm.pl (any other gets mpirun), and gives the
        # runner --num_threads max(ngpu, 1) and --num_nodes (run_jobs.sh and
        # slurm_jobs.sh take --num-threads, the training's, and no --num_nodes), its
        # srun having no --nodes or --ntasks-per-node (slurm.pl's sbatch allocates them)
        init_file=""
        watch_opts=(--log "${exp}/train.log" --output "${exp}/launch.log")
        # shellcheck disable=SC2206
        if [ "${num_nodes}" -gt 1 ]; then
            abs_exp=$(cd "${exp}" && pwd)
            init_file=${abs_exp}/.dist_init_$(date +%s%N)
            dist_opts="--multiprocessing_distributed true --dist_launcher ${launcher}"
            [ "${ngpu}" -eq 0 ] && dist_opts+=" --dist_backend gloo"  # CPU nodes
            if [ "${launcher}" = slurm ]; then
                node_cmd="srun --nodes=${num_nodes} --ntasks-per-node=1 --cpus-per-task=${train_num_threads}"
                [ "${ngpu}" -gt 0 ] && node_cmd+=" --gres=gpu:${ngpu}"
                if [ -f conf/slurm.conf ]; then  # the extra srun options of cmd.sh's slurm backend
                    node_cmd+=" $(grep -v -e '^#' -e '^[[:space:]]*$' conf/slurm.conf | xargs)"
                fi
                node_cmd+=" --export=ALL"
            else
                node_cmd="mpirun -np ${num_nodes}"  # one process per node: the MPI host file's job
            fi
            resume_cmdline="${node_cmd} ${train_cmdline} ${dist_opts} \
--dist_init_method file://${abs_exp}/.dist_init_\$(date +%s%N)"
            launch=(run_jobs.sh --num-threads "${train_num_threads}" "${exp}/train.log"
                    ${node_cmd} ${train_cmdline} ${dist_opts} --dist_init_method "file://${init_file}")
        elif [ "${ngpu}" -gt 1 ]; then
            resume_cmdline="${train_cmdline} --multiprocessing_distributed true"
            launch=(python3 -m espnet2.bin.launch --cmd "${cuda_cmd} --num-threads ${train_num_threads}"
                    --log "${exp}/train.log" --ngpu "${ngpu}" --num_nodes 1 --multiprocessing_distributed true
                    -- ${train_cmdline})
            watch_opts+=(--rotated)  # espnet2.bin.launch keeps the earlier logs (train.log -> train.1.log, ...)
        else
            resume_cmdline=${train_cmdline}
            launch=(${cuda_cmd} --gpu "${ngpu}" --num-threads "${train_num_threads}" "${exp}/train.log" ${train_cmdline})
            watch_opts=(--log "${exp}/train.log")
        fi
        {  # a script to resume this training by hand
            echo "#!/usr/bin/env bash"
            echo "# Generated by $0; resumes the training of ${exp} (${dist_mode})"
            echo "cd \"$(pwd)\" && . ./path.sh && ${resume_cmdline} \"\$@\""
        } > "${exp}/run.sh"
        chmod +x "${exp}/run.sh"
        # the launch, printing each epoch's losses as train.log gets them
        if ! python3 -m tuss_plugin.bin.watch_train "${watch_opts[@]}" -- "${launch[@]}"; then
            [ -n "${init_file}" ] && rm -f "${init_file}"
            echo "$0: training failed; see ${exp}/train.log" >&2
            if [ -f "${exp}/train.log" ]; then tail -n 5 "${exp}/train.log" >&2; fi
            if [ -s "${exp}/launch.log" ]; then tail -n 5 "${exp}/launch.log" >&2; fi
            exit 1
        fi
        [ -n "${init_file}" ] && rm -f "${init_file}"
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
    kind=$(python3 -m tuss_plugin.bin.recipe_model --prog "$0" kind \
        "${model_path:-${exp}${inference_model:+/${inference_model}}}") || exit 1
    [ "${kind}" = prompts ] && return 0
    model_eval_modes=$(for m in ${eval_modes}; do [ "${m}" = single ] || echo "${m}"; done | xargs)
    if [ -z "${model_eval_modes}" ]; then
        echo "$0: --eval_modes single: ${exp} has no prompts (a fixed-output separator); use --eval_modes all" >&2
        exit 1
    fi
    log "Skipping --eval_modes single: ${exp} has no prompts (a fixed-output separator; 'single' is one" \
        "pass per prompt category)"
}
# enh.sh's --ref_num: no test mixture may have more prompts (references) than that
check_ref_num() {
    [ -z "${ref_num}" ] && return 0
    local dset n
    for dset in ${test_sets}; do
        n=$(awk '{ if (NF - 1 > m) m = NF - 1 } END { print m + 0 }' "${dumpdir}/raw/${dset}/utt2prompts")
        if [ "${n}" -gt "${ref_num}" ]; then
            echo "$0: --ref_num ${ref_num}: ${dumpdir}/raw/${dset}/utt2prompts has mixtures with ${n} prompts" >&2
            exit 1
        fi
    done
}
if [ ${stage} -le 5 ] && [ ${stop_stage} -ge 5 ] && ! ${skip_eval}; then
    resolve_inference_model
    resolve_eval_modes
    log "Stage 5: inference with ${model_path}"
    check_ref_num
    inf_gpu=${ngpu}
    ${gpu_inference} && [ "${inf_gpu}" -eq 0 ] && inf_gpu=1
    inf_opts=""
    [ -n "${inference_config}" ] && inf_opts+=" --config ${inference_config}"
    [ -n "${inference_enh_config}" ] && inf_opts+=" --enh_config ${inference_enh_config}"
    [ -n "${inference_prompts}" ] && inf_opts+=" --prompts ${inference_prompts}"
    [ -n "${segment_size}" ] && inf_opts+=" --segment_size ${segment_size}"
    [ -n "${hop_size}" ] && inf_opts+=" --hop_size ${hop_size}"
    [ "${inf_gpu}" -gt 0 ] && inf_opts+=" --device cuda"
    for mode in ${model_eval_modes}; do
    for dset in ${test_sets}; do
        out=${exp}/$(mode_tag "${mode}")_${dset}
        logdir=${out}/logdir
        mkdir -p "${logdir}"
        _nj=$(min "${inference_nj}" "$(wc -l < "${dumpdir}/raw/${dset}/wav.scp")")
        rm -rf "${logdir}"/keys.*.scp "${logdir}"/output.*  # lists of an earlier run
        split_scp.py --num "${_nj}" "${dumpdir}/raw/${dset}/wav.scp" "${logdir}/keys.JOB.scp"
        # shellcheck disable=SC2086
        ${decode_cmd} --gpu "${inf_gpu}" JOB=1:"${_nj}" "${logdir}/inference.JOB.log" \
            python3 -m tuss_plugin.bin.tuss_inference --model "${model_path}" \
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
    # score_jobs <scoring dir> <key lists dir> <score options...>: one scoring job per key
    # list keys.<n>.scp, their tables joined into <scoring dir>/scores.tsv beside
    # ESPnet's result_<metric>.txt files
    score_jobs() {
        local dir=$1 keys=$2 nj n parts=()
        shift 2
        nj=$(find "${keys}" -maxdepth 1 -name 'keys.*.scp' | wc -l)
        mkdir -p "${dir}/logdir"
        rm -f "${dir}"/logdir/scores.*.tsv
        # shellcheck disable=SC2086
        ${decode_cmd} JOB=1:"${nj}" "${dir}/logdir/score.JOB.log" \
            python3 -m tuss_plugin.bin.score "$@" --key_file "${keys}/keys.JOB.scp" \
            --output "${dir}/logdir/scores.JOB.tsv" --no_result_files ${scoring_args}
        for n in $(seq "${nj}"); do parts+=("${dir}/logdir/scores.${n}.tsv"); done
        python3 -m tuss_plugin.bin.score --merge "${parts[@]}" --output "${dir}/scores.tsv"
    }
    for mode in ${model_eval_modes}; do
    for dset in ${test_sets}; do
        out=${exp}/$(mode_tag "${mode}")_${dset}
        score_jobs "${out}/scoring" "${out}/logdir" --ref_dir "${dumpdir}/raw/${dset}" --inf_dir "${out}"
        # spectrograms of one mixture per task pattern (linked from RESULTS.md; packed with images/)
        python3 -m tuss_plugin.bin.plot_examples --ref_dir "${dumpdir}/raw/${dset}" --inf_dir "${out}" \
            --output_dir "${exp}/images/examples/${out##*/}" > "${out}/scoring/plot_examples.log"
    done
    done
    obs_exps=()
    if ${score_obs}; then
        # the unprocessed mixtures, as ESPnet's observation scoring: once per set and
        # scoring options (redone when the set's lists are newer than the scores)
        for dset in ${test_sets}; do
            data=${dumpdir}/raw/${dset}
            obs=${data}/scoring
            if [ -f "${obs}/scores.tsv" ] && [ "$(cat "${obs}/scoring_args" 2>/dev/null)" = "${scoring_args}" ] \
                && [ -z "$(find "${data}/wav.scp" "${data}/spk.scp" "${data}/utt2prompts" -newer "${obs}/scores.tsv")" ]; then
                log "  ${dset}: mixtures already scored (${obs})"
                continue
            fi
            rm -rf "${obs}/logdir"
            mkdir -p "${obs}/logdir"
            _nj=$(min "${inference_nj}" "$(wc -l < "${data}/wav.scp")")
            split_scp.py --num "${_nj}" "${data}/wav.scp" "${obs}/logdir/keys.JOB.scp"
            score_jobs "${obs}" "${obs}/logdir" --ref_dir "${data}" --score_obs
            echo "${scoring_args}" > "${obs}/scoring_args"
            log "  ${dset}: mixtures scored -> ${obs}"
        done
        python3 -m tuss_plugin.bin.show_results "${dumpdir}/raw" > /dev/null
        log "  unprocessed mixtures: ${dumpdir}/raw/RESULTS.md (rows 'raw' in ${expdir}/RESULTS.md)"
        obs_exps=("${dumpdir}/raw")
    fi
    python3 -m tuss_plugin.bin.show_results "${exp}" > /dev/null
    # shellcheck disable=SC2046
    python3 -m tuss_plugin.bin.show_results --compare $(find "${expdir}" -maxdepth 1 -type d -name 'enh_*' | sort) \
        ${obs_exps[@]+"${obs_exps[@]}"} --output "${expdir}/RESULTS.md" > /dev/null
    log "Stage 6 done: ${exp}/RESULTS.md (all models: ${expdir}/RESULTS.md)"
    awk '/^### (All outputs|Table III layout|Per task pattern|Speech metrics)/{p=1; print; next} /^### /{p=0} p && /^\|/' "${exp}/RESULTS.md"
fi

# ---------------------------------------------------------------- stage 7
packed=
if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 7 ] && ! ${skip_packing}; then
    resolve_inference_model
    packed=${exp}/${exp##*/}_${inference_model%.pth}.zip
fi
if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ] && ! ${skip_packing}; then
    log "Stage 7: packing -> ${packed}"
    # packed from the parent of ${expdir}, so that meta.yaml and the zip hold
    # relative names (<expdir name>/enh_<tag>/...) whether --expdir is relative or absolute
    pack_root=$(cd "${expdir}/.." && pwd)
    rel=$(basename "$(cd "${expdir}" && pwd)")/${exp##*/}
    packed_abs=$(cd "$(dirname "${packed}")" && pwd)/$(basename "${packed}")
    pack_opts=()
    [ -f "${exp}/RESULTS.md" ] && pack_opts+=(--option "${rel}/RESULTS.md")
    [ -d "${exp}/images" ] && pack_opts+=(--option "${rel}/images")
    # the packed config carries default prompts (--inference_prompts, else the test sets'
    # most common list), so that ESPnet's SeparateSpeech separates with no inference config
    u2p=(); for dset in ${test_sets}; do [ -f "${dumpdir}/raw/${dset}/utt2prompts" ] && u2p+=("${dumpdir}/raw/${dset}/utt2prompts"); done
    python3 -m tuss_plugin.bin.pack_config --config "${exp}/config.yaml" --out "${exp}/packed/config.yaml" \
        --prompts "${inference_prompts}" --utt2prompts ${u2p[@]+"${u2p[@]}"} > "${exp}/pack.log" 2>&1 || {
        echo "$0: packing failed (${exp}/pack.log): $(tail -n 1 "${exp}/pack.log")" >&2; exit 1; }
    if ${pack_onnx}; then  # read by SeparateAudio / tuss-separate with --backend onnxruntime
        python3 -m tuss_plugin.bin.export_onnx --model "${exp}/${inference_model}" --output "${exp}/model.onnx" \
            > "${exp}/export_onnx.log" 2>&1 || { echo "$0: ONNX export failed (${exp}/export_onnx.log)" >&2; exit 1; }
        pack_opts+=(--option "${rel}/model.onnx")
    fi
    if ! (cd "${pack_root}" && python3 -m espnet2.bin.pack enh --train_config "${rel}/packed/config.yaml" \
            --model_file "${rel}/${inference_model}" "${pack_opts[@]}" --outpath "${packed_abs}") \
            >> "${exp}/pack.log" 2>&1; then
        echo "$0: packing failed (${exp}/pack.log): $(grep -v '^[[:space:]]*$' "${exp}/pack.log" | tail -n 1)" >&2
        exit 1
    fi
    if ! err=$(python3 -m tuss_plugin.bin.recipe_model check "${packed}" 2>&1 > /dev/null); then
        echo "$0: ${packed} does not load with SeparateAudio.from_pretrained: $(echo "${err}" | tail -n 1)" >&2
        exit 1
    fi
    log "Stage 7 done: ${packed} ($(du -h "${packed}" | cut -f1))"
fi

# ---------------------------------------------------------------- stage 8
if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ] && ! ${skip_packing}; then
    log "Stage 8: upload-ready model dir -> ${exp}/model_card"
    python3 -m tuss_plugin.bin.make_model_card --packed "${packed}" --exp "${exp}" \
        --outdir "${exp}/model_card" --recipe "$(basename "$(dirname "$(pwd)")")" ${hf_repo:+--hf_repo "${hf_repo}"}
    log "Stage 8 done"
fi

# ---------------------------------------------------------------- stage 9
if [ ${stage} -le 9 ] && [ ${stop_stage} -ge 9 ] && ! ${skip_packing} && [ "${skip_upload_hf}" != true ]; then
    if [ -z "${hf_repo}" ]; then
        log "Stage 9: skipped (no --hf_repo)"
    else
        log "Stage 9: upload ${exp}/model_card -> ${hf_hub_dir:-https://huggingface.co}/${hf_repo}"
        python3 -m tuss_plugin.bin.upload_hf --model_dir "${exp}/model_card" --repo "${hf_repo}" \
            ${hf_hub_dir:+--hub_dir "${hf_hub_dir}"}
        log "Stage 9 done"
    fi
fi

log "Successfully finished. [elapsed=${SECONDS}s]"
