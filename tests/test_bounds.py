"""The decoder's work and memory are bounded by its input (issue 14, spec §4.2 and §6).

No timing here: work is counted as the labels the C decoder wrote before it stopped, memory
as tracemalloc's peak (numpy reports its buffers to it).
"""

import os
import pathlib
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import vqcodec
from vqcodec import _core, container
from vqcodec.container import Header, LabelCoding

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "spec" / "examples"
MB = 1 << 20
# Spec §4.2: each decision shrinks the range by at least 1 - 2**-11, one byte a 2**8 shrink.
DECISIONS_PER_BYTE = 11_412


def labels_written(payload: bytes, width: int, height: int, bits: int) -> int:
    """How many labels the decoder wrote before it returned: run it over two different
    fillings of the output; positions that still differ were never written."""
    outs = []
    for fill in (0x00, 0xFF):
        out = bytearray([fill]) * (width * height)
        _core.entropy_decode(payload, width, height, bits, out)
        outs.append(np.frombuffer(out, np.uint8))
    return int(np.count_nonzero(outs[0] == outs[1]))


@pytest.mark.parametrize("length", [4, 16, 100, 1000])
@pytest.mark.parametrize("fill", [0x00, 0xFF, 0x5A])
def test_a_corrupt_payload_stops_in_proportion_to_its_length(length, fill):
    """Law: on a payload of n bytes the decoder decodes at most ~11,412 (n + 1) labels before
    it needs a byte past the end and stops, whatever the header's pixel count (here 16 MP)."""
    width = height = 4096
    payload = bytes([fill]) * length
    written = labels_written(payload, width, height, 8)
    assert written <= DECISIONS_PER_BYTE * (length + 1)
    out = bytearray(width * height)
    assert _core.entropy_decode(payload, width, height, 8, out) == _core.ERR_OVERRUN


def test_a_truncated_real_payload_stops_early():
    """A real coded image cut to a tenth of its payload: the decoder stops near the cut."""
    y, x = np.mgrid[:600, :800]
    labels = ((x // 7 + y // 5) % 16).astype(np.uint8)
    coded = _core.entropy_encode(labels, 800, 600, 4, labels.size)
    cut = coded[: len(coded) // 10]
    written = labels_written(cut, 800, 600, 4)
    assert written < labels.size // 4
    assert written <= DECISIONS_PER_BYTE * (len(cut) + 1)


def test_the_entropy_bomb_is_refused_from_the_header():
    """The 45-byte file of issue 14 (89 MP announced, payload FF FF FF FF): a FormatError
    naming payload_bytes, before anything the size of the image is allocated."""
    data = (EXAMPLES / "invalid" / "entropy-bomb.vq").read_bytes()
    tracemalloc.start()
    try:
        with pytest.raises(vqcodec.FormatError) as caught:
            vqcodec.decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.field == "payload_bytes"
    assert peak < 1 * MB


def test_a_payload_just_long_enough_still_stops_early():
    """Past the header's check (the least bytes for its pixels), garbage stops at its end."""
    width = height = 4096
    payload = b"\xff" * container.min_entropy_payload(width * height)
    assert labels_written(payload, width, height, 3) <= DECISIONS_PER_BYTE * (len(payload) + 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_decode_memory_is_the_output_plus_little(channels):
    """A valid 40 MP file of a few kB: decode's peak is the output array plus O(width) (the
    issue's bound: 1.2 x output + 20 MB), labels decoded into the output's own tail."""
    width, height = 8000, 5000
    labels = np.zeros(width * height, np.uint8)
    labels[::7919] = 1  # a few specks, so the coder has something to say
    header = Header(width, height, channels, 1, 2, 0, LabelCoding.ENTROPY)
    payload = _core.entropy_encode(labels, width, height, 1, header.packed_bytes - 1)
    codebook = bytes(range(2 * channels))
    data = container.build(
        Header(width, height, channels, 1, 2, len(payload), LabelCoding.ENTROPY), codebook, payload
    )
    del labels
    tracemalloc.start()
    try:
        image = vqcodec.decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert image.nbytes == width * height * channels
    assert peak <= 1.2 * image.nbytes + 20 * MB
    assert image.reshape(-1, channels)[7919 * 3, 0] == codebook[channels]


def test_entropy_files_decode_without_home_or_a_writable_install(tmp_path):
    """No run-time compiler, no cache directory: with HOME unset, bytecode writing off and
    the current directory read-only to us, an entropy file decodes, nothing is written into
    the package, and no JIT is loaded (issue 13)."""
    image = (np.add.outer(np.arange(64), np.arange(80)) // 9 % 16).astype(np.uint8)
    data = vqcodec.encode(image, 4, coding="entropy")
    assert vqcodec.info(data)["coding"] == "entropy"
    source = tmp_path / "x.vq"
    source.write_bytes(data)
    package = pathlib.Path(vqcodec.__file__).parent
    before = sorted(str(p) for p in package.rglob("*") if "__pycache__" not in p.parts)
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    script = (
        "import sys, vqcodec; "
        f"a = vqcodec.read({str(source)!r}); "
        "print(a.shape, int(a.sum()), "
        "any(m.split('.')[0] in ('numba', 'llvmlite') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["(64,", "80)", str(int(vqcodec.decode(data).sum())), "False"]
    after = sorted(str(p) for p in package.rglob("*") if "__pycache__" not in p.parts)
    assert after == before
