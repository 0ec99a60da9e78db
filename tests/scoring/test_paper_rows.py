# SPDX-License-Identifier: Apache-2.0
"""The paper's published Table III (tuss_plugin.scoring.paper_table3) against the shared copy of the
paper's table, and the difference rows of RESULTS.md for a model that names its paper row."""

import argparse
from pathlib import Path

import pytest
from test_table3 import PAPER_HEADERS, cells, scored_exp, table3_tables

from tuss_plugin.bin import show_results

REPO = Path(__file__).resolve().parents[2]
SHARED_TABLE = REPO.parent / "shared" / "paper" / "table3.tsv"
TSV_COLUMNS = [
    "vctk_demand.speech",
    "vctk_demand.sfxbg",
    "wham.speech",
    "wham.sfxbg",
    "fuss.sfx",
    "musdb18hq.vocals",
    "musdb18hq.bass",
    "musdb18hq.drums",
    "musdb18hq.other",
    "dnr.speech",
    "dnr.musicbg",
    "dnr.sfxbg",
]


def read_shared_table():
    assert SHARED_TABLE.is_file(), f"{SHARED_TABLE}: the paper's Table III (../shared/paper beside the repository)"
    lines = [l for l in SHARED_TABLE.read_text().splitlines() if l.strip() and not l.startswith("#")]
    header = lines[0].split("\t")
    return header, [dict(zip(header, l.split("\t"))) for l in lines[1:]]


def test_paper_numbers_equal_the_shared_file():
    from tuss_plugin.scoring import paper_table3 as p

    header, rows = read_shared_table()
    assert header[3:] == TSV_COLUMNS
    assert [f"{c.corpus}.{c.prompt}" for c in p.COLUMNS] == TSV_COLUMNS
    assert [r.label for r in p.ROWS] == [row["row"] for row in rows]
    for r, row in zip(p.ROWS, rows):
        assert r.description == row["model"], r.label
        assert r.mode == ("single" if row["eval_prompts"] == "single" else "all"), r.label
        assert r.values == tuple(float(row[c]) for c in TSV_COLUMNS), r.label


def test_paper_row_of_a_mode():
    from tuss_plugin.scoring.paper_table3 import paper_row

    assert paper_row("M5").label == "M5" and paper_row("M5", "single") is None
    assert paper_row("L5", "single").label == "L5s" and paper_row("L5s").label == "L5"
    assert paper_row("L6s", "single").label == "L6s" and paper_row("X1") is None


def test_paper_row_option():
    from tuss_plugin.scoring.paper_table3 import row_label

    assert row_label("M5") == "M5" and row_label("null") is None
    with pytest.raises(argparse.ArgumentTypeError, match="not a row of Table III"):
        row_label("M7")


def test_difference_rows_beside_the_named_paper_row(tmp_path):
    """A model whose config.yaml names L5 gets '<model> - L5 (paper)' under its all row and
    '<model> - L5s (paper)' under its single row; a model naming nothing gets none."""
    from tuss_plugin.scoring.paper_table3 import paper_row

    expdir = tmp_path / "exp"
    for name in ("enh_a", "enh_b"):
        for mode in ("all", "single"):
            scored_exp(expdir / name, mode)
    (expdir / "enh_a" / "config.yaml").write_text("separator: tuss\npaper_row: L5\n")
    out = expdir / "RESULTS.md"
    assert show_results.main(["--compare", str(expdir / "enh_a"), str(expdir / "enh_b"), "--output", str(out)]) == 0
    header, rows = table3_tables(out.read_text())[0]
    paper = rows[:12]
    assert all(c != "" for r in paper for c in r), "a paper row with an empty cell"
    mine = rows[12:]
    assert [r[0] for r in mine] == [
        "enh_a",
        "enh_a - L5 (paper)",
        "enh_a",
        "enh_a - L5s (paper)",
        "enh_b",
        "enh_b",
    ]
    for k, mode in ((1, "all"), (3, "single")):
        user, diff = cells(header, mine[k - 1]), cells(header, mine[k])
        want = paper_row("L5", mode).values
        for h, v in zip(PAPER_HEADERS, want):
            assert float(diff[h]) == pytest.approx(float(user[h]) - v, abs=0.006), (mode, h)
    # the user cells of test_table3's hand-made scores: VCTK-DEMAND Speech 15.00 -> 15.00 - 19.8
    assert cells(header, mine[1])["VCTK-DEMAND Speech"] == "-4.80"


def test_paper_row_file_for_models_without_config(tmp_path):
    exp = tmp_path / "exp" / "enh_download"
    scored_exp(exp)
    (exp / "paper_row").write_text("M5\n")
    assert show_results.main([str(exp)]) == 0
    header, rows = table3_tables((exp / "RESULTS.md").read_text())[0]
    assert [r[0] for r in rows[12:]] == ["enh_download", "enh_download - M5 (paper)"]
    assert cells(header, rows[13])["FUSS SFX"] == f"{6.0 - 9.6:+.2f}"


def test_paper_rows_per_task_beside_a_recipe_of_other_sets(tmp_path):
    """A recipe whose test sets are not the paper's (the mini recipe) shows the
    published rows too, each task pattern's columns averaged as a mixture's
    outputs are (SE: VCTK-DEMAND speech and SFX-mix; SS: WHAM!, two speech
    outputs and one SFX-mix; USS: FUSS; MSS: MUSDB-HQ; CASS: DnR), no cell empty."""
    from test_table3 import write_scores

    from tuss_plugin.scoring.paper_table3 import ROWS

    exp = tmp_path / "exp" / "enh_mini"
    rows = [("a", "speech", "SE", 10, 0), ("a", "sfxbg", "SE", 4, 0)]
    rows += [("b", "speech", "SS", 5, 0), ("b", "speech", "SS", 7, 0), ("b", "sfxbg", "SS", 6, 0)]
    rows += [("c", "sfx", "USS", 3, 0), ("c", "sfx", "USS", 1, 0)]
    rows += [("d", p, "MSS", 0, 4) for p in ("drums", "bass", "vocals", "other")]
    rows += [("e", p, "CASS", 9, 0) for p in ("speech", "sfxbg", "musicbg")]
    write_scores(exp / "enhanced_test", "test", "all", rows)
    assert show_results.main([str(exp)]) == 0
    results = (exp / "RESULTS.md").read_text()
    ((header, body),) = table3_tables(results)
    assert header == ["model", "inference", "prompts"] + [f"{t} (test)" for t in
        ("SE SI-SNR", "SS SI-SNR", "USS SI-SNR", "MSS SNR", "CASS SI-SNR")]  # fmt: skip
    assert body[0] == ["enh_mini", "enhanced", "all", "7.00", "6.00", "2.00", "4.00", "9.00"]
    paper = {r[0]: r for r in body[1:]}
    assert list(paper) == [f"{r.label} (paper, per task)" for r in ROWS]
    m5 = dict(zip(("vd_s", "vd_b", "w_s", "w_b", "fuss", "voc", "bass", "drums", "oth", "d_s", "d_m", "d_b"),
                  next(r for r in ROWS if r.label == "M5").values))  # fmt: skip
    expected = [
        (m5["vd_s"] + m5["vd_b"]) / 2,
        (2 * m5["w_s"] + m5["w_b"]) / 3,
        m5["fuss"],
        (m5["voc"] + m5["bass"] + m5["drums"] + m5["oth"]) / 4,
        (m5["d_s"] + m5["d_m"] + m5["d_b"]) / 3,
    ]
    row = paper["M5 (paper, per task)"]
    assert row[1] == next(r for r in ROWS if r.label == "M5").description and row[2] == "all"
    assert [float(v) for v in row[3:]] == pytest.approx(expected, abs=0.006)
    assert all(v != "-" for r in body for v in r)
    assert "(paper, per task) rows" in results
