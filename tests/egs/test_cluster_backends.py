# SPDX-License-Identifier: Apache-2.0
"""cmd.sh's cluster backends with ESPnet's conf formats, each against a fake
scheduler command on PATH that records its arguments and runs the job here:
slurm (srun, conf/slurm.conf as ESPnet writes it), sge (qsub -sync y,
conf/queue.conf) and ssh (hosts in conf/ssh.conf)."""

import os
import subprocess
import textwrap

import pytest

from conftest import ROOT

UTILS = ROOT / "utils"

# the fakes append their arguments (one line per call) to $CALLS and run the job
FAKES = {
    "srun": """
        printf '%s\\n' "$*" >> "$CALLS"
        while [ $# -gt 0 ] && [ "$1" != bash ]; do shift; done
        exec "$@"
    """,
    "qsub": """
        printf '%s\\n' "$*" >> "$CALLS"
        out=""; while [ $# -gt 1 ]; do [ "$1" = -o ] && out=$2; shift; done
        bash "$1" > "$out" 2>&1
    """,
    "ssh": """
        printf '%s\\n' "$*" >> "$CALLS"
        host=$3; shift 3
        bash -c "$*"
    """,
}

SLURM_CONF = """\
# ESPnet's format
command sbatch --export=PATH --ntasks-per-node=1
option time=* --time $0
option mem=* --mem-per-cpu $0
option mem=0          # nothing
option num_threads=* --cpus-per-task $0
option num_threads=1 --cpus-per-task 1
default gpu=0
option gpu=0 -p cpu
option gpu=* -p gpu --gres=gpu:$0 -c $0
"""
QUEUE_CONF = """\
command qsub -v PATH -cwd -S /bin/bash -j y -l arch=*64*
option mem=* -l mem_free=$0,ram_free=$0
option mem=0
option num_threads=* -pe smp $0
option num_threads=1
default gpu=0
option gpu=0
option gpu=* -l gpu=$0 -q g.q
"""


@pytest.fixture
def cluster(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + textwrap.dedent(body))
        (bin_dir / name).chmod(0o755)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "slurm.conf").write_text(SLURM_CONF)
    (tmp_path / "conf" / "queue.conf").write_text(QUEUE_CONF)
    (tmp_path / "conf" / "ssh.conf").write_text("node1\nnode2  # second host\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{UTILS}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls")}
    return tmp_path, env


def _cmd_sh(work, env, backend, runner_args):
    """Source cmd.sh with the backend and run ${decode_cmd} with runner_args."""
    script = f". {ROOT / 'egs/TEMPLATE/tuss1/cmd.sh'} && ${{decode_cmd}} {runner_args}"
    return subprocess.run(["bash", "-c", script], cwd=work, env={**env, "TUSS_CMD_BACKEND": backend},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_slurm_with_espnet_conf(cluster):
    work, env = cluster
    r = _cmd_sh(work, env, "slurm", "--gpu 2 --mem 4G JOB=1:2 log/j.JOB.log echo job JOB")
    assert r.returncode == 0, r.stderr
    calls = sorted((work / "calls").read_text().splitlines())
    assert len(calls) == 2
    for call in calls:
        # sbatch's options given to srun, then the rules of --gpu 2, --mem 4G, num_threads 1
        assert call.startswith("--export=PATH --ntasks-per-node=1 ")
        assert "-p gpu --gres=gpu:2 -c 2" in call and "--mem-per-cpu 4G" in call and "--cpus-per-task 1" in call
    assert "job 2" in (work / "log" / "j.2.log").read_text()
    r = _cmd_sh(work, env, "slurm", "log/one.log echo single")  # gpu=0 by default
    assert r.returncode == 0, r.stderr
    assert "-p cpu" in (work / "calls").read_text().splitlines()[-1]


def test_sge_with_espnet_conf(cluster):
    work, env = cluster
    for backend in ("sge", "queue"):
        r = _cmd_sh(work, env, backend, "--num-threads 4 JOB=1:2 log/q.JOB.log 'echo out JOB; exit 0'")
        assert r.returncode == 0, r.stderr
    call = (work / "calls").read_text().splitlines()[0]
    assert call.startswith("-v PATH -cwd -S /bin/bash -j y -l arch=*64* ")
    assert "-pe smp 4" in call and "-sync y" in call
    assert "out 1" in (work / "log" / "q.1.log").read_text()
    assert not list((work / "log").glob("*.qsub.*"))  # script and output file removed
    r = _cmd_sh(work, env, "sge", "log/f.log 'echo bad >&2; exit 3'")
    assert r.returncode == 1 and "| bad" in r.stderr  # the job's status and last log line


def test_ssh_round_robin(cluster):
    work, env = cluster
    r = _cmd_sh(work, env, "ssh", "JOB=1:3 log/s.JOB.log 'echo on JOB; pwd'")
    assert r.returncode == 0, r.stderr
    hosts = [c.split()[2] for c in (work / "calls").read_text().splitlines()]
    assert sorted(hosts) == ["node1", "node1", "node2"]
    assert str(work) in (work / "log" / "s.3.log").read_text()


def test_unknown_option_value_is_refused_naming_the_config(cluster):
    work, env = cluster
    (work / "conf" / "slurm.conf").write_text("command sbatch\noption gpu=0 -p cpu\n")
    r = _cmd_sh(work, env, "slurm", "--gpu 1 log/x.log true")
    assert r.returncode == 1
    assert "conf/slurm.conf: no rule 'option gpu=1'" in (work / "log" / "x.log").read_text()
