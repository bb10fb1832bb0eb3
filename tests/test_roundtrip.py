"""Round trips through encode/decode, and the size law of spec §7, byte for byte."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import vqcodec
from vqcodec import container
from vqcodec.codec import decode_parts

from .strategies import images

bits_values = st.integers(1, 8)


def distinct_pixels(image: np.ndarray) -> np.ndarray:
    return np.unique(image.reshape(image.shape[0] * image.shape[1], -1), axis=0)


@given(images(), bits_values)
def test_decoded_pixels_are_codebook_entries(image, bits):
    """Law: decode(encode(x)) has x's shape and dtype, and every pixel is a codeword."""
    data = vqcodec.encode(image, bits)
    header, codebook, labels = decode_parts(data)
    decoded = vqcodec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    pixels = decoded.reshape(-1, header.channels)
    assert (labels < len(codebook)).all()
    np.testing.assert_array_equal(pixels, codebook[labels])
    assert len(codebook) <= 2**bits


@given(images(), bits_values)
def test_lossless_when_few_distinct_values(image, bits):
    """Law: an image with at most 2**bits distinct pixels comes back exactly, K = #distinct."""
    distinct = len(distinct_pixels(image))
    data = vqcodec.encode(image, bits)
    if distinct <= 2**bits:
        np.testing.assert_array_equal(vqcodec.decode(data), image)
        assert vqcodec.info(data)["codebook_entries"] == distinct
    else:
        assert vqcodec.info(data)["codebook_entries"] <= 2**bits


@given(images(), bits_values)
def test_size_law(image, bits):
    """Law (spec §7): len = 36 + K*C + ceil(W*H*bits/8) + 4, with K*C <= 2**bits * C."""
    data = vqcodec.encode(image, bits, coding="packed")
    height, width = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    meta = vqcodec.info(data)
    payload = -(-width * height * bits // 8)
    assert meta["payload_bytes"] == payload
    assert meta["codebook_bytes"] == meta["codebook_entries"] * channels <= 2**bits * channels
    assert meta["header_bytes"] + meta["trailer_bytes"] <= 64
    assert len(data) == meta["file_bytes"] == 36 + meta["codebook_bytes"] + payload + 4


@given(images(), bits_values, st.integers(0, 2**31))
def test_deterministic(image, bits, seed):
    """Law: the same image and options give the same bytes."""
    assert vqcodec.encode(image, bits, seed=seed) == vqcodec.encode(image.copy(), bits, seed=seed)


@given(images(channels=st.just(1)), bits_values)
def test_gray_codebook_is_ascending_and_distinct(image, bits):
    _, codebook, _ = decode_parts(vqcodec.encode(image, bits))
    assert (np.diff(codebook[:, 0].astype(int)) > 0).all()


def test_header_and_trailer_sizes_match_the_spec_constants():
    assert container.HEADER_BYTES == 36
    assert container.TRAILER_BYTES == 4
