# SPDX-License-Identifier: Apache-2.0
"""Stage 6 pairs outputs with references separately for each metric, as the TUSS authors'
test step: hand-made signals where the training criterion (zero-reference SNR loss over all
outputs) and the best SI-SDR choose different outputs, for a fixed-output model and for a
repeated prompt (WHAM!'s speech speech)."""

from pathlib import Path
from typing import List

import numpy as np
import soundfile as sf

from tuss_plugin.bin import score
from tuss_plugin.fileio.kaldi_io import read_dict
from tuss_plugin.scoring.metrics import INTERCHANGEABLE, match_fixed_outputs, si_sdr, snr

from datagen import make_data_dir

FS = 8000


def _write_outputs(inf: Path, outs: List[np.ndarray], prompts: List[str]) -> None:
    for k, o in enumerate(outs, 1):
        (inf / "wavs" / str(k)).mkdir(parents=True)
        sf.write(inf / "wavs" / str(k) / "utt000.wav", o, FS, subtype="FLOAT")
        (inf / f"spk{k}.scp").write_text(f"utt000 {inf / 'wavs' / str(k) / 'utt000.wav'}\n")
    (inf / "utt2prompts").write_text("utt000 " + " ".join(prompts) + "\n")


def _candidates(ref: np.ndarray, rng) -> List[np.ndarray]:
    """A: the reference at a tenth of its level (SI-SDR 70 dB, SNR under 1 dB);
    B: the reference plus noise (SI-SDR and SNR about 10 dB)."""
    quiet = 0.1 * ref
    noisy = ref + 0.3 * np.std(ref) * rng.standard_normal(len(ref))
    return [quiet, noisy]


def _rows(path: Path) -> List[dict]:
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def _score(data: Path, inf: Path, *extra: str) -> List[dict]:
    out = inf / "scoring" / "scores.tsv"
    args = ["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(out), "--no_speech_metrics"]
    assert score.main(args + list(extra)) == 0
    return _rows(out)


def test_fixed_output_model_pairs_each_metric_by_itself(tmp_path):
    data = make_data_dir(tmp_path / "data", [["speech"]], fs=FS, seconds=0.25)
    ref = sf.read(read_dict(data / "spk.scp")["utt000"][0])[0]
    quiet, noisy = _candidates(ref, np.random.default_rng(0))
    inf = tmp_path / "inf"
    _write_outputs(inf, [quiet, noisy], [INTERCHANGEABLE] * 2)
    # the training criterion (padded with silence) takes the noisy output; SI-SDR prefers the quiet one
    assert match_fixed_outputs([ref], [quiet, noisy]) == [(1, 0)]
    assert si_sdr(quiet, ref) > si_sdr(noisy, ref) + 20 and snr(noisy, ref) > snr(quiet, ref) + 5
    (row,) = _score(data, inf)
    assert row["output"] == "1"  # the si_sdr assignment's output
    assert float(row["si_sdr"]) == round(si_sdr(quiet, ref), 4)  # best SI-SDR
    assert float(row["snr"]) == round(snr(noisy, ref), 4)  # best SNR
    # the shared assignment of the training criterion: every metric on the noisy output
    (row,) = _score(data, tmp_path / "inf", "--pairing", "shared")
    assert row["output"] == "2"
    assert float(row["si_sdr"]) == round(si_sdr(noisy, ref), 4)
    assert float(row["snr"]) == round(snr(noisy, ref), 4)


def test_repeated_prompts_pair_per_metric(tmp_path):
    """speech speech sfxbg: the two speech outputs are interchangeable; each speaker's SI-SDR and
    SNR columns take the assignment that maximises that metric over the two speakers."""
    data = make_data_dir(tmp_path / "data", [["speech", "speech", "sfxbg"]], fs=FS, seconds=0.25)
    refs = [sf.read(p)[0] for p in read_dict(data / "spk.scp")["utt000"]]
    rng = np.random.default_rng(1)
    quiet, noisy = _candidates(refs[0], rng)
    # output 1: speaker 1 at a tenth of its level (SI-SDR 70 dB against speaker 1);
    # output 2: speaker 1 with noise and a little of speaker 2: by SI-SDR output 1 is speaker 1
    # and output 2 speaker 2; by SNR output 2 is speaker 1 (10 dB) and output 1 speaker 2
    out1 = quiet
    out2 = noisy + 0.1 * np.std(refs[0]) / np.std(refs[1]) * refs[1]
    sfx = refs[2] + 0.01 * np.std(refs[2]) * rng.standard_normal(len(refs[2]))
    inf = tmp_path / "inf"
    _write_outputs(inf, [out1, out2, sfx], ["speech", "speech", "sfxbg"])

    def best(metric):
        straight = metric(out1, refs[0]) + metric(out2, refs[1])
        crossed = metric(out2, refs[0]) + metric(out1, refs[1])
        return {0: out1, 1: out2} if straight >= crossed else {0: out2, 1: out1}

    assert best(si_sdr)[0] is not best(snr)[0]  # the metrics disagree
    rows = _score(data, inf)
    speech = sorted((r for r in rows if r["prompt"] == "speech"), key=lambda r: r["output"])
    got_si = sorted(float(r["si_sdr"]) for r in speech)
    got_snr = sorted(float(r["snr"]) for r in speech)
    want_si = sorted(round(si_sdr(best(si_sdr)[k], refs[k]), 4) for k in (0, 1))
    want_snr = sorted(round(snr(best(snr)[k], refs[k]), 4) for k in (0, 1))
    assert got_si == want_si and got_snr == want_snr
    assert [r["prompt"] for r in rows].count("sfxbg") == 1
