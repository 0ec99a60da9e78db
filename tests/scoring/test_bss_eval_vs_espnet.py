# SPDX-License-Identifier: Apache-2.0
"""SDR, SIR and SAR of ``score --bss_eval`` (SIR, SAR) equal ESPnet's ``enh_scoring`` on the
same files to 1e-3 dB (per output and in ``result_<metric>.txt``), and so do
the SI-SNR and STOI columns."""

import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.bin import score
from tuss_plugin.fileio.kaldi_io import read_dict

from datagen import make_data_dir


def _outputs(data, inf, seed=0):
    """Leaky outputs (each reference, a third of the other, noise), listed in the
    swapped order so that both sides must find the assignment."""
    rng = np.random.default_rng(seed)
    (inf / "wavs").mkdir(parents=True)
    lines = defaultdict(list)
    for utt, paths in read_dict(data / "spk.scp").items():
        refs = [sf.read(p)[0] for p in paths]
        fs = sf.info(paths[0]).samplerate
        for k, (a, b) in enumerate(((refs[1], refs[0]), (refs[0], refs[1])), 1):
            y = a + 0.3 * b + 0.05 * np.std(a) * rng.standard_normal(len(a))
            sf.write(inf / "wavs" / f"{utt}_{k}.wav", y, fs, subtype="FLOAT")
            lines[k].append(f"{utt} {inf / 'wavs' / f'{utt}_{k}.wav'}\n")
    for k, rows in lines.items():
        (inf / f"spk{k}.scp").write_text("".join(rows))
    (inf / "utt2prompts").write_text((data / "utt2prompts").read_text())


def _espnet_scores(data, inf, out):
    cmd = [sys.executable, "-m", "espnet2.bin.enh_scoring", "--key_file", str(data / "wav.scp"),
           "--ref_scp", str(data / "spk1.scp"), "--ref_scp", str(data / "spk2.scp"),
           "--inf_scp", str(inf / "spk1.scp"), "--inf_scp", str(inf / "spk2.scp"),
           "--output_dir", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return {
        m: {k: {u: float(v[0]) for u, v in read_dict(out / f"{m}_spk{k}").items()} for k in (1, 2)}
        for m in ("SDR", "SIR", "SAR", "SI_SNR", "STOI")
    }


def test_sdr_sir_sar_equal_espnet_enh_scoring(tmp_path):
    data = make_data_dir(tmp_path / "data", [["speech", "speech"]] * 3, fs=8000, seconds=1.0)
    inf = tmp_path / "inf"
    _outputs(data, inf)
    espnet = _espnet_scores(data, inf, tmp_path / "espnet")
    out = tmp_path / "ours" / "scores.tsv"
    assert score.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(out), "--bss_eval"]) == 0
    lines = out.read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, line.split("\t"))) for line in lines[1:]]
    assert len(rows) == 6
    ours_to_espnet = {"sdr": "SDR", "sir": "SIR", "sar": "SAR", "si_snr": "SI_SNR", "stoi": "STOI"}
    # output 1 holds reference 2 and output 2 reference 1 (ESPnet's spk<k> is reference k)
    diffs = {}
    for metric, theirs in ours_to_espnet.items():
        got = np.array([float(r[metric]) for r in rows])
        want = np.array([espnet[theirs][3 - int(r["output"])][r["utt"]] for r in rows])
        diffs[metric] = float(np.abs(got - want).max())
    print("max |ours - enh_scoring| (dB; STOI in %):", diffs)
    assert all(d <= 1e-3 for d in diffs.values()), diffs
    # result files: the mean over mixtures of the mean over outputs (enh.sh's result_<metric>.txt)
    for metric, theirs in (("sir", "SIR"), ("sar", "SAR"), ("sdr", "SDR"), ("si_snr", "SI_SNR")):
        per_utt = [np.mean([espnet[theirs][k][u] for k in (1, 2)]) for u in espnet[theirs][1]]
        assert (out.parent / f"result_{metric}.txt").read_text().strip() == f"{np.mean(per_utt):.2f}"


def test_silent_output_gives_nan_not_an_error(tmp_path):
    from tuss_plugin.scoring.bss_eval import bss_eval_pairs

    rng = np.random.default_rng(0)
    refs = [rng.standard_normal(4000), rng.standard_normal(4000)]
    got = bss_eval_pairs(refs, [refs[0], np.zeros(4000)], [(0, 0), (1, 1)])
    assert all(np.isnan(v) for row in got for v in row.values())
    assert bss_eval_pairs(refs, refs, []) == []
    assert bss_eval_pairs(refs, refs, [(0, 0), (1, 1)])[0]["sir"] > 100


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
