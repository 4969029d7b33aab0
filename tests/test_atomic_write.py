"""atomic_write and write_all: every byte checked, the user's umask honoured, the commit durable."""

import errno
import os
import stat

import pytest

import mlp.checkpoint
from mlp.checkpoint import atomic_write, write_all

OLD, NEW = b"the previous contents\n", bytes(range(256)) * 64  # 16 KiB


def disk_that_fills_up(monkeypatch, room, then):
    """Replace os.write by one that writes `room` bytes in all, then returns 0 or raises."""
    real_write, left = os.write, [room]

    def write(fd, data):
        if left[0] == 0:
            if then == "raises":
                raise OSError(errno.ENOSPC, "No space left on device")  # no file name, as os.write
            return 0
        count = real_write(fd, bytes(data[: left[0]]))  # a short write, as the kernel's when full
        left[0] -= count
        return count

    monkeypatch.setattr(mlp.checkpoint.os, "write", write)


@pytest.mark.parametrize("then", ["returns 0", "raises"])
def test_a_disk_that_fills_halfway_leaves_the_target_untouched_and_names_it(
    tmp_path, monkeypatch, then
):
    target = tmp_path / "model.npz"
    target.write_bytes(OLD)
    disk_that_fills_up(monkeypatch, room=len(NEW) // 2, then=then)
    with pytest.raises(OSError) as info:
        atomic_write(target, lambda file: file.write(NEW))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["model.npz"]  # the temporary file is gone


def test_write_all_retries_short_writes_until_every_byte_is_written(tmp_path, monkeypatch):
    real_write, calls = os.write, []

    def one_byte_at_a_time(fd, data):
        calls.append(len(data))
        return real_write(fd, bytes(data[:1]))

    monkeypatch.setattr(mlp.checkpoint.os, "write", one_byte_at_a_time)
    path = tmp_path / "metrics.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        write_all(fd, b"hello\n", path)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"hello\n" and calls == [6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_mode_the_users_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "summary.json", lambda file: file.write(b"{}"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == mode


def test_the_commit_is_fsync_file_then_rename_thenfsync_directory(tmp_path, monkeypatch):
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst):
        assert os.path.basename(src).startswith(".model.npz.") and str(src).endswith(".tmp")
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(mlp.checkpoint.os, "fsync", fsync)
    monkeypatch.setattr(mlp.checkpoint.os, "replace", replace)
    atomic_write(tmp_path / "model.npz", lambda file: file.write(NEW))
    assert events == ["fsync file", "rename", "fsync dir"]
    assert (tmp_path / "model.npz").read_bytes() == NEW


def test_a_temporary_file_that_cannot_be_made_is_reported_under_the_real_name(tmp_path):
    target = tmp_path / "no-such-folder" / "model.npz"
    with pytest.raises(OSError) as caught:
        atomic_write(target, lambda file: file.write(b"x"))
    assert caught.value.filename == str(target)
    assert ".tmp" not in str(caught.value)
