"""The packed coding (spec §4.1) against an independent reference (numpy's packbits)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import vqcodec
from vqcodec import _core
from vqcodec.coding import packed
from vqcodec.container import Header, packed_size


def reference_pack(labels: np.ndarray, bits: int) -> bytes:
    """Spec §4.1 literally: each label's low `bits` bits, MSB first, concatenated, zero-padded."""
    return np.packbits(np.unpackbits(labels[:, None], axis=1)[:, 8 - bits :].ravel()).tobytes()


def header_for(count: int, bits: int, entries: int, channels: int = 1) -> Header:
    return Header(
        width=count,
        height=1,
        channels=channels,
        bits=bits,
        codebook_entries=entries,
        payload_bytes=packed_size(count, bits),
    )


@st.composite
def label_arrays(draw):
    bits = draw(st.integers(1, 8))
    labels = draw(
        hnp.arrays(np.uint8, draw(st.integers(1, 300)), elements=st.integers(0, 2**bits - 1))
    )
    return labels, bits


@given(label_arrays())
def test_pack_matches_the_spec_and_unpack_inverts_it(case):
    """Law: pack == the spec's bit order; unpack(pack(x)) == x; size is ceil(n*bits/8)."""
    labels, bits = case
    header = header_for(labels.size, bits, 2**bits)
    payload = packed.encode(labels, header)
    assert payload == reference_pack(labels, bits)
    assert len(payload) == packed_size(labels.size, bits)
    np.testing.assert_array_equal(packed.decode(payload, header), labels)
    assert packed.padding_is_zero(payload, labels.size, bits)


@pytest.mark.parametrize("bits", range(1, 9))
def test_group_boundaries(bits):
    """The C expand works 8 labels (or 8 / bits bytes) at a time, and the last whole group
    and the partial one another way: counts around those boundaries."""
    rng = np.random.default_rng(2)
    codebook = rng.integers(0, 256, (2**bits, 3), dtype=np.uint8)
    for count in (1, 7, 8, 9, 15, 16, 17, 23, 24, 4095, 4096, 4097, 8191, 8193):
        labels = rng.integers(0, 2**bits, count, dtype=np.uint8)
        header = header_for(count, bits, 2**bits, 3)
        payload = packed.encode(labels, header)
        assert payload == reference_pack(labels, bits)
        np.testing.assert_array_equal(packed.decode(payload, header), labels)
        np.testing.assert_array_equal(packed.decode(payload, header, codebook), codebook[labels])


@given(label_arrays(), st.sampled_from([1, 3, 4]), st.data())
def test_expand_equals_unpack_then_lookup(case, channels, data):
    """Law: decode(pack(x), codebook) == codebook[x] when every label is in the codebook, and
    a FormatError naming the payload when one is not."""
    labels, bits = case
    entries = data.draw(st.integers(1, 2**bits))
    codebook = data.draw(hnp.arrays(np.uint8, (entries, channels)))
    header = header_for(labels.size, bits, entries, channels)
    payload = packed.encode(labels, header)
    if labels.max() < entries:
        np.testing.assert_array_equal(packed.decode(payload, header, codebook), codebook[labels])
        np.testing.assert_array_equal(packed.decode(payload, header), labels)
    else:
        for book in (codebook, None):
            with pytest.raises(vqcodec.FormatError, match="outside the codebook") as caught:
                packed.decode(payload, header, book)
            assert caught.value.field == "payload"


def test_gather_in_place_from_the_tail():
    """The entropy decoder expands labels that sit in the output's own tail (module.c)."""
    rng = np.random.default_rng(3)
    for channels in (1, 3, 4):
        codebook = rng.integers(0, 256, (200, channels), dtype=np.uint8)
        labels = rng.integers(0, 200, 5000, dtype=np.uint8)
        out = np.empty((5000, channels), np.uint8)
        out.reshape(-1)[5000 * (channels - 1) :] = labels
        tail = out.reshape(-1)[5000 * (channels - 1) :]
        assert _core.gather(tail.copy(), codebook, channels, out) == 0
        np.testing.assert_array_equal(out, codebook[labels])


@pytest.mark.parametrize(
    "call",
    [
        lambda: _core.unpack(b"\0", 8, bytearray(2)),  # payload shorter than the labels
        lambda: _core.expand(b"\0\0", 8, b"\0" * 3, 3, bytearray(4)),  # out not whole pixels
        lambda: _core.expand(b"\0", 8, b"", 1, bytearray(1)),  # empty codebook
        lambda: _core.expand(b"\0", 8, b"\0" * 257, 1, bytearray(1)),  # 257 entries
        lambda: _core.gather(b"\0", b"\0\0", 3, bytearray(3)),  # codebook not whole entries
        lambda: _core.entropy_decode(b"\0" * 4, 2, 2, 1, bytearray(3)),  # out too small
        lambda: _core.entropy_decode(b"\0" * 4, 0, 2, 1, bytearray(0)),  # width 0
        lambda: _core.entropy_encode(b"\0" * 4, 2, 2, 9, 10),  # bits 9
        lambda: _core.pack(b"\0", 0),  # bits 0
    ],
)
def test_the_glue_checks_every_length(call):
    """Law: the C glue refuses inconsistent lengths and shapes before touching memory."""
    with pytest.raises((ValueError, OverflowError)):
        call()


def test_the_glue_refuses_read_only_outputs():
    with pytest.raises((TypeError, BufferError)):
        _core.unpack(b"\0", 8, b"\0")


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_expand_judges_labels_not_padding(bits, channels):
    """The kernel alone (the Python layer refuses set padding bits first): padding bits set to
    1 are not labels, so a codebook of one entry and all-zero labels expand without error
    (found by fuzz_packed: the byte-table path of bits 1, 2, 4 read the padding as labels)."""
    codebook = np.full((1, channels), 7, np.uint8)
    for count in (1, 3, 4095, 4097):
        payload = bytearray(packed_size(count, bits))
        spare = len(payload) * 8 - count * bits
        if spare == 0:
            continue
        payload[-1] = (1 << spare) - 1  # every padding bit set, every label 0
        out = bytearray(count * channels)
        assert _core.expand(bytes(payload), bits, codebook.tobytes(), channels, out) == 0
        assert out == bytes([7]) * (count * channels)
