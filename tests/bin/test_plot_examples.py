# SPDX-License-Identifier: Apache-2.0
"""tuss_plugin.bin.plot_examples: one spectrogram per task pattern, the median
mixture, linked from RESULTS.md (show_results) and from the model card."""

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.bin import make_model_card, plot_examples, score, show_results
from tuss_plugin.fileio.kaldi_io import read_dict
from tuss_plugin.fileio.output_dirs import Manifest
from tuss_plugin.scoring import examples

from datagen import make_data_dir

PATTERNS = [["speech", "sfxbg"]] * 3 + [["sfx", "sfx"]] * 2 + [["drums", "bass", "vocals", "other"]]


def _outputs(data, inf, noise_by_utt):
    """Outputs = references plus noise of a per-utterance level (so the SI-SNRi
    of the utterances differ and their order is known)."""
    (inf / "wavs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = {}
    for utt, refs in read_dict(data / "spk.scp").items():
        for k, r in enumerate(refs, 1):
            x, fs = sf.read(r)
            p = inf / "wavs" / f"{utt}_{k}.wav"
            sf.write(p, x + noise_by_utt[utt] * np.std(x) * rng.standard_normal(len(x)), fs, subtype="FLOAT")
            lines.setdefault(k, []).append(f"{utt} {p}\n")
    for k, ls in lines.items():
        (inf / f"spk{k}.scp").write_text("".join(ls))
    (inf / "utt2prompts").write_text((data / "utt2prompts").read_text())


@pytest.fixture
def scored(tmp_path):
    data = make_data_dir(tmp_path / "data", PATTERNS, fs=8000, seconds=0.5)
    exp = tmp_path / "exp" / "enh_x"
    inf = exp / "enhanced_test"
    # SE: utt000 best, utt001 worst, utt002 middle -> utt002 is the median
    _outputs(data, inf, {"utt000": 0.05, "utt001": 1.0, "utt002": 0.3, "utt003": 0.1, "utt004": 0.5, "utt005": 0.2})
    (inf / "scoring").mkdir()
    assert score.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(inf / "scoring/scores.tsv")]) == 0
    return data, exp, inf


def test_one_figure_per_task_pattern_the_median_mixture(scored, capsys):
    data, exp, inf = scored
    out = exp / "images" / "examples" / inf.name
    (out).mkdir(parents=True)
    (out / "SE_old.png").write_bytes(b"stale")  # a figure of an earlier run (in its manifest)
    Manifest(out, examples.MANIFEST_NAME).write(["SE_old.png"])
    (out / "mine.png").write_bytes(b"\x89PNG not written by plot_examples")
    args = ["--ref_dir", str(data), "--inf_dir", str(inf), "--output_dir", str(out)]
    assert plot_examples.main(args) == 0
    # SE: median of 3; USS (2 mixtures): the lower middle one = the worse; MSS: the only one
    names = sorted(p.name for p in out.iterdir() if p.name != examples.MANIFEST_NAME)
    assert names == ["MSS_utt005.png", "SE_utt002.png", "USS_utt004.png", "mine.png"]
    assert all((out / n).read_bytes()[:4] == b"\x89PNG" for n in names)
    assert "SE: utt002 (mean SI-SNRi" in capsys.readouterr().out


def test_pick_examples_uses_the_mean_over_outputs():
    rows = [
        {"utt": "a", "task": "SE", "si_snri": 1.0},
        {"utt": "a", "task": "SE", "si_snri": 9.0},  # mean 5
        {"utt": "b", "task": "SE", "si_snri": 4.0},
        {"utt": "c", "task": "SE", "si_snri": 7.0},
        {"utt": "d", "task": "SE", "si_snri": float("nan")},  # no finite score: not a candidate
    ]
    assert examples.pick_examples(rows) == {"SE": ("a", 5.0)}


def test_missing_scores_is_one_line(tmp_path, capsys):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"]], fs=8000, seconds=0.25)
    args = ["--ref_dir", str(data), "--inf_dir", str(tmp_path / "inf"), "--output_dir", str(tmp_path / "o")]
    assert plot_examples.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scores.tsv: missing" in err
    assert not (tmp_path / "o").exists()


def test_results_md_and_model_card_link_the_figures(scored, tmp_path):
    data, exp, inf = scored
    out = exp / "images" / "examples" / inf.name
    assert plot_examples.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output_dir", str(out)]) == 0
    assert show_results.main([str(exp)]) == 0
    text = (exp / "RESULTS.md").read_text()
    assert "|enhanced_test|SE|utt002|[SE_utt002.png](images/examples/enhanced_test/SE_utt002.png)|" in text
    rows = [line.split("|")[2] for line in text.splitlines() if "](images/examples/" in line]
    assert rows == ["SE", "USS", "MSS"]  # the tables' task order
    # the comparison file one level up links through the experiment's name
    assert show_results.main(["--compare", str(exp), "--output", str(exp.parent / "RESULTS.md")]) == 0
    assert "(enh_x/images/examples/enhanced_test/SE_utt002.png)" in (exp.parent / "RESULTS.md").read_text()
    # the model card: the figures lie under the packed experiment dir
    card = tmp_path / "card"
    (card / "exp" / "enh_x" / "images" / "examples").mkdir(parents=True)
    relinked = make_model_card.relink_figures(text, card)
    assert "(exp/enh_x/images/examples/enhanced_test/SE_utt002.png)" in relinked
    assert (card / "exp/enh_x/images/examples").is_dir()
