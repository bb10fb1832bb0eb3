"""Integrity (spec §5, §6): truncations and bit flips of valid files are always caught."""

import json
import pathlib

import pytest

import vqcodec

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "spec" / "examples"
VALID = [case["file"] for case in json.loads((EXAMPLES / "examples.json").read_text())["valid"]]


@pytest.mark.parametrize("name", VALID)
def test_every_truncation_is_a_format_error(name):
    data = (EXAMPLES / name).read_bytes()
    for length in range(len(data)):
        with pytest.raises(vqcodec.FormatError):
            vqcodec.decode(data[:length])


@pytest.mark.parametrize("name", VALID)
def test_every_single_bit_flip_is_a_format_error(name):
    """CRC-32 detects every single-bit error; magic and version are checked before it."""
    data = (EXAMPLES / name).read_bytes()
    for bit in range(len(data) * 8):
        broken = bytearray(data)
        broken[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(vqcodec.FormatError):
            vqcodec.decode(bytes(broken))


@pytest.mark.parametrize("name", VALID)
def test_info_checks_the_same_way(name):
    data = (EXAMPLES / name).read_bytes()
    with pytest.raises(vqcodec.FormatError):
        vqcodec.info(data[:-1])
    with pytest.raises(vqcodec.FormatError):
        vqcodec.info(data + b"\0")
