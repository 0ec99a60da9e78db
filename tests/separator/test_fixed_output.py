# SPDX-License-Identifier: Apache-2.0
"""Fixed-output (conventional) separators in recipe stages 5-6: a model without
prompts always gives S outputs; the references are padded with silence to S,
the assignment is solved over all outputs with the training criterion and only
the outputs matched to real references are scored, labelled with their
reference's prompt. ``single`` evaluation is not defined for such models."""

from pathlib import Path
from typing import List

import numpy as np
import pytest
import soundfile as sf
import torch

from tuss_plugin.bin import score, tuss_inference
from tuss_plugin.fileio.kaldi_io import read_dict, read_scp
from tuss_plugin.scoring.metrics import INTERCHANGEABLE, match_fixed_outputs

from conftest import ROOT
from datagen import fixed_output_model, make_data_dir

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def conventional(tmp_path_factory) -> Path:
    return fixed_output_model(tmp_path_factory.mktemp("conventional"))


# ------------------------------------------------------------------ scoring a hand-made case


def _hand_made(tmp_path: Path):
    """One mixture of speech and sfxbg and 4 interchangeable outputs as stage 5 writes them:
    output 3 is the sfxbg reference, output 4 the speech reference (plus a little noise),
    outputs 1 and 2 are quiet noise. Pairing by position would score outputs 1 and 2."""
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], fs=8000, seconds=0.25)
    refs = [sf.read(p)[0] for p in read_dict(data / "spk.scp")["utt000"]]
    rng = np.random.default_rng(0)
    n = len(refs[0])
    outs = [
        1e-3 * rng.standard_normal(n),
        1e-3 * rng.standard_normal(n),
        refs[1] + 0.01 * np.std(refs[1]) * rng.standard_normal(n),
        refs[0] + 0.01 * np.std(refs[0]) * rng.standard_normal(n),
    ]
    inf = tmp_path / "inf"
    for k, o in enumerate(outs, 1):
        (inf / "wavs" / str(k)).mkdir(parents=True)
        sf.write(inf / "wavs" / str(k) / "utt000.wav", o, 8000, subtype="FLOAT")
        (inf / f"spk{k}.scp").write_text(f"utt000 {inf / 'wavs' / str(k) / 'utt000.wav'}\n")
    (inf / "utt2prompts").write_text("utt000 " + " ".join([INTERCHANGEABLE] * 4) + "\n")
    return data, inf


def _rows(path: Path) -> List[dict]:
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def test_padded_assignment_scores_only_matched_outputs(tmp_path):
    data, inf = _hand_made(tmp_path)
    assert score.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(inf / "s.tsv")]) == 0
    rows = _rows(inf / "s.tsv")
    # output 4 is the speech, output 3 the sfxbg; outputs 1 and 2 (silence) are not scored
    assert [(r["output"], r["prompt"], r["task"]) for r in rows] == [("3", "sfxbg", "SE"), ("4", "speech", "SE")]
    assert all(float(r["si_snr"]) > 35 and float(r["si_sdr"]) > 35 for r in rows), rows


def test_more_references_than_outputs_are_refused(tmp_path, capsys):
    data, inf = _hand_made(tmp_path)
    for k in (3, 4):  # two outputs for two references: scored; then one output for two references
        (inf / f"spk{k}.scp").unlink()
    (inf / "utt2prompts").write_text(f"utt000 {INTERCHANGEABLE} {INTERCHANGEABLE}\n")
    assert score.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(inf / "s.tsv")]) == 0
    (inf / "spk2.scp").unlink()
    (inf / "utt2prompts").write_text(f"utt000 {INTERCHANGEABLE}\n")
    capsys.readouterr()
    assert score.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(inf / "s.tsv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == (
        "score: refused: utt000: 2 reference(s) for 1 interchangeable output(s) (more sources than outputs)"
    )


def test_assignment_is_the_training_criterions():
    """The padded assignment minimises the summed zero-reference SNR loss, as the
    category-wise PIT of training does for a model without prompts."""
    from tuss_plugin.loss.category_pit import CategoryPITSolver
    from tuss_plugin.loss.criterions import SNRWithZeroRefLoss

    rng = np.random.default_rng(1)
    for trial in range(6):
        n_ref = 2 + trial % 3
        refs = [rng.standard_normal(400) * rng.uniform(0.1, 1) for _ in range(n_ref)]
        infs = [
            refs[i % n_ref] * rng.uniform(0.3, 1) + rng.standard_normal(400) * rng.uniform(0.1, 1.5)
            for i in rng.permutation(4)
        ]
        pairs = match_fixed_outputs(refs, infs)
        padded = refs + [np.zeros(400)] * (4 - n_ref)
        solver = CategoryPITSolver(SNRWithZeroRefLoss())
        _, _, others = solver([torch.tensor(r[None]) for r in padded], [torch.tensor(i[None]) for i in infs])
        want = sorted((int(others["perm"][0, r]), r) for r in range(n_ref))
        assert pairs == want, (trial, pairs, want)


# ------------------------------------------------------------------ stages 5-6 with a tiny conventional model


def test_stages_5_6_with_a_conventional_model(conventional, tmp_path):
    """2-, 3- and 4-prompt mixtures: 4 outputs each, every reference of every mixture scored once."""
    lists = [
        ["speech", "sfxbg"],
        ["speech", "speech", "sfxbg"],
        ["drums", "bass", "vocals", "other"],
        ["sfx", "sfx", "sfx"],
    ]
    data = make_data_dir(tmp_path / "data", lists, fs=16000, seconds=0.25)
    out = tmp_path / "enhanced_test"
    assert tuss_inference.main(["--model", str(conventional), "--data_dir", str(data), "--output_dir", str(out)]) == 0
    for k in range(1, 5):  # every output of every mixture
        assert set(read_scp(out / f"spk{k}.scp")) == {f"utt{i:03d}" for i in range(len(lists))}
    assert set(map(tuple, read_dict(out / "utt2prompts").values())) == {(INTERCHANGEABLE,) * 4}
    assert (
        score.main(["--ref_dir", str(data), "--inf_dir", str(out), "--output", str(out / "scoring" / "scores.tsv")])
        == 0
    )
    rows = _rows(out / "scoring" / "scores.tsv")
    for i, prompts in enumerate(lists):
        mine = [r for r in rows if r["utt"] == f"utt{i:03d}"]
        assert sorted(r["prompt"] for r in mine) == sorted(prompts)  # each reference once
        assert len({r["output"] for r in mine}) == len(prompts)  # each output at most once
        assert all(np.isfinite(float(r[m])) for r in mine for m in ("si_snr", "si_sdr", "snr"))


def test_single_mode_is_refused_for_a_model_without_prompts(conventional, tmp_path, capsys):
    data = make_data_dir(tmp_path / "data", [["drums", "bass", "vocals", "other"]], fs=16000, seconds=0.25)
    out = tmp_path / "enhanced_single_test"
    assert (
        tuss_inference.main(
            ["--model", str(conventional), "--data_dir", str(data), "--output_dir", str(out), "--eval_mode", "single"]
        )
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "tuss_inference: error: --eval_mode single needs a model with prompts (one pass per prompt "
        "category); this model has fixed outputs and no prompts: use --eval_mode all"
    ]
    assert not (out / "wavs").exists()


# ------------------------------------------------------------------ the recipe's stages 5-6


@pytest.mark.slow
def test_recipe_skips_single_for_a_model_without_prompts(conventional, tmp_path):
    """tuss.sh stages 5-6 with --eval_modes "all single" and a fixed-output model: "single" is
    skipped with one line, "all" is separated and scored and lands in RESULTS.md."""
    import os
    import subprocess

    recipe = ROOT / "egs" / "mini_tuss" / "tuss1"
    for name in ("tuss.sh", "path.sh", "cmd.sh", "utils"):
        os.symlink((recipe / name).resolve(), tmp_path / name)
    make_data_dir(tmp_path / "dump" / "raw" / "test", [["speech", "sfxbg"], ["sfx", "sfx", "sfx"]], seconds=0.25)
    exp = tmp_path / "exp" / "enh_conventional"
    exp.mkdir(parents=True)
    for name in ("config.yaml", "valid.loss.best.pth", "train.yaml"):
        os.symlink(conventional / name, exp / name)
    cmd = [
        "./tuss.sh",
        "--stage",
        "5",
        "--stop_stage",
        "6",
        "--train_set",
        "train",
        "--valid_set",
        "dev",
        "--test_sets",
        "test",
        "--train_config",
        str(exp / "train.yaml"),
        "--tag",
        "conventional",
        "--fs",
        "16k",
        "--inference_nj",
        "1",
        "--eval_modes",
        "all single",
    ]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    skipped = [line for line in r.stdout.splitlines() if "single" in line and "Skipping" in line]
    assert len(skipped) == 1, r.stdout  # said once, for stages 5 and 6
    assert "has no prompts" in skipped[0]
    assert not (exp / "enhanced_single_test").exists()
    scores = _rows(exp / "enhanced_test" / "scoring" / "scores.tsv")
    assert sorted(r["prompt"] for r in scores) == ["sfx", "sfx", "sfx", "sfxbg", "speech"]
    assert "|enh_conventional|enhanced|all|" in (tmp_path / "exp" / "RESULTS.md").read_text()
