# SPDX-License-Identifier: Apache-2.0
"""tuss.sh stage 4: how training starts with --ngpu, --num_nodes and --dist_launcher.

The job runner is a stand-in that records what it is asked to run, so these
tests check the commands (one process; ESPnet's launcher for several GPUs;
srun/mpirun for several nodes) and how ESPnet reads the distributed options
of a node process under Slurm. Real two-rank DDP training is
``tests/tasks/test_ddp.py``.
"""

import os
import shlex
import shutil
import subprocess

import pytest
from espnet2.train.distributed_utils import DistributedOption, resolve_distributed_mode
from espnet2.utils.build_dataclass import build_dataclass

from tuss_plugin.tasks.tuss import TUSSTask

from conftest import ROOT, TESTS

RECIPE = ROOT / "egs" / "mini_tuss" / "tuss1"
TRAIN = ["python3", "-m", "tuss_plugin.bin.tuss_train"]

# records its arguments (one per line) and writes a log with one epoch line
STUB_RUNNER = r"""#!/usr/bin/env bash
printf '%s\n' "$@" > "$(dirname "$0")/runner.args"
while [[ "$1" == --* ]]; do shift 2; done
mkdir -p "$(dirname "$1")"
echo "x 1epoch results: [train] iter_time=0.1, loss=-1.5, [valid] time=1, loss=-2.5" > "$1"
"""


@pytest.fixture
def recipe(tmp_path):
    """A recipe dir for stage 4 whose job runners (run_jobs.sh, slurm_jobs.sh) are stand-ins."""
    for name in ("tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils"):
        os.symlink((RECIPE / name).resolve(), tmp_path / name)
    (tmp_path / "bin").mkdir()
    for runner in ("run_jobs.sh", "slurm_jobs.sh"):
        (tmp_path / "bin" / runner).write_text(STUB_RUNNER)
        (tmp_path / "bin" / runner).chmod(0o755)
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "path.sh").write_text('export PATH="$(pwd)/bin:${PATH}"\n')
    (tmp_path / "conf").mkdir()
    shutil.copy(TESTS / "conf" / "tuss_tiny.yaml", tmp_path / "conf" / "train.yaml")
    return tmp_path


def _stage4(recipe, *opts, backend="local"):
    cmd = ["./tuss.sh", "--stage", "4", "--stop_stage", "4", "--train_set", "train", "--valid_set", "dev"]
    cmd += ["--test_sets", "dev", "--train_config", "conf/train.yaml", "--train_num_threads", "3", *opts]
    env = dict(os.environ, TUSS_CMD_BACKEND=backend)
    return subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=120, env=env)


def _runner_args(recipe):
    return (recipe / "bin" / "runner.args").read_text().splitlines()


def _train_args(args):
    """The tuss_train arguments inside a runner's command line."""
    i = next(i for i in range(len(args)) if args[i : i + 3] == TRAIN)
    return args[i + 3 :]


def test_one_gpu_is_one_process(recipe):
    r = _stage4(recipe, "--ngpu", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    args = _runner_args(recipe)
    assert args[:5] == ["--gpu", "1", "--num-threads", "3", "exp/enh_train/train.log"]
    assert "--multiprocessing_distributed" not in args and "espnet2.bin.launch" not in r.stdout
    assert "(1 process;" in r.stdout and "epoch 1: train loss -1.5, valid loss -2.5" in r.stdout


def test_several_gpus_start_through_espnets_launcher(recipe):
    exp = recipe / "exp" / "enh_train"
    exp.mkdir(parents=True)
    (exp / "train.log").write_text("x 7epoch results: [train] time=1, loss=9, [valid] time=1, loss=9\n")
    r = _stage4(recipe, "--ngpu", "4")
    assert r.returncode == 0, r.stdout + r.stderr
    args = _runner_args(recipe)
    # espnet2.bin.launch ran the runner of cmd.sh with its job options, one process per GPU
    assert args[:5] == ["--num-threads", "3", "--gpu", "4", "exp/enh_train/train.log"]
    train = _train_args(args)
    assert train[-4:] == ["--ngpu", "4", "--multiprocessing_distributed", "True"]
    assert "(DDP, 4 processes (espnet2.bin.launch);" in r.stdout
    # the earlier log is kept, and its epochs are not shown as this run's
    assert "loss=9" in (exp / "train.1.log").read_text()
    assert "epoch 7" not in r.stdout and "epoch 1: train loss -1.5" in r.stdout
    resume = (exp / "run.sh").read_text()
    assert "tuss_train" in resume and "--ngpu 4" in resume and "--multiprocessing_distributed true" in resume


@pytest.mark.parametrize("ngpu", ["0", "2"])
def test_several_nodes_under_slurm(recipe, ngpu, monkeypatch):
    (recipe / "conf" / "slurm.conf").write_text("# extra srun options\n--partition=gpu\n")
    r = _stage4(recipe, "--ngpu", ngpu, "--num_nodes", "2", backend="slurm")  # slurm: the default launcher
    assert r.returncode == 0, r.stdout + r.stderr
    args = _runner_args(recipe)
    assert args[:3] == ["--num-threads", "3", "exp/enh_train/train.log"]
    srun = args[3 : args.index("python3")]
    assert srun[:4] == ["srun", "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=3"]
    assert "--partition=gpu" in srun and srun[-1] == "--export=ALL"
    assert ("--gres=gpu:2" in srun) == (ngpu == "2")
    train = _train_args(args)
    init = train[train.index("--dist_init_method") + 1]
    exp = (recipe / "exp" / "enh_train").resolve()
    assert init.startswith(f"file://{exp}/.dist_init_") and not os.path.exists(init[len("file://") :])
    assert ("--dist_backend" in train) == (ngpu == "0")
    resume = (recipe / "exp" / "enh_train" / "run.sh").read_text()
    assert "srun --nodes=2" in resume and "--dist_launcher slurm" in resume and ".dist_init_$(date" in resume

    # how ESPnet reads these options in the process srun starts on the second node
    monkeypatch.chdir(recipe)
    slurm = dict(SLURM_PROCID="1", SLURM_NTASKS="2", SLURM_NODEID="1", SLURM_LOCALID="0")
    for k, v in dict(slurm, SLURM_STEP_NUM_NODES="2", SLURM_STEP_NODELIST="node[1-2]").items():
        monkeypatch.setenv(k, v)
    opts = TUSSTask.get_parser().parse_args(train)
    assert opts.unused_parameters is True
    resolve_distributed_mode(opts)
    assert opts.distributed
    assert opts.multiprocessing_distributed == (ngpu == "2")  # one process per GPU, spawned on the node
    if ngpu == "0":  # the node's process is the rank
        dist = build_dataclass(DistributedOption, opts)
        dist.init_options()
        assert (dist.dist_rank, dist.dist_world_size, dist.dist_backend) == (1, 2, "gloo")
        assert dist.dist_init_method == init


def test_several_nodes_with_mpirun(recipe):
    r = _stage4(recipe, "--ngpu", "1", "--num_nodes", "3", "--dist_launcher", "mpi")
    assert r.returncode == 0, r.stdout + r.stderr
    args = _runner_args(recipe)
    assert args[2:8] == ["exp/enh_train/train.log", "mpirun", "-np", "3"] + TRAIN[:2]
    train = _train_args(args)
    assert shlex.join(train).count("--dist_launcher mpi") == 1 and "--dist_backend" not in train


@pytest.mark.parametrize(
    "opts, error",
    [
        (["--num_nodes", "2"], "--num_nodes 2: choose how the nodes start with --dist_launcher slurm or mpi"),
        (["--num_nodes", "2", "--dist_launcher", "ssh"], "--dist_launcher: unknown launcher 'ssh' (slurm or mpi)"),
        (["--num_nodes", "0"], "--num_nodes must be at least 1"),
        (["--ngpu", "two"], "option --ngpu takes a whole number, got 'two'"),  # utils/parse_options.sh
    ],
)
def test_bad_launch_options(recipe, opts, error):
    r = _stage4(recipe, *opts)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [f"./tuss.sh: {error}"]
    assert not (recipe / "bin" / "runner.args").exists()
