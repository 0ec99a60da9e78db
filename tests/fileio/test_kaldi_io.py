# SPDX-License-Identifier: Apache-2.0
"""The entries of wav.scp / spk<k>.scp as Kaldi and ESPnet read them: audio file
paths, pipe commands (``... |``) and archive offsets (``file.ark:1234``), read by
kaldi_io.read_audio_entry (recipe stage 2 only); the later stages refuse pipe
commands and offsets with a message that says to run stage 2 first."""

import shlex
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from tuss_plugin.fileio.kaldi_io import (
    check_not_pipe,
    check_plain_path,
    entry_files,
    entry_kind,
    read_audio_entry,
    stage2_problem,
)
from tuss_plugin.inference.datadir_outputs import utterance_prompts

FS = 8000
WHERE = "data/wav.scp: utt000"


def _noise(n=400, ch=None, seed=0):
    shape = (n,) if ch is None else (n, ch)
    return np.random.default_rng(seed).uniform(-0.5, 0.5, size=shape).astype(np.float32)


def _pcm16(n=400, seed=1):
    return np.random.default_rng(seed).integers(-20000, 20000, size=n).astype(np.int16)


def _one_line_error(value, where=WHERE):
    with pytest.raises(ValueError) as e:
        read_audio_entry(value, where)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{where}: "), msg
    return msg


def test_entry_kinds():
    assert entry_kind("/data/a b/x.wav") == "path"
    assert entry_kind("sox in.flac -t wav - |") == "pipe"
    assert entry_kind("sox in.flac -t wav -|  ") == "pipe"
    assert entry_kind("dump/feats.ark:1234") == "offset"
    assert entry_kind("x.wav:") == "path" and entry_kind("a:b.wav") == "path"


def test_entry_files(tmp_path):
    wav = tmp_path / "in.wav"
    wav.write_bytes(b"")
    assert entry_files(str(wav)) == [str(wav)]
    assert entry_files(f"{tmp_path / 'x.ark'}:12") == [str(tmp_path / "x.ark")]
    assert entry_files(f"sox {shlex.quote(str(wav))} -t wav - |") == [str(wav)]
    assert entry_files("sox 'unbalanced -t wav - |") == []


def test_path_pipe_and_offset_read_the_same_samples(tmp_path):
    """WAV of float and 16-bit samples through a pipe (soundfile, kaldiio), a
    soundfile-written archive entry and a WAV copied into an archive (kaldiio)."""
    x = _noise(ch=2)
    sf.write(tmp_path / "float.wav", x, FS, subtype="FLOAT")
    q = _pcm16()
    sf.write(tmp_path / "pcm16.wav", q, FS, subtype="PCM_16")
    want_float, _ = sf.read(tmp_path / "float.wav", dtype="float32")
    want_pcm, _ = sf.read(tmp_path / "pcm16.wav", dtype="float32")
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'a.ark'},{tmp_path / 'a.scp'}", write_function="soundfile") as w:
        w("utt000", (FS, q))
    ark_entry = (tmp_path / "a.scp").read_text().split()[1]
    raw = tmp_path / "raw.ark"  # Kaldi's wav-copy layout: "<key> " then the WAV file
    raw.write_bytes(b"k1 " + (tmp_path / "float.wav").read_bytes() + b"k2 " + (tmp_path / "pcm16.wav").read_bytes())
    second = 3 + (tmp_path / "float.wav").stat().st_size + 3
    cases = {
        str(tmp_path / "float.wav"): want_float,
        f"cat {tmp_path / 'float.wav'} |": want_float,
        f"cat {tmp_path / 'pcm16.wav'} |": want_pcm,
        ark_entry: want_pcm,
        f"{raw}:3": want_float,
        f"{raw}:{second}": want_pcm,
    }
    for entry, want in cases.items():
        y, fs = read_audio_entry(entry, WHERE)
        assert fs == FS and y.dtype == np.float32 and np.array_equal(y, want), entry


def test_failing_command_is_one_line_with_status_and_error_output(tmp_path):
    missing = tmp_path / "missing.flac"
    msg = _one_line_error(f"cat {missing} |")
    assert f"'cat {missing} |': the command failed (exit status 1: cat: " in msg and "No such file" in msg, msg
    msg = _one_line_error("echo one >&2; echo two >&2; exit 3 |")
    assert msg.endswith("the command failed (exit status 3: one two)"), msg
    assert _one_line_error("true |").endswith("the command wrote nothing (audio expected on its standard output)")
    msg = _one_line_error("echo hello |")
    assert "'echo hello |': not audio (" in msg and "b'hello" in msg, msg


def test_archive_entries_that_are_not_audio(tmp_path):
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'f.ark'},{tmp_path / 'f.scp'}") as w:
        w("utt000", np.zeros((5, 3), dtype=np.float32))  # features, not audio
    entry = (tmp_path / "f.scp").read_text().split()[1]
    assert _one_line_error(entry).endswith(f"{entry!r}: not audio (a Kaldi binary matrix or vector)")
    ark = tmp_path / "f.ark"
    size = ark.stat().st_size
    assert _one_line_error(f"{ark}:{size}").endswith(f"offset {size} is past the end of {ark} ({size} bytes)")
    assert _one_line_error(f"{tmp_path / 'none.ark'}:0").endswith(f"no such archive file {tmp_path / 'none.ark'}")
    assert "not audio (starts with" in _one_line_error(f"{ark}:1")


def test_pipe_commands_get_no_standard_input(tmp_path):
    """A command that reads its input (a mistake in a list) ends at once instead of waiting."""
    assert _one_line_error("cat |").endswith("the command wrote nothing (audio expected on its standard output)")


def test_later_stages_refuse_with_a_pointer_to_stage2():
    pipe, offset = "sox in.flac -t wav - |", "x.ark:12"
    for value, what in ((pipe, "is a pipe command"), (offset, "is an archive offset (<file>:<byte offset>)")):
        msg = stage2_problem(value, "dump/wav.scp: utt000")
        assert msg.startswith(f"dump/wav.scp: utt000: {value!r} {what}; only recipe stage 2 ") and "\n" not in msg
        assert "python -m tuss_plugin.bin.format_data" in msg and "run it on this data dir first" in msg
        with pytest.raises(ValueError, match="format_data"):
            check_plain_path(value, "w")
        with pytest.raises(ValueError) as e:  # stage 5 refuses the entry before using the model
            utterance_prompts(None, "u", {"u": value}, {}, None, None, Path("d"))
        assert str(e.value) == stage2_problem(value, "d/wav.scp")
    with pytest.raises(ValueError, match="format_data"):
        check_not_pipe(pipe, "w")
    assert check_not_pipe(offset, "w") == offset  # the pipe check only (score refuses the missing file)
    assert stage2_problem("/data/x.wav", "w") is None and check_plain_path("/data/x.wav", "w") == "/data/x.wav"
