# SPDX-License-Identifier: Apache-2.0
"""utils/data_dir.py: Kaldi's fix/copy/combine/subset for TUSS data dirs, the
extra lists (utt2prompts, spk<k>.scp, spk.scp, utt2category, ...) kept in sync,
so that utils/validate_data_dir.py accepts every result."""

import subprocess
import sys

from conftest import ROOT
from datagen import make_data_dir

TOOL = ROOT / "utils" / "data_dir.py"
VALIDATE = ROOT / "utils" / "validate_data_dir.py"
PROMPTS = [["speech", "sfxbg"], ["speech", "speech", "sfxbg"], ["vocals", "bass"]]


def _run(*args):
    r = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def _valid(d):
    rc, out = _run(VALIDATE, d)
    assert rc == 0, out


def _keys(path):
    return [line.split()[0] for line in path.read_text().splitlines()]


def test_fix_removes_utterances_missing_a_needed_list(tmp_path):
    d = make_data_dir(tmp_path / "d", PROMPTS, fs=8000, seconds=0.1)
    # utt001 (3 prompts) loses its third source; utt002 loses its prompts
    (d / "spk3.scp").write_text("")
    (d / "utt2prompts").write_text("".join(l + "\n" for l in (d / "utt2prompts").read_text().splitlines()[:2]))
    (d / "spk.scp").unlink()
    rc, out = _run(TOOL, "fix", d)
    assert rc == 0 and "2 utterance(s) removed" in out, out
    for name in ("wav.scp", "utt2prompts", "spk1.scp", "spk2.scp", "utt2category", "utt2num_samples", "utt2spk"):
        assert _keys(d / name) == ["utt000"], name
    assert _keys(d / "spk2utt") == ["utt000"]
    _valid(d)


def test_copy_combine_subset(tmp_path):
    a = make_data_dir(tmp_path / "a", PROMPTS, fs=8000, seconds=0.1)
    b = make_data_dir(tmp_path / "b", PROMPTS[:2], fs=8000, seconds=0.1, seed=1)
    rc, out = _run(TOOL, "combine", tmp_path / "ab", a, b)
    assert rc == 1 and "id utt000 is also in" in out and out.count("\n") == 1
    assert _run(TOOL, "copy", "--utt-prefix", "b_", b, tmp_path / "b2")[0] == 0
    assert _keys(tmp_path / "b2" / "utt2prompts") == ["b_utt000", "b_utt001"]
    rc, out = _run(TOOL, "combine", tmp_path / "ab", a, tmp_path / "b2")
    assert rc == 0, out
    assert len(_keys(tmp_path / "ab" / "wav.scp")) == 5 and len(_keys(tmp_path / "ab" / "spk3.scp")) == 2
    _valid(tmp_path / "ab")
    rc, out = _run(TOOL, "subset", "--first", "2", tmp_path / "ab", tmp_path / "sub")
    assert rc == 0 and "2 utterance(s)" in out
    assert _keys(tmp_path / "sub" / "spk3.scp") == ["b_utt001"]
    _valid(tmp_path / "sub")
    (tmp_path / "keep").write_text("utt002\n")
    assert _run(TOOL, "subset", "--utt-list", tmp_path / "keep", a, tmp_path / "one")[0] == 0
    assert _keys(tmp_path / "one" / "utt2prompts") == ["utt002"] and not _keys(tmp_path / "one" / "spk3.scp")
    _valid(tmp_path / "one")
