"""The entropy label coding (spec §4.2): lossless on any label map, never larger than packed,
deterministic, and exact about where its bytes end."""

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vqcodec
from vqcodec import _core
from vqcodec.codec import decode_parts
from vqcodec.coding import entropy
from vqcodec.compare import sample_image
from vqcodec.container import Header, LabelCoding, packed_size

from .strategies import images

SHAPES = st.tuples(st.integers(1, 40), st.integers(1, 40))


def encode_labels(labels, width, height, bits, limit):
    """The C encoder with an explicit byte budget (the coding module's is the packed size)."""
    return _core.entropy_encode(np.ascontiguousarray(labels), width, height, bits, limit)


def decode_labels(payload, width, height, bits, entries=None):
    header = Header(width, height, 1, bits, entries or 1 << bits, len(payload), LabelCoding.ENTROPY)
    return entropy.decode(payload, header)


@pytest.fixture(scope="module")
def sample():
    return np.asarray(sample_image())


@st.composite
def label_maps(draw):
    """(labels (H, W), bits): noise, one label, stripes, blocks or a ramp, any size from 1x1."""
    bits = draw(st.integers(1, 8))
    height, width = draw(SHAPES)
    top = (1 << bits) - 1
    kind = draw(st.sampled_from(["noise", "constant", "rows", "columns", "blocks", "ramp"]))
    y, x = np.mgrid[:height, :width]
    if kind == "noise":
        grid = draw(hnp.arrays(np.uint8, (height, width), elements=st.integers(0, top)))
    elif kind == "constant":
        grid = np.full((height, width), draw(st.integers(0, top)))
    elif kind == "rows":
        grid = (y // draw(st.integers(1, 4))) % (top + 1)
    elif kind == "columns":
        grid = (x // draw(st.integers(1, 4))) % (top + 1)
    elif kind == "blocks":
        grid = ((x // 5) * 7 + (y // 3) * 3) % (top + 1)
    else:
        grid = (x + y) * top // max(height + width - 2, 1)
    return grid.astype(np.uint8), bits


@given(label_maps())
def test_labels_round_trip(case):
    """Law: decode_labels(encode_labels(L)) == L for every label map, every bits 1..8."""
    grid, bits = case
    height, width = grid.shape
    coded = encode_labels(grid.ravel(), width, height, bits, limit=grid.size + 64)
    assert coded is not None
    np.testing.assert_array_equal(decode_labels(coded, width, height, bits), grid.ravel())


@given(label_maps())
def test_limit_is_a_hard_cap(case):
    """Law: with a byte budget, the encoder returns bytes within it, or None."""
    grid, bits = case
    height, width = grid.shape
    full = encode_labels(grid.ravel(), width, height, bits, limit=grid.size + 64)
    limit = max(len(full) - 1, 0)
    assert encode_labels(grid.ravel(), width, height, bits, limit=limit) is None
    assert encode_labels(grid.ravel(), width, height, bits, limit=len(full)) == full


@given(images(max_side=24), st.integers(1, 8))
def test_entropy_decodes_exactly_as_packed(image, bits):
    """Law: coding="entropy" gives the same decoded array and labels as "packed", in a file
    no larger; when it keeps the entropy coding, strictly smaller."""
    packed = vqcodec.encode(image, bits, coding="packed")
    coded = vqcodec.encode(image, bits, coding="entropy")
    np.testing.assert_array_equal(vqcodec.decode(coded), vqcodec.decode(packed))
    np.testing.assert_array_equal(decode_parts(coded)[2], decode_parts(packed)[2])
    assert len(coded) <= len(packed)
    if vqcodec.info(coded)["coding"] == "entropy":
        assert len(coded) < len(packed)
    else:
        assert coded == packed


def test_a_photo_is_several_times_smaller(sample):
    for bits in (2, 4, 6):
        packed = vqcodec.encode(sample, bits, coding="packed")
        coded = vqcodec.encode(sample, bits, coding="entropy")
        assert vqcodec.info(coded)["coding"] == "entropy"
        assert len(coded) < len(packed) / 2
        np.testing.assert_array_equal(vqcodec.decode(coded), vqcodec.decode(packed))


def test_noise_falls_back_to_packed():
    noise = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    data = vqcodec.encode(noise, 8, coding="entropy")
    assert vqcodec.info(data)["coding"] == "packed"
    assert data == vqcodec.encode(noise, 8, coding="packed")


def test_deterministic(sample):
    assert vqcodec.encode(sample, 5, coding="entropy") == vqcodec.encode(
        sample, 5, coding="entropy"
    )


@pytest.mark.parametrize("bits", range(1, 9))
def test_whole_bytes_are_consumed(bits):
    """The decoder reads exactly the encoder's bytes: one fewer or one more is an error."""
    grid = (np.add.outer(np.arange(20), np.arange(30)) // 3 % (1 << bits)).astype(np.uint8)
    coded = encode_labels(grid.ravel(), 30, 20, bits, limit=1000)
    with pytest.raises(vqcodec.FormatError, match="payload: 1 bytes left"):
        decode_labels(coded + b"\0", 30, 20, bits)
    with pytest.raises(vqcodec.FormatError, match="need bytes past its end"):
        decode_labels(coded[:-1], 30, 20, bits)


@given(st.binary(min_size=4, max_size=64), SHAPES, st.integers(1, 8))
def test_any_payload_decodes_or_is_refused(payload, shape, bits):
    """Law: any bytes decode to labels below 2**bits or raise FormatError naming the payload."""
    height, width = shape
    try:
        labels = decode_labels(payload, width, height, bits)
    except vqcodec.FormatError as error:
        assert str(error).startswith("payload: ")
    else:
        assert labels.shape == (height * width,)
        assert int(labels.max()) < 1 << bits


def test_packed_size_is_the_budget_in_encode(sample):
    """The encoder's cap is the packed size: entropy is chosen only when strictly smaller."""
    data = vqcodec.encode(sample[:1, :1], 1, coding="entropy")
    assert vqcodec.info(data)["coding"] == "packed"
    assert vqcodec.info(data)["payload_bytes"] == packed_size(1, 1)


def test_the_coder_bytes_are_pinned(sample):
    """The entropy coder's exact bytes on real and noise label maps at every bits, pinned by a
    digest taken from the coder that wrote the spec's examples (bit-exact with the numba
    coder before it): a change to the model or the range coder, however small, fails here
    before it makes old files unreadable."""
    digest = hashlib.sha256()
    rng = np.random.default_rng(7)
    for bits in range(1, 9):
        labels = np.ascontiguousarray(sample[..., bits % 3] >> (8 - bits))
        height, width = labels.shape
        digest.update(encode_labels(labels, width, height, bits, 10**7))
        noise = rng.integers(0, 2**bits, (97, 131), dtype=np.uint8)
        digest.update(encode_labels(noise, 131, 97, bits, 10**7))
    assert digest.hexdigest() == "92641b02397b585fbc2fdbb8b012f77c5a755f9d3a5165b690b3a19bec1c4505"
