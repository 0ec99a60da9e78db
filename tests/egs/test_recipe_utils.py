# SPDX-License-Identifier: Apache-2.0
"""utils/: options parser, job runners, list splitting and validation."""

import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from datagen import make_data_dir

UTILS = ROOT / "utils"


def bash(script: str, *args, cwd=None):
    return subprocess.run(
        ["bash", "-c", script, "test", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PATH": f"{UTILS}:{os.environ['PATH']}"},
    )


PARSE = f"""
stage=1; stop_stage=100; fs=16k; use_gpu=false; inference_prompts=""
help_message="usage: test"
. {UTILS}/parse_options.sh
echo "stage=$stage stop_stage=$stop_stage fs=$fs use_gpu=$use_gpu prompts=[$inference_prompts] rest=[$*]"
"""


def test_parse_options_sets_variables():
    r = bash(
        PARSE,
        "--stage",
        "3",
        "--stop-stage",
        "5",
        "--fs=44.1k",
        "--use_gpu",
        "true",
        "--inference_prompts",
        "speech sfxbg",
        "extra",
        "--not-parsed",
    )
    assert r.returncode == 0, r.stderr
    assert (
        r.stdout.strip()
        == "stage=3 stop_stage=5 fs=44.1k use_gpu=true prompts=[speech sfxbg] rest=[extra --not-parsed]"
    )


@pytest.mark.parametrize(
    "args,msg",
    [
        (["--nonexistent", "1"], "invalid option --nonexistent"),
        (["--use_gpu", "yes"], "takes true or false"),
        (["--stage"], "needs a value"),
    ],
)
def test_parse_options_errors(args, msg):
    r = bash(PARSE, *args)
    assert r.returncode != 0 and msg in r.stderr


def test_parse_options_help_and_config(tmp_path):
    assert bash(PARSE, "--help").stdout.strip() == "usage: test"
    (tmp_path / "c.sh").write_text("stage=7\n")
    assert "stage=7 " in bash(PARSE, "--config", str(tmp_path / "c.sh")).stdout


def test_run_jobs_array_and_logs(tmp_path):
    r = bash(f"run_jobs.sh --max-jobs-run 2 JOB=1:3 {tmp_path}/log.JOB.log echo job JOB done")
    assert r.returncode == 0, r.stderr
    for j in (1, 2, 3):
        log = (tmp_path / f"log.{j}.log").read_text()
        assert f"job {j} done" in log and "# Ended (code 0)" in log and log.startswith("# ")


def test_run_jobs_shell_string_and_threads(tmp_path):
    r = bash(f"run_jobs.sh --num-threads 3 {tmp_path}/one.log 'echo $OMP_NUM_THREADS | tr 3 x'")
    assert r.returncode == 0
    assert "\nx\n" in (tmp_path / "one.log").read_text()


def test_run_jobs_reports_failures(tmp_path):
    r = bash(f"run_jobs.sh JOB=1:4 {tmp_path}/log.JOB.log 'test JOB -ne 3'")
    assert r.returncode == 1
    assert "1 / 4 job(s) failed" in r.stderr and "log.3.log" in r.stderr
    assert "# Ended (code 1)" in (tmp_path / "log.3.log").read_text()


def test_run_jobs_limits_parallelism(tmp_path):
    marker = tmp_path / "running"
    marker.mkdir()
    cmd = f"'mkdir {marker}/JOB; n=$(ls {marker} | wc -l); echo $n > {tmp_path}/n.JOB; sleep 0.3; rmdir {marker}/JOB'"
    r = bash(f"run_jobs.sh --max-jobs-run 2 JOB=1:6 {tmp_path}/l.JOB.log {cmd}")
    assert r.returncode == 0, r.stderr
    assert max(int((tmp_path / f"n.{j}").read_text()) for j in range(1, 7)) <= 2


def test_slurm_runner_with_stub_srun(tmp_path):
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "srun").write_text(
        '#!/usr/bin/env bash\necho "srun $*" >> "$(dirname "$0")/calls"\n'
        'while [[ "$1" == --* ]]; do shift; done\nexec "$@"\n'
    )
    (stub / "srun").chmod(0o755)
    r = bash(f"PATH={stub}:$PATH slurm_jobs.sh --gpu 1 --mem 2G JOB=1:2 {tmp_path}/s.JOB.log echo hi JOB")
    assert r.returncode == 0, r.stderr
    assert "hi 2" in (tmp_path / "s.2.log").read_text()
    calls = (stub / "calls").read_text()
    assert "--gres=gpu:1" in calls and "--mem=2G" in calls


def test_split_scp(tmp_path):
    src = tmp_path / "in.scp"
    src.write_text("".join(f"u{i} x\n" for i in range(7)))
    r = subprocess.run([sys.executable, UTILS / "split_scp.py", "--num", "3", src, tmp_path / "o.JOB.scp"])
    assert r.returncode == 0
    parts = [(tmp_path / f"o.{j}.scp").read_text().splitlines() for j in (1, 2, 3)]
    assert [len(p) for p in parts] == [3, 2, 2]
    assert sum(parts, []) == src.read_text().splitlines()
    bad = subprocess.run(
        [sys.executable, UTILS / "split_scp.py", "--num", "9", src, tmp_path / "o.JOB.scp"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "cannot split 7 line(s) into 9 parts" in bad.stderr


def _validate(d, *extra):
    return subprocess.run(
        [sys.executable, UTILS / "validate_data_dir.py", *extra, str(d)], capture_output=True, text=True
    )


def test_validate_good_dir(tmp_path):
    d = make_data_dir(tmp_path / "d", [["speech", "sfxbg"], ["speech", "speech", "sfxbg"]])
    r = _validate(d, "--check-audio")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize(
    "breakage,msg",
    [
        (
            lambda d: (d / "utt2prompts").write_text("utt000 speech sfxbg\nutt001 speech sfx sfxbg\n"),
            "cannot be combined",
        ),
        (
            lambda d: (d / "utt2prompts").write_text("utt000 speech sfxbg\nutt001 speach speech sfxbg\n"),
            "unknown prompt",
        ),
        (lambda d: (d / "spk3.scp").unlink(), "spk"),
        (
            lambda d: (d / "wav.scp").write_text(
                (d / "wav.scp").read_text().splitlines()[1] + "\n" + (d / "wav.scp").read_text().splitlines()[0] + "\n"
            ),
            "not sorted",
        ),
        (lambda d: (d / "wavs" / "utt001_s2.wav").unlink(), "unreadable"),
        (lambda d: (d / "utt2prompts").unlink(), "missing"),
    ],
)
def test_validate_reports_problems(tmp_path, breakage, msg):
    d = make_data_dir(tmp_path / "d", [["speech", "sfxbg"], ["speech", "speech", "sfxbg"]])
    (d / "spk.scp").unlink()
    breakage(d)
    r = _validate(d, "--check-audio")
    assert r.returncode == 1 and msg in r.stderr, r.stderr


def test_validate_accepts_pipe_and_archive_entries_for_stage2(tmp_path):
    """In a data dir (stage 2's input) pipe commands and archive offsets are
    accepted and counted, never run or read (--check-audio too); in a dump dir
    (--formatted) they are problems that point to stage 2."""
    import kaldiio
    import soundfile as sf

    d = make_data_dir(tmp_path / "d", [["speech", "sfxbg"], ["speech", "sfxbg"]], seconds=0.05)
    (d / "spk.scp").unlink()
    marker = tmp_path / "ran"
    wav = (d / "wav.scp").read_text().splitlines()
    pipe = f"touch {marker}; cat {wav[0].split(maxsplit=1)[1]} |"
    (d / "wav.scp").write_text(f"utt000 {pipe}\n{wav[1]}\n")
    x, fs = sf.read(_first_ref(d, "utt001"), dtype="int16")
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'r.ark'},{tmp_path / 'r.scp'}", write_function="soundfile") as w:
        w("utt001", (fs, x))
    offset = (tmp_path / "r.scp").read_text().split()[1]
    (d / "spk1.scp").write_text(f"{(d / 'spk1.scp').read_text().splitlines()[0]}\nutt001 {offset}\n")
    r = _validate(d, "--check-audio")
    assert r.returncode == 0 and r.stderr == "" and not marker.exists(), r.stderr
    assert r.stdout.splitlines() == [
        f"validate_data_dir.py: {d}: 1 pipe command(s) and 1 archive offset(s) in spk1.scp, wav.scp: "
        "accepted; only recipe stage 2 (format_data) runs or reads them",
        f"validate_data_dir.py: {d}: OK (2 utterances)",
    ]
    r = _validate(d, "--formatted")
    err = r.stderr.splitlines()
    assert r.returncode == 1 and len(err) == 3 and err[-1].endswith("2 problem(s)"), r.stderr
    assert err[0].startswith(f"validate_data_dir.py: {d / 'wav.scp'}: utt000: {pipe!r} is a pipe command; ")
    assert err[1].startswith(f"validate_data_dir.py: {d / 'spk1.scp'}: utt001: {offset!r} is an archive offset")
    assert all("python -m tuss_plugin.bin.format_data" in e for e in err[:2]) and not marker.exists()
    # one archive entry listed twice for an utterance is found like one file
    (d / "spk2.scp").write_text(f"{(d / 'spk2.scp').read_text().splitlines()[0]}\nutt001 {offset}\n")
    assert _validate_in_process(d) == [f"{d}: utt001: reference 2 {offset} is the same file as its reference 1"]


def _validate_in_process(d):
    """validate_data_dir.validate(d): the script loaded as a module (no interpreter start)."""
    spec = importlib.util.spec_from_file_location("_validate_data_dir", UTILS / "validate_data_dir.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.validate(d)


def _first_ref(d, utt):
    return next(l.split(maxsplit=1)[1] for l in (d / "spk1.scp").read_text().splitlines() if l.startswith(utt))


@pytest.mark.parametrize("where", ["mixture of another", "twice in one"])
def test_validate_same_file_twice(tmp_path, where):
    """A file that is one utterance's mixture and another's reference (dump names
    of x's reference and x_s1's mixture once collided so), or one listed twice
    for an utterance."""
    d = make_data_dir(tmp_path / "d", [["speech", "sfxbg"], ["speech", "sfxbg"]], seconds=0.05)
    ref = _first_ref(d, "utt000")
    name, utt = ("wav.scp", "utt001") if where == "mixture of another" else ("spk2.scp", "utt000")
    (d / name).write_text(
        "".join(f"{utt} {ref}\n" if l.startswith(utt) else f"{l}\n" for l in (d / name).read_text().splitlines())
    )
    (d / "spk.scp").unlink()
    problems = _validate_in_process(d)
    assert len(problems) == 1 and "same file" in problems[0] and ref in problems[0], problems


def test_validate_shared_file_of_two_channels(tmp_path):
    """Two utterances may share a (stereo) file when utt2channel picks different channels."""
    d = make_data_dir(tmp_path / "d", [["speech", "sfxbg"], ["speech", "sfxbg"]], seconds=0.05)
    for name in ("wav.scp", "spk1.scp", "spk2.scp"):
        first = (d / name).read_text().splitlines()[0].split(maxsplit=1)[1]
        (d / name).write_text(f"utt000 {first}\nutt001 {first}\n")
    (d / "spk.scp").unlink()
    (d / "utt2channel").write_text("utt000 0\nutt001 1\n")
    assert _validate_in_process(d) == []


def test_path_sh_installs_the_environment_on_a_fresh_clone(tmp_path):
    """A recipe's path.sh runs `make -C tools` when tools/venv is missing (the
    README's two commands work in either order); a custom TUSS_VENV is not built."""
    root = tmp_path / "clone"
    recipe = root / "egs" / "TEMPLATE" / "tuss1"
    recipe.mkdir(parents=True)
    (recipe / "path.sh").write_text((ROOT / "egs" / "TEMPLATE" / "tuss1" / "path.sh").read_text())
    (root / "tools").mkdir()
    # tools/Makefile of the clone: writes an environment whose activate script marks itself
    (root / "tools" / "Makefile").write_text(
        "all:\n\tmkdir -p venv/bin && echo 'export TUSS_TEST_ENV=$(CURDIR)/venv' > venv/bin/activate"
        " && echo built >> $(CURDIR)/make.log\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TUSS_VENV"}
    script = ". ./path.sh && echo env=${TUSS_TEST_ENV}"
    first = subprocess.run(["bash", "-c", script], cwd=recipe, capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert "not found; installing it: make -C" in first.stderr
    assert f"env={root / 'tools' / 'venv'}" in first.stdout
    again = subprocess.run(["bash", "-c", script], cwd=recipe, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "installing" not in again.stderr
    assert (root / "tools" / "make.log").read_text().count("built") == 1
    other = subprocess.run(["bash", "-c", script], cwd=recipe, capture_output=True, text=True,
                           env={**env, "TUSS_VENV": str(tmp_path / "elsewhere")})  # fmt: skip
    assert other.returncode != 0 and "not found; run: make" in other.stderr


def test_help_and_bad_options_come_before_the_environment(tmp_path):
    """tuss.sh parses its options before it sources path.sh (which installs the
    environment on a fresh clone): --help and a wrong option install nothing."""
    for name in ("tuss.sh", "cmd.sh"):
        os.symlink((ROOT / "egs" / "TEMPLATE" / "tuss1" / name).resolve(), tmp_path / name)
    os.symlink(ROOT / "utils", tmp_path / "utils")
    (tmp_path / "path.sh").write_text('echo sourced > "$(pwd)/path.sourced"\n')
    r = subprocess.run(["./tuss.sh", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and "--stage" in r.stdout + r.stderr
    r = subprocess.run(["./tuss.sh", "--no_such_option", "1"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0 and "invalid option --no_such_option" in r.stderr, r.stderr
    assert not (tmp_path / "path.sourced").exists()
