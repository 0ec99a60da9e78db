# SPDX-License-Identifier: Apache-2.0
# How recipe jobs are run. Choose with cmd_backend (or TUSS_CMD_BACKEND):
#   local  - utils/run_jobs.sh: jobs run on this machine, logs per job
#   slurm  - utils/slurm_jobs.sh: each job through srun; extra srun options in
#            conf/slurm.conf (e.g. --partition=gpu). Other schedulers: write a
#            runner with the same interface ([options] [JOB=1:N] LOG CMD...)
#            and point the variables below to it.
# All runners accept --num-threads N, --gpu N and --mem SIZE.
cmd_backend=${TUSS_CMD_BACKEND:-local}

case "${cmd_backend}" in
    local)
        train_cmd="run_jobs.sh"
        cuda_cmd="run_jobs.sh"
        decode_cmd="run_jobs.sh"
        ;;
    slurm)
        train_cmd="slurm_jobs.sh --config conf/slurm.conf"
        cuda_cmd="slurm_jobs.sh --config conf/slurm.conf"
        decode_cmd="slurm_jobs.sh --config conf/slurm.conf"
        ;;
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2
        return 1 2>/dev/null || exit 1
        ;;
esac
