"""The packed coding against an independent reference (numpy's unpackbits/packbits)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vqcodec import bitpack


def reference_pack(labels: np.ndarray, bits: int) -> bytes:
    """Spec §4 literally: each label's low `bits` bits, MSB first, concatenated, zero-padded."""
    return np.packbits(np.unpackbits(labels[:, None], axis=1)[:, 8 - bits :].ravel()).tobytes()


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
    packed = bitpack.pack(labels, bits)
    assert packed == reference_pack(labels, bits)
    assert len(packed) == bitpack.packed_size(labels.size, bits)
    np.testing.assert_array_equal(bitpack.unpack(packed, labels.size, bits), labels)
    assert bitpack.padding_is_zero(packed, labels.size, bits)


def test_chunk_boundaries(monkeypatch):
    """Several chunks and a partial last group, for every width."""
    monkeypatch.setattr(bitpack, "_CHUNK_GROUPS", 3)
    rng = np.random.default_rng(2)
    for bits in range(1, 9):
        for count in (23, 24, 25, 49):
            labels = rng.integers(0, 2**bits, count, dtype=np.uint8)
            packed = bitpack.pack(labels, bits)
            assert packed == reference_pack(labels, bits)
            np.testing.assert_array_equal(bitpack.unpack(packed, count, bits), labels)


@given(label_arrays(), st.sampled_from([1, 3, 4]), st.data())
def test_expand_equals_unpack_then_lookup(case, channels, data):
    """Law: expand(pack(x)) == codebook[x], and it reports max(x), for every width."""
    labels, bits = case
    entries = data.draw(st.integers(1, 2**bits))
    labels = labels % entries
    codebook = data.draw(hnp.arrays(np.uint8, (entries, channels)))
    pixels, largest = bitpack.expand(bitpack.pack(labels, bits), labels.size, bits, codebook)
    np.testing.assert_array_equal(pixels, codebook[labels])
    # Exact when it matters; with a full codebook every label is valid and 2**bits - 1 is said.
    assert largest == (labels.max() if entries < 2**bits else 2**bits - 1)


def test_expand_chunk_boundaries(monkeypatch):
    monkeypatch.setattr(bitpack, "_CHUNK_GROUPS", 3)
    rng = np.random.default_rng(4)
    codebook = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    for bits in range(1, 9):
        for count in (23, 24, 25, 49):
            labels = rng.integers(0, 2**bits, count, dtype=np.uint8)
            book = codebook[: 2**bits]
            pixels, largest = bitpack.expand(bitpack.pack(labels, bits), count, bits, book)
            np.testing.assert_array_equal(pixels, book[labels])
            assert largest == 2**bits - 1  # a full codebook: every label is valid
