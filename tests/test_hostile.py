"""The decoder treats every byte string as hostile (spec §6): a valid image or a FormatError
naming the field or section at fault; never another exception, never a hang, never a large
allocation for a file that is not there."""

import json
import pathlib
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec import container

from .hostile import decode_or_format_error
from .strategies import images

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "spec" / "examples"
VALID = [
    (EXAMPLES / case["file"]).read_bytes()
    for case in json.loads((EXAMPLES / "examples.json").read_text())["valid"]
]

# A hang guard, not a performance test: inputs here are < 2 KB and decode in microseconds.
HANG_GUARD = settings(deadline=2000)


@HANG_GUARD
@given(st.binary(max_size=512))
def test_garbage(data):
    """Law: any byte string decodes or raises FormatError."""
    decode_or_format_error(data)


@HANG_GUARD
@given(st.binary(max_size=512))
def test_garbage_behind_the_magic(data):
    decode_or_format_error(container.MAGIC + data)
    decode_or_format_error(container.seal(container.MAGIC + b"\x01" + data))


@st.composite
def mutated_files(draw):
    """A valid file (an example or a fresh encode) with a few random edits."""
    if draw(st.booleans()):
        data = bytearray(draw(st.sampled_from(VALID)))
    else:
        data = bytearray(vqcodec.encode(draw(images(max_side=6)), draw(st.integers(1, 8))))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete", "truncate", "append"]))
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[where] = draw(st.integers(0, 255))
        elif kind == "flip" and data:
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[where:]
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    if draw(st.booleans()):
        return container.seal(bytes(data))
    return bytes(data)


@HANG_GUARD
@given(mutated_files())
def test_mutated_valid_files(data):
    decode_or_format_error(data)


@st.composite
def crafted_headers(draw):
    """Every header field drawn over its whole type, valid CRCs, a body of random length."""
    header = bytearray(container.HEADER_BYTES)
    for name, (offset, code) in container.FIELD_OFFSETS.items():
        if name in ("magic", "header_crc"):
            continue
        size = struct.calcsize(code)
        if code.endswith("s"):
            value = draw(st.binary(min_size=size, max_size=size))
        else:
            top = 2 ** (8 * size) - 1
            small = st.integers(0, min(top, 300))  # most interesting values are small
            value = draw(st.one_of(small, st.integers(0, top)))
        struct.pack_into(code, header, offset, value)
    header[:4] = container.MAGIC
    if draw(st.booleans()):
        header[4] = container.VERSION
    body = draw(st.binary(max_size=600))
    return container.seal(bytes(header) + body + b"\0\0\0\0")


@HANG_GUARD
@given(crafted_headers())
def test_crafted_headers(data):
    decode_or_format_error(data)


def small_header(width, height, bits=8, channels=3, entries=1):
    """A header with a valid CRC announcing a packed image, followed by nothing."""
    header = container.Header(
        width=width,
        height=height,
        channels=channels,
        bits=bits,
        codebook_entries=entries,
        payload_bytes=(width * height * bits + 7) // 8,
    )
    return container.build(header, b"\0" * channels * entries, b"")[: container.HEADER_BYTES]


@pytest.mark.parametrize(
    ("width", "height", "limit", "text"),
    [
        (2**31, 2**31, "default", "exceeds the limit of"),
        (2**32 - 1, 2**32 - 1, "default", "exceeds the limit of"),
        (9459, 9460, "default", "exceeds the limit of"),  # just past 89,478,485
        (2**32 - 1, 2**32 - 1, None, "file: truncated"),  # no limit: the length still guards
        (6000, 4000, "default", "file: truncated"),  # 24 MP within the limit, no data
    ],
)
def test_giant_dimensions_are_refused_without_allocating(monkeypatch, width, height, limit, text):
    if limit is None:
        monkeypatch.setattr(container, "MAX_IMAGE_PIXELS", None)
    data = small_header(width, height) + b"\0" * 64
    tracemalloc.start()
    try:
        with pytest.raises(vqcodec.FormatError, match=text):
            vqcodec.decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"peak {peak} bytes for a {len(data)}-byte file"


def test_limit_is_checked_before_crcs_of_the_data():
    """A giant header whose data CRC is wrong still fails on the limit: it comes first."""
    with pytest.raises(vqcodec.FormatError, match="limit"):
        vqcodec.decode(small_header(2**20, 2**20) + b"\xff" * 8)


def test_every_message_names_a_field_for_the_spec_examples():
    cases = json.loads((EXAMPLES / "examples.json").read_text())["invalid"]
    for case in cases:
        assert decode_or_format_error((EXAMPLES / case["file"]).read_bytes()) is None


def test_a_decoded_mutant_is_a_real_image():
    """With CRCs fixed, a changed codebook byte is a valid file with another colour."""
    data = bytearray(VALID[0])
    data[container.HEADER_BYTES] = 7  # first codeword 0 -> 7
    image = decode_or_format_error(container.seal(bytes(data)))
    np.testing.assert_array_equal(image, [[7, 128, 255], [255, 128, 7]])
