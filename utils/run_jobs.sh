#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run a command, or an array of numbered jobs, on this machine with logs.
#
#   run_jobs.sh [options] LOG COMMAND [ARGS...]
#   run_jobs.sh [options] JOB=1:N LOG.JOB.log COMMAND ... JOB ...
#
# With JOB=a:b every job j in a..b runs with the word JOB replaced by j in the
# log name and in the command: only JOB as a whole word (not next to a letter,
# digit or _), so log.JOB.log becomes log.3.log and /data/JOBS/dump stays. Each log starts with the command and ends with
# its exit code and run time. The exit status is 0 when every job succeeded;
# otherwise the first failed log is named and its last lines are printed
# (TUSS_FAILED_LOG_LINES, default 5).
#
# Options (accepted for compatibility with cluster runners; --gpu and --mem
# have no effect locally):
#   --max-jobs-run N   at most N jobs at a time (default: number of CPUs)
#   --num-threads N    OMP_NUM_THREADS / MKL_NUM_THREADS of each job (default 1)
#   --gpu N            GPUs per job
#   --mem SIZE         memory per job
#
# A single argument after LOG is run as a shell command line (pipes allowed);
# several arguments are run as one command with their quoting kept.
set -uo pipefail

max_jobs=$(nproc 2>/dev/null || echo 2)
num_threads=1
while [ $# -gt 0 ]; do
    case "$1" in
        --max-jobs-run|--max_jobs_run) max_jobs=$2; shift 2 ;;
        --num-threads|--num_threads) num_threads=$2; shift 2 ;;
        --gpu|--mem|--time|--config) shift 2 ;;
        --*) echo "$0: unknown option $1" >&2; exit 1 ;;
        *) break ;;
    esac
done

first=1; last=1; array=false
if [[ "${1:-}" =~ ^JOB=([0-9]+):([0-9]+)$ ]]; then
    first=${BASH_REMATCH[1]}; last=${BASH_REMATCH[2]}; array=true
    shift
elif [[ "${1:-}" =~ ^[A-Za-z]+= ]]; then
    echo "$0: only JOB=a:b job arrays are supported, got $1" >&2
    exit 1
fi
if [ $# -lt 2 ]; then
    echo "usage: $0 [options] [JOB=1:N] LOG COMMAND [ARGS...]" >&2
    exit 1
fi
log_pattern=$1; shift
if [ $# -eq 1 ]; then
    cmd_pattern=$1
else
    cmd_pattern=$(printf '%q ' "$@")
fi
subst_job() {  # subst_job TEXT J: TEXT with every whole-word JOB replaced by J
    local s=$1 out="" re='^(.*[^A-Za-z0-9_]|)JOB([^A-Za-z0-9_].*|)$'
    while [[ "${s}" =~ ${re} ]]; do  # the last whole-word JOB of what is left
        out="$2${BASH_REMATCH[2]}${out}"
        s=${BASH_REMATCH[1]}
    done
    printf '%s' "${s}${out}"
}
if ${array} && [ "$(subst_job "${log_pattern}" 1)" = "${log_pattern}" ] && [ "${first}" != "${last}" ]; then
    echo "$0: the log name must contain JOB for a job array (got ${log_pattern})" >&2
    exit 1
fi

run_one() {
    local j=$1 log cmd start rc
    log=$(subst_job "${log_pattern}" "$j")
    cmd=$(subst_job "${cmd_pattern}" "$j")
    mkdir -p "$(dirname "${log}")"
    start=$(date +%s)
    {
        echo "# ${cmd}"
        echo "# Started at $(date)"
    } > "${log}"
    OMP_NUM_THREADS=${num_threads} MKL_NUM_THREADS=${num_threads} bash -c "${cmd}" >> "${log}" 2>&1
    rc=$?
    {
        echo "# Accounting: time=$(( $(date +%s) - start )) threads=${num_threads}"
        echo "# Ended (code ${rc}) at $(date)"
    } >> "${log}"
    return ${rc}
}

declare -A pids=()
failed=()
reap() {
    local j
    for j in "${!pids[@]}"; do
        if ! kill -0 "${pids[$j]}" 2>/dev/null; then
            wait "${pids[$j]}" || failed+=("$j")
            unset "pids[$j]"
        fi
    done
}
for ((j = first; j <= last; j++)); do
    while [ "${#pids[@]}" -ge "${max_jobs}" ]; do
        sleep 0.2
        reap
    done
    run_one "$j" &
    pids[$j]=$!
done
for j in "${!pids[@]}"; do
    wait "${pids[$j]}" || failed+=("$j")
done

if [ "${#failed[@]}" -gt 0 ]; then
    n=$(( last - first + 1 ))
    f=$(printf '%s\n' "${failed[@]}" | sort -n | head -n 1)
    echo "$0: ${#failed[@]} / ${n} job(s) failed; see $(subst_job "${log_pattern}" "$f")" >&2
    # its last lines (a Python error ends with the line that names it), not the
    # accounting lines this script adds
    grep -v -e '^# Accounting: ' -e '^# Ended (code ' -e '^[[:space:]]*$' "$(subst_job "${log_pattern}" "$f")" 2>/dev/null \
        | tail -n "${TUSS_FAILED_LOG_LINES:-5}" | sed 's/^/    | /' >&2
    exit 1
fi
exit 0
