# SPDX-License-Identifier: Apache-2.0
"""One averaging for every table and result file: the mean over mixtures of
each mixture's mean over its outputs (as ESPnet's result_<metric>.txt), so
RESULTS.md and result_*.txt agree where they show the same quantity."""

from tuss_plugin.bin import show_results
from tuss_plugin.scoring import tables

HEADER = ["utt", "output", "prompt", "task", "si_snr", "si_snri", "snr", "sdr", "si_sdr"]


def _scores(exp):
    # mixture a: one output at 10 dB; mixture b: three outputs at 0 dB.
    # mean over outputs 2.5 dB, mean over mixtures 5.0 dB
    rows = [["a", 1, "speech", "SE", 10, 10, 10, 10, 10]] + [["b", k, "sfx", "USS", 0, 0, 0, 0, 0] for k in (1, 2, 3)]
    d = exp / "enhanced_test" / "scoring"
    d.mkdir(parents=True)
    text = "\n".join("\t".join(map(str, r)) for r in [HEADER] + rows) + "\n"
    (d / "scores.tsv").write_text(text)
    return rows


def test_results_md_and_result_files_average_alike(tmp_path):
    exp = tmp_path / "exp" / "enh_x"
    rows = _scores(exp)
    assert show_results.main([str(exp)]) == 0
    md = (exp / "RESULTS.md").read_text()
    all_outputs = md.split("### All outputs")[1].split("###")[0]
    assert "|enhanced_test|4|5.00|5.00|5.00|5.00|" in all_outputs, all_outputs
    as_dicts = [dict(zip(HEADER, r)) for r in rows]
    assert tables.result_files(as_dicts, ["si_snr"]) == {"result_si_snr.txt": "5.00\n"}
    assert "Every mean below is over mixtures" in md
