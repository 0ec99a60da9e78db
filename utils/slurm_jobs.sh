#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cluster version of run_jobs.sh for Slurm: the same interface, each job
# submitted with srun (so the call blocks until all jobs end, as recipes expect).
#
#   slurm_jobs.sh [--gpu N] [--mem 4G] [--num-threads N] [--time 1-00:00:00]
#                 [--config conf/slurm.conf] [JOB=1:N] LOG COMMAND ...
#
# conf/slurm.conf (optional) holds extra srun arguments, one per line, e.g.
#   --partition=gpu
#   --account=myproject
# or is in ESPnet's format ("command sbatch ...", "option gpu=* ..."), which
# utils/cluster_jobs.sh reads.
# Select it in cmd.sh (cmd_backend=slurm). Other schedulers: copy this file and
# replace the srun line; cmd.sh decides which runner the recipes use.
set -uo pipefail

gpu=0; mem=""; num_threads=1; time_limit=""; config=""
while [ $# -gt 0 ]; do
    case "$1" in
        --gpu) gpu=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --num-threads|--num_threads) num_threads=$2; shift 2 ;;
        --time) time_limit=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        --max-jobs-run|--max_jobs_run) shift 2 ;;
        --*) echo "$0: unknown option $1" >&2; exit 1 ;;
        *) break ;;
    esac
done
# a config in ESPnet's / Kaldi's format ("command sbatch ...", "option gpu=* ..."):
# utils/cluster_jobs.sh reads it
if [ -n "${config}" ] && grep -qE '^[[:space:]]*(command|option|default)[[:space:]]' "${config}" 2>/dev/null; then
    exec "$(dirname "$0")/cluster_jobs.sh" --backend slurm --config "${config}" --gpu "${gpu}" \
        --num-threads "${num_threads}" ${mem:+--mem "${mem}"} ${time_limit:+--time "${time_limit}"} "$@"
fi
srun_args=(--ntasks=1 "--cpus-per-task=${num_threads}")
[ "${gpu}" -gt 0 ] && srun_args+=("--gres=gpu:${gpu}")
[ -n "${mem}" ] && srun_args+=("--mem=${mem}")
[ -n "${time_limit}" ] && srun_args+=("--time=${time_limit}")
if [ -n "${config}" ] && [ -f "${config}" ]; then
    while IFS= read -r line; do
        [[ -z "${line}" || "${line}" =~ ^# ]] || srun_args+=("${line}")
    done < "${config}"
fi
command -v srun >/dev/null || { echo "$0: srun not found (is this a Slurm cluster?)" >&2; exit 1; }

# reuse run_jobs.sh for JOB expansion, logging and failure reporting:
# every job becomes "srun ... bash -c <job command>"
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(printf '%q ' srun "${srun_args[@]}" bash -c)
args=()
if [[ "${1:-}" =~ ^JOB= ]]; then args+=("$1"); shift; fi
log=$1; shift
if [ $# -eq 1 ]; then inner=$1; else inner=$(printf '%q ' "$@"); fi
exec "${here}/run_jobs.sh" --max-jobs-run 1000 --num-threads "${num_threads}" \
    "${args[@]}" "${log}" "${prefix}$(printf '%q' "${inner}")"
