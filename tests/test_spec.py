"""The spec is the source of truth: its header table, worked example and example files."""

import json
import pathlib
import re
import struct

import numpy as np
import pytest
from PIL import Image

import vqcodec
from vqcodec import container

SPEC_DIR = pathlib.Path(__file__).resolve().parent.parent / "spec"
SPEC = (SPEC_DIR / "vq-format.md").read_text()
EXAMPLES = SPEC_DIR / "examples"
MANIFEST = json.loads((EXAMPLES / "examples.json").read_text())


def section(number: int) -> str:
    start = SPEC.index(f"\n## {number}. ")
    end = SPEC.find("\n## ", start + 1)
    return SPEC[start:end]


def test_header_table_matches_the_code():
    """§2's rows (offset, size, field) are exactly container.HEADER_FIELDS, in order."""
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\w+)\s*\|", section(2), re.M)
    offset = 0
    assert [name for _, _, name in rows] == [name for name, _ in container.HEADER_FIELDS]
    for (row_offset, size, name), (_, code) in zip(rows, container.HEADER_FIELDS, strict=True):
        assert int(row_offset) == offset, name
        assert int(size) == struct.calcsize("<" + code), name
        offset += int(size)
    assert offset == container.HEADER_BYTES


def test_layout_table_states_the_code_sizes():
    layout = section(1)
    assert re.search(rf"\| header\s*\|\s*{container.HEADER_BYTES}\s*\|", layout)
    assert re.search(rf"\| trailer\s*\|\s*{container.TRAILER_BYTES}\s*\|", layout)


def test_worked_example_hex_dump_is_the_example_file():
    dump = re.search(r"```\n(00000000 .*?)```", section(8), re.S).group(1)
    data = bytes.fromhex(" ".join(line[10:] for line in dump.strip().splitlines()))
    assert data == (EXAMPLES / "gray-3x2-bits2.vq").read_bytes()
    np.testing.assert_array_equal(vqcodec.decode(data), [[0, 128, 255], [255, 128, 0]])


@pytest.mark.parametrize("case", MANIFEST["valid"], ids=lambda case: case["file"])
def test_valid_example_decodes_to_its_image(case):
    data = (EXAMPLES / case["file"]).read_bytes()
    expected = np.asarray(Image.open(EXAMPLES / case["image"]))
    np.testing.assert_array_equal(vqcodec.decode(data, codebook=book_of(case)), expected)


def book_of(case: dict) -> vqcodec.Codebook | None:
    """The shared codebook (spec §12) an example names, if any."""
    return vqcodec.Codebook.load(EXAMPLES / case["codebook"]) if "codebook" in case else None


@pytest.mark.parametrize("case", MANIFEST["valid"], ids=lambda case: case["file"])
def test_encoder_reproduces_valid_example(case):
    """The examples are lossless or gray (exact), so any correct encoder gives these bytes."""
    image = np.asarray(Image.open(EXAMPLES / case["image"]))
    block = tuple(int(side) for side in case.get("block", "1x1").split("x"))
    if "codebook" in case:
        data = vqcodec.encode(image, coding=case["coding"], codebook=book_of(case))
    else:
        data = vqcodec.encode(
            image, case["bits"], coding=case["coding"], block=block, tile=case.get("tile")
        )
    assert data == (EXAMPLES / case["file"]).read_bytes()


@pytest.mark.parametrize("case", MANIFEST["invalid"], ids=lambda case: case["file"])
def test_invalid_example_raises_its_error(case):
    data = (EXAMPLES / case["file"]).read_bytes()
    with pytest.raises(vqcodec.FormatError) as caught:
        vqcodec.decode(data, codebook=book_of(case))
    assert case["error"] in str(caught.value)


def test_every_example_file_is_in_the_manifest():
    listed = {case["file"] for group in MANIFEST.values() for case in group}
    present = {str(path.relative_to(EXAMPLES)) for path in EXAMPLES.rglob("*.vq")}
    assert listed == present
    assert len(MANIFEST["invalid"]) >= 20


def test_field_offsets_follow_the_table():
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\w+)\s*\|", section(2), re.M)
    assert {name: offset for name, (offset, _) in container.FIELD_OFFSETS.items()} == {
        name: int(offset) for offset, _, name in rows
    }
