# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 6 (score) as ESPnet reports enhancement: STOI, ESTOI and PESQ
(wide-band, narrow-band) for outputs of prompt speech, NaN elsewhere; ESPnet's
``result_<metric>.txt`` files; the unprocessed mixture scored with
``--score_obs``; parallel tables joined with ``--merge``."""

import math
import os
import subprocess
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.bin import score, show_results
from tuss_plugin.fileio.kaldi_io import read_dict
from tuss_plugin.scoring import speech_metrics, tables

from conftest import ROOT
from datagen import make_data_dir

PROMPTS = [["speech", "sfxbg"], ["speech", "speech", "sfxbg"]]
SPEECH = ["stoi", "estoi", "pesq_wb", "pesq_nb"]
RESULT_METRICS = ["si_snr", "si_snri", "snr", "sdr", "si_sdr"] + SPEECH


def write_outputs(data, inf, noise: float, seed: int = 0):
    """Outputs of every utterance of ``data`` as stage 5 lists them: each reference plus
    white noise ``noise`` times its standard deviation (0: the reference itself)."""
    rng = np.random.default_rng(seed)
    (inf / "wavs").mkdir(parents=True)
    lines = defaultdict(list)
    for utt, refs in read_dict(data / "spk.scp").items():
        for k, r in enumerate(refs, 1):
            x, fs = sf.read(r)
            p = inf / "wavs" / f"{utt}_{k}.wav"
            sf.write(p, x + noise * np.std(x) * rng.standard_normal(len(x)), fs, subtype="FLOAT")
            lines[k].append(f"{utt} {p}\n")
    for k, ls in lines.items():
        (inf / f"spk{k}.scp").write_text("".join(ls))
    (inf / "utt2prompts").write_text((data / "utt2prompts").read_text())
    return inf


def table(path):
    """Rows of a scores table as dicts, metrics as floats."""
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, line.split("\t"))) for line in lines[1:]]
    for r in rows:
        for c in head[4:]:
            r[c] = float(r[c])
    return head, rows


def utterance_mean(rows, metric):
    """The number of ESPnet's result file, computed here: mean over utterances of the
    per-utterance mean over outputs, NaN left out."""
    per_utt = defaultdict(list)
    for r in rows:
        if math.isfinite(r[metric]):
            per_utt[r["utt"]].append(r[metric])
    return float(np.mean([np.mean(v) for v in per_utt.values()])) if per_utt else float("nan")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two mixtures at 16 kHz, 1 s (long enough for STOI's 30 frames and PESQ's 1/4 s)."""
    return make_data_dir(tmp_path_factory.mktemp("score_metrics") / "data", PROMPTS, fs=16000, seconds=1.0)


def _score(data, inf, out, *extra):
    args = ["--ref_dir", str(data)] + (["--inf_dir", str(inf)] if inf else []) + ["--output", str(out), *extra]
    return score.main(args)


def test_speech_metrics_order_clean_above_noisy(data, tmp_path):
    scored = {}
    for name, noise in (("exact", 0.0), ("clean", 0.05), ("noisy", 1.0)):
        inf = write_outputs(data, tmp_path / name, noise)
        assert _score(data, inf, inf / "scoring" / "scores.tsv") == 0
        head, rows = table(inf / "scoring" / "scores.tsv")
        assert head == tables.COLUMNS and head[-4:] == SPEECH
        scored[name] = rows
    exact, clean, noisy = scored["exact"], scored["clean"], scored["noisy"]
    for e, c, n in zip(exact, clean, noisy):
        assert e["prompt"] == c["prompt"] == n["prompt"]
        if e["prompt"] != "speech":  # not speech: empty cells
            assert all(math.isnan(r[m]) for r in (e, c, n) for m in SPEECH)
            continue
        assert e["stoi"] == pytest.approx(100, abs=1e-3) and e["estoi"] == pytest.approx(100, abs=1e-3)
        assert e["pesq_wb"] > 4.5 and e["pesq_nb"] > 4.4  # PESQ's ceiling for identical signals
        for m in SPEECH:
            assert e[m] >= c[m] > n[m], (m, e[m], c[m], n[m])
        assert 0 < n["stoi"] < 100 and 1 <= n["pesq_wb"] < 4.65 and 1 <= n["pesq_nb"] < 4.65


def test_result_files_hold_the_utterance_mean(data, tmp_path):
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    out = inf / "scoring" / "scores.tsv"
    assert _score(data, inf, out) == 0
    _, rows = table(out)
    for m in RESULT_METRICS:
        text = (out.parent / f"result_{m}.txt").read_text()
        assert text == f"{utterance_mean(rows, m):.2f}\n", m
    # the speech means leave the NaN cells of sfxbg out: utt001 weighs as much as utt000
    speech = [r["stoi"] for r in rows if r["prompt"] == "speech"]
    want = (speech[0] + (speech[1] + speech[2]) / 2) / 2
    assert float((out.parent / "result_stoi.txt").read_text()) == pytest.approx(want, abs=0.006)
    # RESULTS.md: a speech-metric row with the same numbers
    exp = tmp_path / "exp"
    (exp / "enhanced_test").mkdir(parents=True)
    os.symlink(out.parent, exp / "enhanced_test" / "scoring")
    assert show_results.main([str(exp)]) == 0
    res = (exp / "RESULTS.md").read_text()
    cells = [(out.parent / f"result_{m}.txt").read_text().strip() for m in SPEECH]
    assert "|dataset|n_outputs|STOI|ESTOI|PESQ_WB|PESQ_NB|" in res
    assert f"|enhanced_test|3|{'|'.join(cells)}|" in res


def test_sets_without_speech_get_nan_results(tmp_path):
    data = make_data_dir(tmp_path / "data", [["sfx", "sfxbg"]], fs=16000, seconds=0.5)
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    assert _score(data, inf, inf / "scoring" / "scores.tsv") == 0
    for m in SPEECH:
        assert (inf / "scoring" / f"result_{m}.txt").read_text() == "nan\n"
    assert float((inf / "scoring" / "result_si_snr.txt").read_text()) > 5


def test_no_utterances_detected_is_nan_and_counted(data, tmp_path, capsys, monkeypatch):
    import pesq

    real = pesq.pesq

    def no_utterance_in_wide_band(rate, ref, deg, mode):
        if mode == "wb":
            raise pesq.NoUtterancesError(b"No utterances detected")
        return real(rate, ref, deg, mode)

    monkeypatch.setattr(pesq, "pesq", no_utterance_in_wide_band)
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    assert _score(data, inf, inf / "scoring" / "scores.tsv") == 0
    _, rows = table(inf / "scoring" / "scores.tsv")
    speech = [r for r in rows if r["prompt"] == "speech"]
    assert len(speech) == 3 and all(math.isnan(r["pesq_wb"]) and math.isfinite(r["pesq_nb"]) for r in speech)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.strip().splitlines()[-1].endswith("; NaN speech metrics: pesq_wb 3 (no utterances detected)")
    assert (inf / "scoring" / "result_pesq_wb.txt").read_text() == "nan\n"
    # joined tables of parallel jobs: the NaN cells counted again
    assert score.main(["--merge", str(inf / "scoring" / "scores.tsv"), "--output", str(tmp_path / "m.tsv")]) == 0
    assert capsys.readouterr().out.strip().endswith("; NaN speech metrics: pesq_wb 3")


def test_low_rate_has_no_wide_band_pesq(tmp_path, capsys):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], fs=8000, seconds=1.0)
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    assert _score(data, inf, inf / "scoring" / "scores.tsv") == 0
    _, rows = table(inf / "scoring" / "scores.tsv")
    assert rows[0]["prompt"] == "speech" and math.isnan(rows[0]["pesq_wb"])
    assert all(math.isfinite(rows[0][m]) for m in ("stoi", "estoi", "pesq_nb"))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith("; NaN speech metrics: pesq_wb 1 (signals at 8000 Hz, below 16000 Hz)")


def test_silent_output_has_no_pesq():
    """PESQ cannot level-align an all-zero output (the package fails on it): NaN, with the reason."""
    x = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000) * np.hanning(16000)
    values, notes = speech_metrics.speech_metrics(np.zeros(16000), x, 16000)
    assert math.isnan(values["pesq_wb"]) and math.isnan(values["pesq_nb"]) and values["stoi"] == 0
    assert notes == [("pesq_wb", "silent output"), ("pesq_nb", "silent output")]


def test_no_speech_metrics_option(data, tmp_path):
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    assert _score(data, inf, inf / "scoring" / "scores.tsv", "--no_speech_metrics") == 0
    head, _ = table(inf / "scoring" / "scores.tsv")
    assert head == tables.BASE_COLUMNS
    assert not (inf / "scoring" / "result_stoi.txt").exists()


def test_score_obs_scores_the_mixture(data, tmp_path):
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    assert _score(data, inf, inf / "scoring" / "scores.tsv") == 0
    obs = tmp_path / "obs" / "scoring" / "scores.tsv"
    assert _score(data, None, obs, "--score_obs") == 0
    _, sep = table(inf / "scoring" / "scores.tsv")
    head, mix = table(obs)
    assert head == tables.COLUMNS
    assert [(r["utt"], r["prompt"]) for r in mix] == [(r["utt"], r["prompt"]) for r in sep]
    for m, s in zip(mix, sep):
        assert m["si_snri"] == 0
        assert m["si_snr"] == pytest.approx(s["si_snr"] - s["si_snri"], abs=2e-4)  # SI-SNR of the mixture
        if m["prompt"] == "speech":
            assert m["stoi"] < s["stoi"] and m["pesq_wb"] <= s["pesq_wb"]
    for m in RESULT_METRICS:
        assert (obs.parent / f"result_{m}.txt").read_text() == f"{utterance_mean(mix, m):.2f}\n"


def test_score_obs_with_inf_dir_is_one_line(data, tmp_path, capsys):
    assert _score(data, tmp_path, tmp_path / "s.tsv", "--score_obs") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["score: error: --score_obs scores the mixtures of --ref_dir: no --inf_dir"]


def test_merge_equals_one_run(data, tmp_path):
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    whole = inf / "whole" / "scores.tsv"
    assert _score(data, inf, whole) == 0
    parts = []
    for k, utt in enumerate(["utt000", "utt001"], 1):
        (inf / f"keys.{k}.scp").write_text(f"{utt}\n")
        parts.append(inf / "logdir" / f"scores.{k}.tsv")
        assert _score(data, inf, parts[-1], "--key_file", str(inf / f"keys.{k}.scp"), "--no_result_files") == 0
    assert not list((inf / "logdir").glob("result_*"))
    merged = inf / "scoring" / "scores.tsv"
    assert score.main(["--merge", *map(str, parts), "--output", str(merged)]) == 0
    assert merged.read_text() == whole.read_text()
    for m in RESULT_METRICS:
        assert (merged.parent / f"result_{m}.txt").read_text() == (whole.parent / f"result_{m}.txt").read_text()


def test_merge_of_different_tables_is_one_line(data, tmp_path, capsys):
    inf = write_outputs(data, tmp_path / "inf", 0.3)
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    assert _score(data, inf, a, "--no_result_files") == 0
    assert _score(data, inf, b, "--no_result_files", "--no_speech_metrics") == 0
    capsys.readouterr()
    assert score.main(["--merge", str(a), str(b), "--output", str(tmp_path / "m.tsv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"score: error: {b}:1: columns ") and "differ" in err[0], err
    assert not (tmp_path / "m.tsv").exists()


@pytest.mark.slow
def test_recipe_stage6_scores_the_mixtures(tmp_path):
    """tuss.sh stage 6 with --score_obs true on hand-made stage-5 outputs: the scores and
    result files of the outputs and of the mixtures, dump/raw/RESULTS.md, a 'raw' row in
    exp/RESULTS.md."""
    recipe = ROOT / "egs" / "mini_tuss" / "tuss1"
    for name in ("tuss.sh", "path.sh", "cmd.sh", "utils"):
        os.symlink((recipe / name).resolve(), tmp_path / name)
    data = make_data_dir(tmp_path / "dump" / "raw" / "test", PROMPTS, fs=16000, seconds=1.0)
    out = write_outputs(data, tmp_path / "exp" / "enh_fake" / "enhanced_test", 0.3)
    (out / "logdir").mkdir()
    (out / "logdir" / "keys.1.scp").write_text("utt000\nutt001\n")
    (out / "eval_mode").write_text("all\n")
    (out / "eval_set").write_text("test\n")
    (tmp_path / "train.yaml").write_text("{}\n")
    cmd = ["./tuss.sh", "--stage", "6", "--stop_stage", "6", "--train_set", "train", "--valid_set", "dev"]
    cmd += ["--test_sets", "test", "--train_config", "train.yaml", "--tag", "fake", "--inference_nj", "1"]
    cmd += ["--score_obs", "true"]
    env = dict(os.environ, TUSS_CMD_BACKEND="local")
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for d in (out / "scoring", data / "scoring"):
        _, rows = table(d / "scores.tsv")
        assert sorted(r["utt"] for r in rows) == ["utt000", "utt000", "utt001", "utt001", "utt001"]
        for m in RESULT_METRICS:
            assert (d / f"result_{m}.txt").read_text() == f"{utterance_mean(rows, m):.2f}\n"
    assert "|raw|test|all|" in (tmp_path / "exp" / "RESULTS.md").read_text()
    assert "### Speech metrics" in (tmp_path / "dump" / "raw" / "RESULTS.md").read_text()
    assert "Speech metrics" in r.stdout and "test: mixtures scored" in r.stdout
