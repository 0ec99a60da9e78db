# SPDX-License-Identifier: Apache-2.0
"""The Table III block of RESULTS.md: the paper's 12 (test set, prompt) columns,
per-mixture-then-per-set averaging, the paper's published rows beside the
user's, and stages 5-6 on the fake paper corpora with tiny TUSS and fixed-output models."""

import math
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from tuss_plugin.bin import show_results

PAPER_HEADERS = [
    "VCTK-DEMAND Speech",
    "VCTK-DEMAND SFX-mix",
    "WHAM! Speech",
    "WHAM! SFX-mix",
    "FUSS SFX",
    "MUSDB-HQ Vocals",
    "MUSDB-HQ Bass",
    "MUSDB-HQ Drums",
    "MUSDB-HQ Other",
    "DnR Speech",
    "DnR Music-mix",
    "DnR SFX-mix",
]
PAPER_LABELS = ["M0", "M1", "M2", "M3", "M4", "M5", "L3", "L4", "L5", "L5s", "L6", "L6s"]
SCORE_HEADER = "utt\toutput\tprompt\ttask\tsi_snr\tsi_snri\tsnr\tsdr\tsi_sdr"


def write_scores(inf: Path, dset: str, mode: str, rows: Sequence[Tuple[str, str, str, float, float]]) -> None:
    """A scored inference dir as stage 6 leaves it; rows: (utt, prompt, task, si_sdr, snr), with the
    zero-mean si_snr column 100 dB above si_sdr, so a table reading the wrong column shows it."""
    (inf / "scoring").mkdir(parents=True)
    lines = [SCORE_HEADER]
    for k, (utt, prompt, task, si, sn) in enumerate(rows, 1):
        lines.append(f"{utt}\t{k}\t{prompt}\t{task}\t{si + 100:.4f}\t{si - 3:.4f}\t{sn:.4f}\t{sn:.4f}\t{si:.4f}")
    (inf / "scoring" / "scores.tsv").write_text("\n".join(lines) + "\n")
    (inf / "eval_mode").write_text(mode + "\n")
    (inf / "eval_set").write_text(dset + "\n")


def table3_tables(results: str) -> List[Tuple[List[str], List[List[str]]]]:
    """The markdown tables of the first Table III block (with --compare: the one of all models):
    [(header cells, body rows as cells)]."""
    block = results.split("Table III layout (dB)\n")[1].split("\n#")[0]
    out = []
    for chunk in block.split("\n\n"):
        lines = [l for l in chunk.strip().splitlines() if l.startswith("|")]
        if lines:
            out.append((lines[0][1:-1].split("|"), [l[1:-1].split("|") for l in lines[2:]]))
    return out


def cells(header: List[str], row: List[str]) -> Dict[str, str]:
    return dict(zip(header, row))


def scored_exp(exp: Path, mode: str = "all") -> None:
    """Hand-made scores of the five paper test sets (two or three mixtures each)."""
    tag = "enhanced" if mode == "all" else "enhanced_single"
    write_scores(
        exp / f"{tag}_test_vctk_demand",
        "test_vctk_demand",
        mode,
        [
            ("v1", "speech", "SE", 10, 0),
            ("v1", "sfxbg", "SE", 4, 0),
            ("v2", "speech", "SE", 20, 0),
            ("v2", "sfxbg", "SE", 6, 0),
        ],
    )
    write_scores(
        exp / f"{tag}_test_wham",
        "test_wham",
        mode,
        [("w1", "speech", "SS", 8, 0), ("w1", "speech", "SS", 12, 0), ("w1", "sfxbg", "SS", 3, 0)],
    )
    # FUSS: 4 outputs of 12 dB, then 2 outputs of 0 dB: per mixture 12 and 0 -> 6.00 (pooled: 48 / 6 = 8.00)
    write_scores(
        exp / f"{tag}_test_fuss",
        "test_fuss",
        mode,
        [("f4", "sfx", "USS", 12, 0)] * 4 + [("f2", "sfx", "USS", 0, 0)] * 2,
    )
    # MUSDB-HQ: SNR, not SI-SNR; one item per channel utterance
    write_scores(
        exp / f"{tag}_test_musdb18hq",
        "test_musdb18hq",
        mode,
        [
            (f"t_CH{c}", p, "MSS", 30, sn + c)
            for c in (1, 2)
            for p, sn in (("drums", 4), ("bass", 5), ("vocals", 6), ("other", 7))
        ],
    )
    # DnR speech: the authors' SI-SDR bottoms out at -70 dB (e.g. a silent output) -> (-70 + 10) / 2
    write_scores(
        exp / f"{tag}_test_dnr",
        "test_dnr",
        mode,
        [
            ("d1", "speech", "CASS", -70, 0),
            ("d1", "sfxbg", "CASS", 2, 0),
            ("d1", "musicbg", "CASS", 5, 0),
            ("d2", "speech", "CASS", 10, 0),
            ("d2", "sfxbg", "CASS", 4, 0),
            ("d2", "musicbg", "CASS", 7, 0),
        ],
    )


def test_paper_columns_and_per_item_averaging(tmp_path):
    exp = tmp_path / "exp" / "enh_model"
    scored_exp(exp)
    assert show_results.main([str(exp)]) == 0
    tables = table3_tables((exp / "RESULTS.md").read_text())
    assert len(tables) == 1  # only paper test sets: no table of other sets
    header, rows = tables[0]
    assert header == ["model", "inference", "prompts"] + PAPER_HEADERS
    mine = [r for r in rows if r[0] == "enh_model"]
    assert [r[1:3] for r in mine] == [["enhanced", "all"]]
    got = cells(header, mine[0])
    want = {
        "VCTK-DEMAND Speech": "15.00",
        "VCTK-DEMAND SFX-mix": "5.00",
        "WHAM! Speech": "10.00",
        "WHAM! SFX-mix": "3.00",
        "FUSS SFX": "6.00",
        "MUSDB-HQ Vocals": "7.50",
        "MUSDB-HQ Bass": "6.50",
        "MUSDB-HQ Drums": "5.50",
        "MUSDB-HQ Other": "8.50",
        "DnR Speech": "-30.00",
        "DnR Music-mix": "6.00",
        "DnR SFX-mix": "3.00",
    }
    assert {h: got[h] for h in PAPER_HEADERS} == want
    # the per-task/per-prompt tables average over mixtures too (the one averaging), with the
    # zero-mean si_snr: mixtures of 112 and 100 dB -> 106 (pooled over the 6 outputs it was 108)
    res = (exp / "RESULTS.md").read_text()
    assert "|enhanced_test_fuss|sfx|6|106.00|" in res


def test_paper_rows_beside_user_rows_single_after_all(tmp_path):
    expdir = tmp_path / "exp"
    for name in ("enh_a", "enh_b"):
        for mode in ("single", "all"):
            scored_exp(expdir / name, mode)
    out = expdir / "RESULTS.md"
    assert show_results.main(["--compare", str(expdir / "enh_b"), str(expdir / "enh_a"), "--output", str(out)]) == 0
    header, rows = table3_tables(out.read_text())[0]
    assert header[3:] == PAPER_HEADERS
    # the paper's rows first, then each model's "all" row with its "single" row right after it
    assert [r[0] for r in rows[: len(PAPER_LABELS)]] == [f"{lab} (paper)" for lab in PAPER_LABELS]
    assert [r[2] for r in rows[: len(PAPER_LABELS)]] == [
        "single" if lab.endswith("s") else "all" for lab in PAPER_LABELS
    ]
    assert [r[:3] for r in rows[len(PAPER_LABELS) :]] == [
        ["enh_a", "enhanced", "all"],
        ["enh_a", "enhanced_single", "single"],
        ["enh_b", "enhanced", "all"],
        ["enh_b", "enhanced_single", "single"],
    ]
    assert all(len(r) == len(header) for r in rows)


def test_other_sets_per_task_columns(tmp_path):
    """Sets that are not one of the paper's five keep one column per task pattern (averaged per mixture)."""
    exp = tmp_path / "exp" / "enh_model"
    write_scores(
        exp / "enhanced_test",
        "test",
        "all",
        [("u4", "sfx", "USS", 12, 0)] * 4
        + [("u2", "sfx", "USS", 0, 0)] * 2
        + [("m", p, "MSS", 30, 2) for p in ("drums", "bass", "vocals", "other")],
    )
    assert show_results.main([str(exp)]) == 0
    tables = table3_tables((exp / "RESULTS.md").read_text())
    assert len(tables) == 1  # no paper table without a paper test set
    header, rows = tables[0]
    assert header == ["model", "inference", "prompts", "USS SI-SNR (test)", "MSS SNR (test)"]
    assert rows[0] == ["enh_model", "enhanced", "all", "6.00", "2.00"]
    assert [r[0] for r in rows[1:]] == [f"{label} (paper, per task)" for label in PAPER_LABELS]


def test_paper_table_data():
    from tuss_plugin.scoring import paper_table3 as p

    assert [c.header for c in p.COLUMNS] == PAPER_HEADERS
    assert [c.metric for c in p.COLUMNS] == ["si_sdr"] * 5 + ["snr"] * 4 + ["si_sdr"] * 3
    assert [r.label for r in p.ROWS] == PAPER_LABELS
    for r in p.ROWS:
        assert r.mode == ("single" if r.label.endswith("s") else "all")
        assert len(r.values) == len(p.COLUMNS)
        assert all(v is None or -10 < v < 40 for v in r.values)
    names = {
        "test_vctk_demand": "vctk_demand",
        "test_wham": "wham",
        "test_fuss": "fuss",
        "test_musdb18hq": "musdb18hq",
        "test_dnr": "dnr",
        "fuss": "fuss",
        "test": None,
        "test_whamr": None,
        "test_vctk": None,
    }
    assert {n: p.corpus_of_set(n) for n in names} == names


def test_authors_si_sdr_definition():
    """scores.tsv si_sdr: scale-invariant without mean removal, clamped to +-70 dB (the authors'
    fast_bss_eval SI-SDR); the zero-mean si_snr ignores a DC offset that si_sdr counts as error."""
    from tuss_plugin.scoring.metrics import si_sdr, si_snr

    rng = np.random.default_rng(0)
    s = rng.standard_normal(4000)
    y = 0.5 * s + 0.1 * rng.standard_normal(4000) + 0.3  # scaled, noisy, DC offset
    a = np.dot(s, y) / np.dot(s, s)
    want = 10 * np.log10(np.sum((a * s) ** 2) / np.sum((a * s - y) ** 2))
    assert abs(si_sdr(y, s) - want) < 1e-6
    ys, ss = y - y.mean(), s - s.mean()
    b = np.dot(ss, ys) / np.dot(ss, ss)
    assert abs(si_snr(y, s) - 10 * np.log10(np.sum((b * ss) ** 2) / np.sum((b * ss - ys) ** 2))) < 1e-6
    assert si_snr(y, s) - si_sdr(y, s) > 1  # the offset costs si_sdr only
    assert abs(si_sdr(s, s) - 70) < 1e-6 and abs(si_sdr(np.zeros(4000), s) + 70) < 1e-6  # clamped; silence: -70


def test_recipe_stages_5_6_on_fake_paper_corpora(model_dir, tmp_path, one_thread):
    """Stages 5-6 (inference, scoring, RESULTS.md) on the five paper test sets, dumped from the fake
    corpora as stages 1-2 do, with the tiny TUSS, a tiny conventional BS-Locoformer (4 interchangeable
    outputs, no output_prompts) and a tiny stock TF-GridNetV2 (4 outputs): a full row of the 12 columns
    per model beside the paper's rows, and every reference of every mixture scored once. One mixture
    per set (MUSDB-HQ: both channel utterances of one track) keeps it short."""
    from tuss_plugin.bin import format_data, score, tuss_inference
    from tuss_plugin.dataprep.eval_sets import dnr, fuss, musdb18hq, vctk_demand, wham
    from tuss_plugin.fileio.kaldi_io import read_dict, read_scp

    import fake_eval_corpora as fake
    from datagen import fixed_output_model

    roots = fake.make_all(tmp_path / "corpora")
    modules = {"VCTK_DEMAND": vctk_demand, "WHAM": wham, "FUSS": fuss, "MUSDB18HQ": musdb18hq, "DNR": dnr}
    models = {
        "enh_tiny": model_dir,
        "enh_conventional": fixed_output_model(tmp_path / "models" / "conventional", "bslocoformer"),
        "enh_tfgridnetv2": fixed_output_model(tmp_path / "models" / "tfgridnetv2", "tfgridnetv2"),
    }
    expdir = tmp_path / "exp"
    for var, module in modules.items():
        for dset, d in module.prepare(roots[var], data_dir=tmp_path / "data", sets=["test"]).items():
            dump = tmp_path / "dump" / dset
            assert format_data.main(["--fs", "native", "--mix_from_refs", "--on_error", "stop", str(d), str(dump)]) == 0
            utts = sorted(read_scp(dump / "wav.scp"))[: 2 if var == "MUSDB18HQ" else 1]
            keys = tmp_path / f"keys_{dset}"
            keys.write_text("".join(f"{u}\n" for u in utts))
            ref_prompts = read_dict(dump / "utt2prompts")
            for name, model in models.items():
                out = expdir / name / f"enhanced_{dset}"
                assert (
                    tuss_inference.main(
                        [
                            "--model",
                            str(model),
                            "--data_dir",
                            str(dump),
                            "--key_file",
                            str(keys),
                            "--output_dir",
                            str(out),
                            "--eval_mode",
                            "all",
                        ]
                    )
                    == 0
                )
                (out / "eval_mode").write_text("all\n")
                (out / "eval_set").write_text(dset + "\n")
                assert (
                    score.main(
                        [
                            "--ref_dir",
                            str(dump),
                            "--inf_dir",
                            str(out),
                            "--key_file",
                            str(keys),
                            "--output",
                            str(out / "scoring" / "scores.tsv"),
                        ]
                    )
                    == 0
                )
                rows = [line.split("\t") for line in (out / "scoring" / "scores.tsv").read_text().splitlines()[1:]]
                for utt in utts:  # each reference once, with its prompt
                    assert sorted(r[2] for r in rows if r[0] == utt) == sorted(ref_prompts[utt]), (name, utt)
    exps = [expdir / name for name in sorted(models)]
    for exp in exps:
        assert show_results.main([str(exp)]) == 0
    assert show_results.main(["--compare", *map(str, exps), "--output", str(expdir / "RESULTS.md")]) == 0
    for res, names in [(exp / "RESULTS.md", [exp.name]) for exp in exps] + [(expdir / "RESULTS.md", sorted(models))]:
        tables = table3_tables(res.read_text())
        assert len(tables) == 1
        header, rows = tables[0]
        assert header == ["model", "inference", "prompts"] + PAPER_HEADERS
        assert [r[0] for r in rows[: len(PAPER_LABELS)]] == [f"{lab} (paper)" for lab in PAPER_LABELS]
        mine = rows[len(PAPER_LABELS) :]
        assert [r[:3] for r in mine] == [[n, "enhanced", "all"] for n in names]
        for row in mine:
            assert all(math.isfinite(float(v)) for v in row[3:]), row  # every column has a number
