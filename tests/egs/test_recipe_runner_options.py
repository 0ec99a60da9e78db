# SPDX-License-Identifier: Apache-2.0
"""Class 7 of the third reliability probe: the recipe's job runner and option
parser take only what they are meant to."""

import os
import subprocess

import pytest

from conftest import ROOT

UTILS = ROOT / "utils"


def bash(script: str, *args):
    return subprocess.run(
        ["bash", "-c", script, "test", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{UTILS}:{os.environ['PATH']}"},
    )


def test_job_is_replaced_only_as_a_whole_word(tmp_path):
    r = bash(
        f"run_jobs.sh JOB=1:2 {tmp_path}/log.JOB.log 'echo /data/JOBS/dump x.JOB JOB_ID JOBJOB > {tmp_path}/out.JOB'"
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.1").read_text().split() == ["/data/JOBS/dump", "x.1", "JOB_ID", "JOBJOB"]
    assert (tmp_path / "out.2").read_text().split()[1] == "x.2"
    r = bash(f"run_jobs.sh JOB=1:1 {tmp_path}/JOBS/log.JOB.log true")
    assert r.returncode == 0 and (tmp_path / "JOBS" / "log.1.log").is_file()


PARSE = f"""
stage=1; stop_stage=100; nj=4; fs=16k; dumpdir=dump; expdir=exp; export exported_opt=x
. {UTILS}/parse_options.sh
echo "stage=$stage nj=$nj fs=$fs dumpdir=$dumpdir expdir=$expdir"
"""


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--stage", "abc"], "--stage"),
        (["--stage", "1.5"], "--stage"),
        (["--stop_stage", ""], "--stop_stage"),
        (["--nj", "2x"], "--nj"),
        (["--PATH", "/x"], "--PATH"),
        (["--HOME", "/x"], "--HOME"),
        (["--BASH_ENV", "/x"], "--BASH_ENV"),
        (["--exported_opt", "y"], "--exported_opt"),
    ],
)
def test_recipe_options_are_checked(args, msg):
    r = bash(PARSE, *args)
    assert r.returncode != 0 and msg in r.stderr, (r.stdout, r.stderr)
    assert "stage=" not in r.stdout


def test_recipe_options_still_set(tmp_path):
    r = bash(PARSE, "--stage", "3", "--nj", "2", "--fs", "44.1k", "--dumpdir", "/data/JOBS/dump", "--expdir", "/x/exp")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stage=3 nj=2 fs=44.1k dumpdir=/data/JOBS/dump expdir=/x/exp"


def test_run_sh_with_a_bad_stage_fails_before_any_stage():
    recipe = ROOT / "egs" / "mini_tuss" / "tuss1"
    r = subprocess.run(["./run.sh", "--stage", "abc"], cwd=recipe, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "Successfully finished" not in r.stdout + r.stderr
    assert "--stage" in r.stderr


def test_split_scp_replaces_job_as_a_word_and_never_writes_its_input(tmp_path):
    import sys

    src = tmp_path / "JOBS" / "wav.scp"
    src.parent.mkdir()
    src.write_text("a x\nb y\n")
    split = [sys.executable, str(UTILS / "split_scp.py")]
    r = subprocess.run(split + ["--num", "2", str(src), str(tmp_path / "JOBS" / "keys.JOB.scp")], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "JOBS" / "keys.2.scp").read_text() == "b y\n"
    r = subprocess.run(split + [str(src), str(src), str(tmp_path / "other.scp")], capture_output=True, text=True)
    assert r.returncode == 1 and "is the input" in r.stderr
    assert src.read_text() == "a x\nb y\n"
