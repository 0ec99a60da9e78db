# SPDX-License-Identifier: Apache-2.0
"""The Table III block of RESULTS.md: the paper's 12 (test set, prompt) columns,
per-mixture-then-per-set averaging, the paper's published rows beside the
user's, and stages 5-6 on the fake paper corpora with the tiny TUSS."""
import math
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from tuss_plugin.bin import show_results

PAPER_HEADERS = ["VCTK-DEMAND Speech", "VCTK-DEMAND SFX-mix", "WHAM! Speech", "WHAM! SFX-mix", "FUSS SFX",
                 "MUSDB-HQ Vocals", "MUSDB-HQ Bass", "MUSDB-HQ Drums", "MUSDB-HQ Other",
                 "DnR Speech", "DnR Music-mix", "DnR SFX-mix"]
PAPER_LABELS = ["M0", "M1", "M2", "M3", "M4", "M5", "L3", "L4", "L5", "L5s", "L6", "L6s"]
SCORE_HEADER = "utt\toutput\tprompt\ttask\tsi_snr\tsi_snri\tsnr\tsdr"


def write_scores(inf: Path, dset: str, mode: str, rows: Sequence[Tuple[str, str, str, float, float]]) -> None:
    """A scored inference dir as stage 6 leaves it; rows: (utt, prompt, task, si_snr, snr)."""
    (inf / "scoring").mkdir(parents=True)
    lines = [SCORE_HEADER]
    for k, (utt, prompt, task, si, sn) in enumerate(rows, 1):
        lines.append(f"{utt}\t{k}\t{prompt}\t{task}\t{si:.4f}\t{si - 3:.4f}\t{sn:.4f}\t{sn:.4f}")
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
    write_scores(exp / f"{tag}_test_vctk_demand", "test_vctk_demand", mode, [
        ("v1", "speech", "SE", 10, 0), ("v1", "sfxbg", "SE", 4, 0),
        ("v2", "speech", "SE", 20, 0), ("v2", "sfxbg", "SE", 6, 0)])
    write_scores(exp / f"{tag}_test_wham", "test_wham", mode, [
        ("w1", "speech", "SS", 8, 0), ("w1", "speech", "SS", 12, 0), ("w1", "sfxbg", "SS", 3, 0)])
    # FUSS: 4 outputs of 12 dB, then 2 outputs of 0 dB: per mixture 12 and 0 -> 6.00 (pooled: 48 / 6 = 8.00)
    write_scores(exp / f"{tag}_test_fuss", "test_fuss", mode,
                 [("f4", "sfx", "USS", 12, 0)] * 4 + [("f2", "sfx", "USS", 0, 0)] * 2)
    # MUSDB-HQ: SNR, not SI-SNR; one item per channel utterance
    write_scores(exp / f"{tag}_test_musdb18hq", "test_musdb18hq", mode, [
        (f"t_CH{c}", p, "MSS", 30, sn + c) for c in (1, 2) for p, sn in
        (("drums", 4), ("bass", 5), ("vocals", 6), ("other", 7))])
    # DnR speech: -150 dB is clamped to -70 as in the authors' SI-SDR -> (-70 + 10) / 2
    write_scores(exp / f"{tag}_test_dnr", "test_dnr", mode, [
        ("d1", "speech", "CASS", -150, 0), ("d1", "sfxbg", "CASS", 2, 0), ("d1", "musicbg", "CASS", 5, 0),
        ("d2", "speech", "CASS", 10, 0), ("d2", "sfxbg", "CASS", 4, 0), ("d2", "musicbg", "CASS", 7, 0)])


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
    want = {"VCTK-DEMAND Speech": "15.00", "VCTK-DEMAND SFX-mix": "5.00", "WHAM! Speech": "10.00",
            "WHAM! SFX-mix": "3.00", "FUSS SFX": "6.00", "MUSDB-HQ Vocals": "7.50", "MUSDB-HQ Bass": "6.50",
            "MUSDB-HQ Drums": "5.50", "MUSDB-HQ Other": "8.50", "DnR Speech": "-30.00", "DnR Music-mix": "6.00",
            "DnR SFX-mix": "3.00"}
    assert {h: got[h] for h in PAPER_HEADERS} == want
    # the per-task/per-prompt tables keep pooling over outputs
    res = (exp / "RESULTS.md").read_text()
    assert "|enhanced_test_fuss|sfx|6|8.00|" in res


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
    assert [r[0] for r in rows[:len(PAPER_LABELS)]] == [f"{lab} (paper)" for lab in PAPER_LABELS]
    assert [r[2] for r in rows[:len(PAPER_LABELS)]] == ["single" if lab.endswith("s") else "all"
                                                       for lab in PAPER_LABELS]
    assert [r[:3] for r in rows[len(PAPER_LABELS):]] == [
        ["enh_a", "enhanced", "all"], ["enh_a", "enhanced_single", "single"],
        ["enh_b", "enhanced", "all"], ["enh_b", "enhanced_single", "single"]]
    assert all(len(r) == len(header) for r in rows)


def test_other_sets_per_task_columns(tmp_path):
    """Sets that are not one of the paper's five keep one column per task pattern (averaged per mixture)."""
    exp = tmp_path / "exp" / "enh_model"
    write_scores(exp / "enhanced_test", "test", "all",
                 [("u4", "sfx", "USS", 12, 0)] * 4 + [("u2", "sfx", "USS", 0, 0)] * 2
                 + [("m", p, "MSS", 30, 2) for p in ("drums", "bass", "vocals", "other")])
    assert show_results.main([str(exp)]) == 0
    tables = table3_tables((exp / "RESULTS.md").read_text())
    assert len(tables) == 1  # no paper table without a paper test set
    header, rows = tables[0]
    assert header == ["model", "inference", "prompts", "USS SI-SNR (test)", "MSS SNR (test)"]
    assert rows == [["enh_model", "enhanced", "all", "6.00", "2.00"]]


def test_paper_table_data():
    from tuss_plugin import paper_table3 as p

    assert [c.header for c in p.COLUMNS] == PAPER_HEADERS
    assert [c.metric for c in p.COLUMNS] == ["si_snr"] * 5 + ["snr"] * 4 + ["si_snr"] * 3
    assert [r.label for r in p.ROWS] == PAPER_LABELS
    for r in p.ROWS:
        assert r.mode == ("single" if r.label.endswith("s") else "all")
        assert len(r.values) == len(p.COLUMNS)
        assert all(v is None or -10 < v < 40 for v in r.values)
    names = {"test_vctk_demand": "vctk_demand", "test_wham": "wham", "test_fuss": "fuss",
             "test_musdb18hq": "musdb18hq", "test_dnr": "dnr", "fuss": "fuss",
             "test": None, "test_whamr": None, "test_vctk": None}
    assert {n: p.corpus_of_set(n) for n in names} == names


def test_recipe_stages_5_6_on_fake_paper_corpora(model_dir, tmp_path, one_thread):
    """Stages 5-6 (inference, scoring, RESULTS.md) on the five paper test sets, dumped from the fake
    corpora as stages 1-2 do, with the tiny TUSS: a full row of the 12 columns beside the paper's rows.
    One mixture per set (MUSDB-HQ: both channel utterances of one track) keeps it short."""
    import fake_eval_corpora as fake
    from tuss_plugin.bin import format_data, score, tuss_inference
    from tuss_plugin.dataprep import dnr, fuss, musdb18hq, vctk_demand, wham
    from tuss_plugin.kaldi_io import read_scp

    roots = fake.make_all(tmp_path / "corpora")
    modules = {"VCTK_DEMAND": vctk_demand, "WHAM": wham, "FUSS": fuss, "MUSDB18HQ": musdb18hq, "DNR": dnr}
    exp = tmp_path / "exp" / "enh_tiny"
    for var, module in modules.items():
        for dset, d in module.prepare(roots[var], data_dir=tmp_path / "data", sets=["test"]).items():
            dump = tmp_path / "dump" / dset
            assert format_data.main(["--fs", "native", "--mix_from_refs", "--on_error", "stop",
                                     str(d), str(dump)]) == 0
            utts = sorted(read_scp(dump / "wav.scp"))[: 2 if var == "MUSDB18HQ" else 1]
            keys = tmp_path / f"keys_{dset}"
            keys.write_text("".join(f"{u}\n" for u in utts))
            out = exp / f"enhanced_{dset}"
            assert tuss_inference.main(["--model", str(model_dir), "--data_dir", str(dump), "--key_file", str(keys),
                                        "--output_dir", str(out), "--eval_mode", "all"]) == 0
            (out / "eval_mode").write_text("all\n")
            (out / "eval_set").write_text(dset + "\n")
            assert score.main(["--ref_dir", str(dump), "--inf_dir", str(out), "--key_file", str(keys),
                               "--output", str(out / "scoring" / "scores.tsv")]) == 0
    assert show_results.main([str(exp)]) == 0
    assert show_results.main(["--compare", str(exp), "--output", str(tmp_path / "exp" / "RESULTS.md")]) == 0
    for res in (exp / "RESULTS.md", tmp_path / "exp" / "RESULTS.md"):
        tables = table3_tables(res.read_text())
        assert len(tables) == 1
        header, rows = tables[0]
        assert header == ["model", "inference", "prompts"] + PAPER_HEADERS
        assert [r[0] for r in rows[:len(PAPER_LABELS)]] == [f"{lab} (paper)" for lab in PAPER_LABELS]
        mine = rows[len(PAPER_LABELS):]
        assert [r[:3] for r in mine] == [["enh_tiny", "enhanced", "all"]]
        assert all(math.isfinite(float(v)) for v in mine[0][3:]), mine  # every column has a number
