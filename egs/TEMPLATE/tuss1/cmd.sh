# SPDX-License-Identifier: Apache-2.0
# How recipe jobs are run. Choose with cmd_backend (or TUSS_CMD_BACKEND):
#   local  - utils/run_jobs.sh: jobs run on this machine, logs per job
#   slurm  - each job through srun; conf/slurm.conf in ESPnet's format ("command
#            sbatch ...", "option gpu=* ...": utils/cluster_jobs.sh) or one extra
#            srun argument per line (utils/slurm_jobs.sh)
#   sge    - (also "queue") Grid Engine, qsub -sync y; conf/queue.conf in ESPnet's format
#   ssh    - round robin over the hosts listed in conf/ssh.conf (shared file system)
# Other schedulers: write a runner with the same interface ([options] [JOB=1:N] LOG CMD...)
# and point the variables below to it. All runners accept --num-threads N, --gpu N and --mem SIZE.
cmd_backend=${TUSS_CMD_BACKEND:-local}

case "${cmd_backend}" in
    local)
        train_cmd="run_jobs.sh"
        ;;
    slurm)
        train_cmd="slurm_jobs.sh --config conf/slurm.conf"
        ;;
    sge|queue)
        train_cmd="cluster_jobs.sh --backend sge"
        [ -f conf/queue.conf ] && train_cmd+=" --config conf/queue.conf"
        ;;
    ssh)
        train_cmd="cluster_jobs.sh --backend ssh --config conf/ssh.conf"
        ;;
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local, slurm, sge/queue or ssh)" >&2
        return 1 2>/dev/null || exit 1
        ;;
esac
cuda_cmd=${train_cmd}
decode_cmd=${train_cmd}
