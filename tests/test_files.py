"""Outputs are atomic: a failing, interrupted or killed run leaves the old output as it was
and (for every catchable stop) no temp file behind."""

import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import _atomic
from vqcodec.cli import main

OLD = b"the previous output, which must survive"


@pytest.fixture
def big_photo(tmp_path):
    """A noisy 600x400 gray image: its .vq file at bits 8 is about 240 KB."""
    rng = np.random.default_rng(11)
    path = tmp_path / "big.png"
    Image.fromarray(rng.integers(0, 256, (400, 600), dtype=np.uint8)).save(path)
    return path


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_signal_during_the_write_removes_the_temp_and_keeps_the_old_output(
    big_photo, tmp_path, monkeypatch, capsys
):
    """SIGTERM arrives mid-write (sent by the process to itself): exit 143, nothing lost."""
    out = tmp_path / "big.vq"
    out.write_bytes(OLD)
    real_output = _atomic.atomic_output

    def interrupted_output(path):
        manager = real_output(path)

        class Wrapper:
            def __enter__(self):
                handle = manager.__enter__()
                real_write = handle.write

                def write(data):
                    real_write(data[: len(data) // 2])
                    os.kill(os.getpid(), signal.SIGTERM)
                    return real_write(data[len(data) // 2 :])

                handle.write = write
                return handle

            def __exit__(self, *exc):
                return manager.__exit__(*exc)

        return Wrapper()

    monkeypatch.setattr(_atomic, "atomic_output", interrupted_output)  # write_bytes uses it
    assert main(["encode", str(big_photo), "-o", str(out), "--force", "--bits", "8"]) == 143
    assert "stopped by SIGTERM" in capsys.readouterr().err
    assert out.read_bytes() == OLD
    assert leftovers(tmp_path) == []


def run_cli(args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "vqcodec", *args], capture_output=True, text=True, **kwargs
    )


def test_file_size_limit_mid_write_is_an_error_not_a_torn_file(big_photo, tmp_path):
    """A process limited to 64 KB files (RLIMIT_FSIZE) fails with EFBIG half-way through."""
    out = tmp_path / "big.vq"
    out.write_bytes(OLD)

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    result = run_cli(
        ["encode", str(big_photo), "-o", str(out), "--force", "--bits", "8"], preexec_fn=limit
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("vqcodec: error: ") and result.stderr.count("\n") == 1
    assert "too large" in result.stderr.lower()
    assert out.read_bytes() == OLD
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_killed_at_any_moment_the_output_is_old_or_whole(big_photo, tmp_path, signum):
    """Kill encodes at a spread of moments. Whatever the moment, the output is the old bytes
    or a complete valid file; after SIGTERM no temp file is left (SIGKILL cannot be caught:
    there a hidden temp file may remain, the output is still never torn)."""
    out = tmp_path / "big.vq"
    expected_new = vqcodec.encode(np.asarray(Image.open(big_photo)), 8)
    for delay in (0.2, 0.5, 0.8, 1.1, 1.4, 1.7, 2.0):
        out.write_bytes(OLD)
        process = subprocess.Popen(
            [sys.executable, "-m", "vqcodec", "encode", str(big_photo), "-o", str(out),
             "--force", "--bits", "8", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(delay)
        process.send_signal(signum)
        process.communicate(timeout=60)
        assert out.read_bytes() in (OLD, expected_new)
        if signum == signal.SIGTERM:
            assert leftovers(tmp_path) == []
        for name in leftovers(tmp_path):
            os.unlink(tmp_path / name)


def test_library_write_failure_leaves_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "x.vq"
    out.write_bytes(OLD)

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space"):
        vqcodec.write(out, np.zeros((8, 8), np.uint8), bits=1)
    assert out.read_bytes() == OLD
    assert leftovers(tmp_path) == []
