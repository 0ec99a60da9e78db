# SPDX-License-Identifier: Apache-2.0
"""Recipe stage 6 (score): entries whose signals cannot be paired are refused
with one line naming the utterance and counted; list errors are one line."""

import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.bin import score
from tuss_plugin.fileio.kaldi_io import read_dict, read_scp
from tuss_plugin.scoring import tables

from datagen import make_data_dir


def _outputs(data, inf, noise: float = 0.1):
    """Fake inference outputs of every utterance of ``data``: each reference
    plus noise, listed as stage 5 lists them (spk<k>.scp, utt2prompts)."""
    (inf / "wavs").mkdir(parents=True)
    rng = np.random.default_rng(0)
    prompts = read_dict(data / "utt2prompts")
    lines = {}
    for utt, refs in read_dict(data / "spk.scp").items():
        for k, r in enumerate(refs, 1):
            x, fs = sf.read(r)
            p = inf / "wavs" / f"{utt}_{k}.wav"
            sf.write(p, x + noise * np.std(x) * rng.standard_normal(len(x)), fs, subtype="FLOAT")
            lines.setdefault(k, []).append(f"{utt} {p}\n")
    for k, ls in lines.items():
        (inf / f"spk{k}.scp").write_text("".join(ls))
    (inf / "utt2prompts").write_text("".join(f"{u} {' '.join(p)}\n" for u, p in prompts.items()))
    return inf


@pytest.fixture
def dirs(tmp_path):
    data = make_data_dir(tmp_path / "data", [["speech", "sfxbg"], ["speech", "sfxbg"]], fs=8000, seconds=0.25)
    return data, _outputs(data, tmp_path / "inf")


def _score(data, inf, *extra):
    return score.main(["--ref_dir", str(data), "--inf_dir", str(inf), "--output", str(inf / "s.tsv"), *extra])


def _set_line(path, utt, value):
    lines = [f"{utt} {value}" if line.split()[0] == utt else line for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


def _resample_ref(data, utt, k, fs=None, n=None):
    """Rewrite reference ``k`` of ``utt`` at rate ``fs`` or with ``n`` samples."""
    p = read_dict(data / "spk.scp")[utt][k - 1]
    x, sr = sf.read(p)
    sf.write(p, x[:n] if n else x[:: sr // fs], fs or sr, subtype="FLOAT")


BREAKAGES = {
    # the utterance's prompt count differs from its reference count
    "fewer references": (
        lambda d, i: _set_line(d / "spk.scp", "utt001", read_dict(d / "spk.scp")["utt001"][0]),
        "utt001: 1 reference(s) for 2 prompt(s)",
    ),
    "fewer prompts": (
        lambda d, i: _set_line(d / "utt2prompts", "utt001", "sfxbg"),
        "utt001: 2 reference(s) for 1 prompt(s)",
    ),
    "fewer outputs": (
        lambda d, i: (i / "spk2.scp").write_text("utt000 " + read_scp(i / "spk2.scp")["utt000"] + "\n"),
        "utt001: 1 output(s) for 2 prompt(s)",
    ),
    "reference rate": (lambda d, i: _resample_ref(d, "utt001", 2, fs=4000), "4000 Hz"),
    "reference length": (lambda d, i: _resample_ref(d, "utt001", 1, n=1000), "1000 samples"),
    "missing output": (lambda d, i: (i / "wavs" / "utt001_2.wav").unlink(), "utt001_2.wav: no such file"),
    # not run: only recipe stage 2 (format_data) runs pipe commands, and the refusal says so
    "pipe mixture": (
        lambda d, i: _set_line(d / "wav.scp", "utt001", "sox x.flac -t wav - |"),
        "'sox x.flac -t wav - |' is a pipe command; only recipe stage 2 (python -m tuss_plugin.bin.format_data)",
    ),
}


@pytest.mark.parametrize("case", BREAKAGES)
def test_unpairable_entry_is_refused_and_counted(dirs, capsys, case):
    data, inf = dirs
    breakage, msg = BREAKAGES[case]
    breakage(data, inf)
    assert _score(data, inf) == 0
    out, err = capsys.readouterr()
    err = err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("score: refused: utt001: ") and msg in err[0], err
    assert "2 utterance(s), 1 refused" in out.strip().splitlines()[-1], out
    rows = (inf / "s.tsv").read_text().splitlines()[1:]
    assert {r.split("\t")[0] for r in rows} == {"utt000"} and len(rows) == 2


def test_everything_refused_is_an_error(dirs, capsys):
    data, inf = dirs
    (data / "utt2prompts").write_text("utt000 sfxbg\nutt001 sfxbg\n")
    assert _score(data, inf) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and err[-1] == "score: error: nothing scored: 2 of 2 utterance(s) refused", err
    assert not (inf / "s.tsv").exists()


def test_duplicate_key_is_one_line(dirs, capsys):
    data, inf = dirs
    with open(inf / "spk1.scp", "a") as f:
        f.write(f"utt000 {inf / 'wavs' / 'utt001_1.wav'}\n")
    assert _score(data, inf) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"score: error: {inf / 'spk1.scp'}:3: duplicate key utt000"]


def test_empty_key_list_is_an_error(dirs, capsys):
    data, inf = dirs
    (inf / "keys.scp").write_text("")
    assert _score(data, inf, "--key_file", str(inf / "keys.scp")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"score: error: no utterances to score in {inf / 'keys.scp'}"]
    assert not (inf / "s.tsv").exists()


def test_good_entries_scored_as_before(dirs, capsys):
    data, inf = dirs
    assert _score(data, inf) == 0
    rows = [r.split("\t") for r in (inf / "s.tsv").read_text().splitlines()]
    assert rows[0] == tables.COLUMNS and len(rows) == 5
    assert [r[2] for r in rows[1:]] == ["speech", "sfxbg"] * 2
    assert all(18 < float(r[4]) < 22 for r in rows[1:])  # outputs 20 dB above their error
    assert "0 refused" not in capsys.readouterr().out
