"""Atomic writes: a reader sees the old file or the whole new one, never a torn or empty one."""

import os
import threading

import pytest

from llmmusic import atomic


def test_write_bytes_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "f.bin"
    atomic.write_bytes(path, b"one")
    atomic.write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_a_reader_of_the_old_file_keeps_reading_all_of_it(tmp_path):
    """The new content goes to a new file renamed over the old one: a file opened before the write still
    holds every byte of the old content (an in-place rewrite would truncate it under the reader)."""
    path = tmp_path / "f.bin"
    old = b"old " * 50_000
    atomic.write_bytes(path, old)
    with open(path, "rb") as reader:
        atomic.write_bytes(path, b"new")
        assert reader.read() == old
    assert path.read_bytes() == b"new"


def test_a_write_that_fails_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic.write_bytes(path, b"old content")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic.write_bytes(path, b"new content that never lands")
    monkeypatch.undo()
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_concurrent_reader_never_sees_a_partial_file(tmp_path):
    """A reader polling while the file is rewritten 30 times sees one whole payload every time."""
    path = tmp_path / "f.bin"
    payloads = [bytes([65 + k]) * 2_000_000 for k in range(3)]
    atomic.write_bytes(path, payloads[0])
    seen, stop = [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = path.read_bytes()
            seen.append(data in payloads)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for k in range(30):
            atomic.write_bytes(path, payloads[k % 3])
    finally:
        stop.set()
        reader.join()
    assert seen and all(seen), f"{seen.count(False)} of {len(seen)} reads saw a torn or empty file"


def test_append_line_adds_exactly_one_newline(tmp_path):
    path = tmp_path / "m.jsonl"
    atomic.append_line(path, '{"a": 1}')
    atomic.append_line(path, '{"b": 2}\n')
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'


def test_append_line_is_one_write_call(tmp_path, monkeypatch):
    """One ``write`` per line: two processes appending at once interleave whole lines, never halves."""
    calls = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: calls.append(bytes(data)) or real_write(fd, data))
    atomic.append_line(tmp_path / "m.jsonl", "x" * 10_000)
    assert calls == [b"x" * 10_000 + b"\n"]
