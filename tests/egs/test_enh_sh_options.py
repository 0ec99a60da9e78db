# SPDX-License-Identifier: Apache-2.0
"""enh.sh habits in tuss.sh: an ESPnet data dir is converted by stage 2 with
--spk_num / --use_noise_ref, enh.sh options we do not have are refused with
what to use instead, and a failing job prints its log's last lines."""

import os
import subprocess

import numpy as np
import soundfile as sf

from conftest import ROOT

UTILS = ROOT / "utils"


def _recipe(tmp_path):
    for name in ("tuss.sh", "path.sh", "cmd.sh", "db.sh", "utils"):
        os.symlink((ROOT / "egs" / "mini_tuss" / "tuss1" / name).resolve(), tmp_path / name)


def _tuss_sh(work, *args):
    cmd = ["./tuss.sh", "--train_set", "tr", "--valid_set", "tr", "--test_sets", "tr", "--fs", "8k", "--nj", "1"]
    cmd += ["--train_config", str(ROOT / "egs/mini_tuss/tuss1/conf/tuning/train_tuss_debug.yaml"), *args]
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)


def _espnet_dir(d, fs=8000):
    (d / "wav").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = {n: [] for n in ("wav.scp", "spk1.scp", "spk2.scp", "noise1.scp")}
    for utt in ("a_mix", "b_mix"):
        srcs = [(0.1 * rng.standard_normal(fs // 4)).astype(np.float32) for _ in range(3)]
        for name, x in zip(rows, [sum(srcs)] + srcs):
            path = d / "wav" / f"{utt}_{name.split('.')[0]}.wav"
            sf.write(path, x, fs, subtype="FLOAT")
            rows[name].append(f"{utt} {path}")
    for name, lines in rows.items():
        (d / name).write_text("\n".join(lines) + "\n")


def test_stage2_converts_an_espnet_data_dir(tmp_path):
    _recipe(tmp_path)
    _espnet_dir(tmp_path / "data" / "tr")
    r = _tuss_sh(tmp_path, "--stage", "2", "--stop_stage", "2", "--spk_num", "2", "--use_noise_ref", "true")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "prompts speech speech sfxbg" in r.stdout
    dumped = (tmp_path / "dump" / "raw" / "tr" / "utt2prompts").read_text().splitlines()
    assert dumped == ["a_mix speech speech sfxbg", "b_mix speech speech sfxbg"]


def test_enh_sh_options_without_counterpart_name_ours(tmp_path):
    _recipe(tmp_path)
    for opt, hint in (("--enh_tag", "use --tag"), ("--skip_upload", "use --skip_upload_hf true")):
        r = _tuss_sh(tmp_path, opt, "x")
        assert r.returncode == 1
        assert f"option {opt} is not supported here: {hint}" in r.stderr, r.stderr
    r = _tuss_sh(tmp_path, "--no_such_option", "x")
    assert r.returncode == 1 and "invalid option --no_such_option" in r.stderr


def test_failed_job_prints_the_logs_last_lines(tmp_path):
    cmd = "echo working; echo 'ValueError: data/x/wav.scp:3: bad line' >&2; exit 1"
    r = subprocess.run([str(UTILS / "run_jobs.sh"), str(tmp_path / "job.log"), cmd], capture_output=True, text=True)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert "job(s) failed; see" in lines[0]
    assert lines[-1] == "    | ValueError: data/x/wav.scp:3: bad line"


def test_enh_sh_default_scoring_protocol_is_accepted(tmp_path):
    """enh.sh's default --scoring_protocol names SAR and SIR: stage 6 scores them (score --bss_eval)."""
    _recipe(tmp_path)
    r = _tuss_sh(tmp_path, "--stage", "10", "--stop_stage", "10", "--scoring_protocol", "STOI SDR SAR SIR SI_SNR")
    assert r.returncode == 0, r.stderr
    r = _tuss_sh(tmp_path, "--stage", "10", "--stop_stage", "10", "--scoring_protocol", "DNSMOS")
    assert r.returncode == 1 and "'DNSMOS' is not scored here" in r.stderr
