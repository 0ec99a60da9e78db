#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run_jobs.sh's interface for clusters: each job goes through utils/cluster_job.py,
# which blocks until it ends (so the call blocks until all jobs end, as recipes expect).
#
#   cluster_jobs.sh --backend slurm|sge|ssh [--config conf/<backend>.conf] [--gpu N]
#                   [--mem 4G] [--num-threads N] [--time T] [--max-jobs-run N]
#                   [JOB=1:N] LOG COMMAND ...
#
# The config is ESPnet's / Kaldi's format (conf/slurm.conf, conf/queue.conf:
# "command ...", "option name=value ...", "default name=value"; see
# utils/cluster_job.py); for ssh it lists the hosts. cmd.sh selects it.
set -uo pipefail

backend=""; config=""; opts=(); max_jobs=1000; num_threads=1
while [ $# -gt 0 ]; do
    case "$1" in
        --backend) backend=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        --gpu|--mem|--time) opts+=("$1" "$2"); shift 2 ;;
        --num-threads|--num_threads) num_threads=$2; opts+=(--num_threads "$2"); shift 2 ;;
        --max-jobs-run|--max_jobs_run) max_jobs=$2; shift 2 ;;
        --*) echo "$0: unknown option $1" >&2; exit 1 ;;
        *) break ;;
    esac
done
case "${backend}" in slurm|sge|ssh) ;; *) echo "$0: --backend: slurm, sge or ssh, got '${backend}'" >&2; exit 1 ;; esac
if [ -n "${config}" ] && [ ! -f "${config}" ]; then
    echo "$0: --config ${config}: no such file" >&2
    exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
args=()
if [[ "${1:-}" =~ ^JOB= ]]; then args+=("$1"); shift; fi
if [ $# -lt 2 ]; then
    echo "usage: $0 --backend B [options] [JOB=1:N] LOG COMMAND [ARGS...]" >&2
    exit 1
fi
log=$1; shift
if [ $# -eq 1 ]; then inner=$1; else inner=$(printf '%q ' "$@"); fi
job=1
[ ${#args[@]} -gt 0 ] && job=JOB  # run_jobs.sh puts each job's number there
prefix=$(printf '%q ' python3 "${here}/cluster_job.py" --backend "${backend}" ${config:+--config "${config}"} \
    ${opts[@]+"${opts[@]}"} --job "${job}" --log "${log}")
exec "${here}/run_jobs.sh" --max-jobs-run "${max_jobs}" --num-threads "${num_threads}" \
    ${args[@]+"${args[@]}"} "${log}" "${prefix}$(printf '%q' "${inner}")"
