# SPDX-License-Identifier: Apache-2.0
"""Evaluation modes of recipe stage 5 ("all" prompts vs "single" category) and
the Table III layout of stage 6."""

import numpy as np

from tuss_plugin.bin import score, show_results, tuss_inference
from tuss_plugin.inference.datadir_outputs import separate_per_category

from datagen import make_data_dir


def test_per_category_passes(model_dir):
    from tuss_plugin.inference import SeparateAudio

    sep = SeparateAudio.from_pretrained(model_dir)
    x = np.random.default_rng(0).uniform(-0.3, 0.3, size=24000).astype(np.float32)
    prompts = ["speech", "sfxbg", "speech"]
    got = separate_per_category(sep, x, 48000, prompts)
    two = sep(x, fs=48000, prompts=["speech", "speech"])
    one = sep(x, fs=48000, prompts=["sfxbg"])
    np.testing.assert_array_equal(got[0], two[0])
    np.testing.assert_array_equal(got[2], two[1])
    np.testing.assert_array_equal(got[1], one[0])
    # a pass with the whole list is a different computation (prompts interact)
    full = sep(x, fs=48000, prompts=prompts)
    assert not np.allclose(full[1], got[1])


def test_single_mode_scores_and_table(model_dir, tmp_path):
    data = make_data_dir(
        tmp_path / "data",
        [["speech", "speech", "sfxbg"], ["speech", "sfxbg"], ["drums", "bass", "vocals", "other"]],
        fs=48000,
        seconds=0.5,
    )
    exp = tmp_path / "exp" / "enh_model"
    for mode, tag in (("all", "enhanced_test"), ("single", "enhanced_single_test")):
        out = exp / tag
        assert (
            tuss_inference.main(
                ["--model", str(model_dir), "--data_dir", str(data), "--output_dir", str(out), "--eval_mode", mode]
            )
            == 0
        )
        (out / "eval_mode").write_text(mode + "\n")
        (out / "eval_set").write_text("test\n")
        assert (
            score.main(["--ref_dir", str(data), "--inf_dir", str(out), "--output", str(out / "scoring" / "scores.tsv")])
            == 0
        )
        lines = (out / "spk3.scp").read_text().splitlines()
        assert [l.split()[0] for l in lines] == ["utt000", "utt002"]
    assert show_results.main([str(exp)]) == 0
    res = (exp / "RESULTS.md").read_text()
    table = res.split("### Table III layout (dB)")[1].split("###")[0]
    lines = [l for l in table.strip().splitlines() if l.startswith("|")]
    # "test" is none of the paper's test sets: one column per (task, set), SE, SS with SI-SNR, MSS with SNR
    assert lines[0] == "|model|inference|prompts|SE SI-SNR (test)|SS SI-SNR (test)|MSS SNR (test)|"
    rows = [r for r in lines[2:] if "(paper, per task)" not in r]  # then the published rows
    assert [r.split("|")[2:4] for r in rows] == [["enhanced", "all"], ["enhanced_single", "single"]]
    assert len(lines[2:]) == len(rows) + 12
    # per-category passes are different computations: the scores differ
    all_scores = (exp / "enhanced_test" / "scoring" / "scores.tsv").read_text()
    assert all_scores != (exp / "enhanced_single_test" / "scoring" / "scores.tsv").read_text()


def test_museval_option(tmp_path):
    """score --museval: museval's BSS Eval v4 SDR beside the other metrics."""
    import soundfile as sf

    data = make_data_dir(tmp_path / "data", [["drums", "bass", "vocals", "other"]], fs=8000, seconds=3.0)
    inf = tmp_path / "inf"
    (inf / "wavs").mkdir(parents=True)
    refs = (data / "spk.scp").read_text().split()[1:]
    rng = np.random.default_rng(0)
    for k, r in enumerate(refs, 1):
        x, fs = sf.read(r)
        sf.write(inf / "wavs" / f"{k}.wav", x + 0.1 * np.std(x) * rng.standard_normal(len(x)), fs, subtype="FLOAT")
        (inf / f"spk{k}.scp").write_text(f"utt000 {inf / 'wavs' / f'{k}.wav'}\n")
    (inf / "utt2prompts").write_text("utt000 drums bass vocals other\n")
    assert score.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(inf / "s.tsv"), "--museval"]) == 0
    rows = [l.split("\t") for l in (inf / "s.tsv").read_text().splitlines()]
    assert rows[0][-1] == "museval_sdr" and len(rows) == 5
    for r in rows[1:]:
        assert 17 < float(r[-1]) < 23  # outputs 20 dB above their error
