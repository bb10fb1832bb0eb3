"""Regenerate spec/examples/: valid files with the image each decodes to, and invalid files
with the error each must raise. Run from the repository root:

    python spec/examples/make_examples.py

Valid files come from vqcodec.encode on small images that are lossless (no more distinct
values than codewords) or gray (solved exactly), so any correct encoder reproduces them.
Invalid files are valid ones with one field or byte broken; where the broken part is inside
the header, the header CRC is recomputed so that the reader reaches the field itself.
"""

from __future__ import annotations

import json
import pathlib
import struct
import zlib

import numpy as np
from PIL import Image

import vqcodec
from vqcodec import _core, container

HERE = pathlib.Path(__file__).resolve().parent


def entropy_images() -> dict[str, tuple[np.ndarray, int, str]]:
    """Images for the entropy coding (§4.2): large enough that it beats packed."""
    y, x = np.mgrid[:24, :32]
    rings = ((np.hypot(x - 12, y - 10) // 3) % 6 * 40).astype(np.uint8)
    palette = np.array([[230, 40, 40], [40, 200, 60], [30, 60, 220], [250, 250, 250]], np.uint8)
    tiles = palette[((x // 5) + (y // 4) * 2 + (x * y) // 97) % 4]
    return {
        "gray-32x24-bits3-entropy": (rings, 3, "entropy coding: 6 gray rings, lossless"),
        "rgb-32x24-bits2-entropy": (tiles, 2, "entropy coding: 4 colours in tiles, lossless"),
    }


def valid_images() -> dict[str, tuple[np.ndarray, int, str]]:
    gradient = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    rgb = np.array(
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [128, 64, 32]],
        np.uint8,
    )
    rgb_image = rgb[(np.arange(20) * 7 % 6)].reshape(4, 5, 3)
    rgba_image = np.zeros((3, 5, 4), np.uint8)
    rgba_image[..., 0] = 200
    rgba_image[..., 3] = np.array([0, 255, 128])[np.arange(15).reshape(3, 5) % 3]
    return {
        "gray-3x2-bits2": (
            np.array([[0, 128, 255], [255, 128, 0]], np.uint8),
            2,
            "the worked example of spec §8: 3 codewords, 4 padding bits",
        ),
        "gray-1x1-bits1": (
            np.array([[42]], np.uint8),
            1,
            "smallest image: one pixel, one codeword",
        ),
        "gray-8x8-bits4": (gradient, 4, "64 gray levels into 16 codewords (lossy, exact optimum)"),
        "rgb-5x4-bits3": (rgb_image, 3, "6 colours in a 3-bit file: lossless"),
        "rgba-5x3-bits2": (rgba_image, 2, "RGBA with 3 alpha levels: lossless"),
        "rgb-2x2-bits8": (rgb[:4].reshape(2, 2, 3), 8, "8-bit labels: one byte each, no padding"),
    }


def block_images() -> dict[str, tuple[np.ndarray, int, str, tuple[int, int], str]]:
    """Block files (§4.4), lossless: no more distinct blocks than codewords."""
    y, x = np.mgrid[:7, :10]
    rgb = np.stack([x * 25, y * 36, (x + y) % 3 * 100], axis=-1).astype(np.uint8)
    gray = ((np.arange(16 * 12).reshape(12, 16) * 37) % 251).astype(np.uint8)
    y, x = np.mgrid[:24, :32]
    palette = np.array([[230, 40, 40], [40, 200, 60], [30, 60, 220], [250, 250, 250]], np.uint8)
    tiles = palette[((x // 4) + (y // 4) * 2) % 4]
    return {
        "rgb-10x7-block4x4-bits4": (
            rgb,
            4,
            "4x4 blocks over a 10x7 image: the right and bottom blocks cut at the edges",
            (4, 4),
            "packed",
        ),
        "gray-16x12-block2x2-bits10": (
            gray,
            10,
            "10-bit labels, packed: 48 distinct 2x2 blocks, lossless",
            (2, 2),
            "packed",
        ),
        "rgb-32x24-block2x2-bits3-entropy2": (
            tiles,
            3,
            "entropy2 coding of the 16x12 label grid of 2x2 blocks: 4 colours in tiles",
            (2, 2),
            "entropy2",
        ),
    }


def tiled_images() -> dict[str, tuple[np.ndarray, int, str, int, str]]:
    """Tiled files (§13), lossless: name -> (image, bits, note, tile, coding)."""
    y, x = np.mgrid[:100, :150]
    palette = np.array([[230, 40, 40], [40, 200, 60], [30, 60, 220], [250, 250, 250]], np.uint8)
    tiles = palette[((x // 6) + (y // 5) * 2 + (x * y) // 900) % 4]
    gray = ((x // 9 + y // 7) % 4 * 80).astype(np.uint8)[:80, :140]
    return {
        "rgb-150x100-tiles64-entropy2": (
            tiles, 2, "entropy2 in 3x2 tiles of 64 labels, the last column and row cut", 64,
            "entropy2",
        ),
        "gray-140x80-tiles64-packed": (
            gray, 2, "packed in 3x2 tiles of 64 labels, each from a fresh byte", 64, "packed"
        ),
    }  # fmt: skip


def invalid_tiled_files(base: bytes) -> dict[str, tuple[bytes, str, str]]:
    """Broken tiled files. ``base`` is rgb-150x100-tiles64-entropy2."""
    header = container.parse_header(memoryview(base))
    start = container.HEADER_BYTES + header.codebook_bytes
    index_flip = bytearray(base)
    index_flip[start] ^= 0x01  # tile 0's size
    tile_flip = bytearray(base)
    tile_flip[-5] ^= 0x01  # the last byte of the last tile
    index = bytearray(base[start : start + header.index_bytes])
    first, second = struct.unpack_from("<I", index, 0)[0], struct.unpack_from("<I", index, 8)[0]
    struct.pack_into("<I", index, 0, first + 2)
    struct.pack_into("<I", index, 8, second - 2)
    struct.pack_into("<I", index, len(index) - 4, zlib.crc32(index[:-4]))
    shifted = base[:start] + bytes(index) + base[start + len(index) :]
    return {
        "tiles-index-crc": (
            container.seal(index_flip),
            "payload: checksum mismatch over the tile index",
            "a tile size changed, the index CRC not updated",
        ),
        "tiles-tile-crc": (
            container.seal(tile_flip),
            f"payload: tile {header.tile_count - 1}: checksum mismatch",
            "a byte of the last tile flipped, data_crc updated, the tile's CRC not",
        ),
        "tiles-shifted": (
            container.seal(shifted),
            "payload: tile 0",
            "two tiles' sizes moved by 2 bytes (same sum, valid index CRC): tile 0 no longer "
            "holds its bytes",
        ),
        "tiles-log2-5": (
            set_field(base, "tile_log2", 5),
            "tile_log2: 5, must be 6..12 with tiles",
            "tiles of 32 labels, fewer than the least",
        ),
        "tiles-log2-without-flag": (
            set_field(base, "flags", 0),
            "tile_log2: 6, must be 0 without tiles",
            "a tile size but no tiles flag",
        ),
        "tiles-slivers": (
            set_field(base, "height", 1),
            "tile_log2: 6: 3 tiles of 64 labels for a 150x1 label grid",
            "a grid one label tall in tiles of 64: more tiles than 1 + 4 labels / 64^2",
        ),
    }


def set_field(data: bytes, name: str, value: object) -> bytes:
    """``data`` with one header field set and the CRCs recomputed, so the field is reached."""
    offset, code = container.FIELD_OFFSETS[name]
    out = bytearray(data)
    struct.pack_into(code, out, offset, value)
    return container.seal(out)


def invalid_files(base: bytes) -> dict[str, tuple[bytes, str, str]]:
    """name -> (bytes, expected error text, what is broken). ``base`` is gray-3x2-bits2."""
    flipped_width = bytearray(base)
    flipped_width[8] ^= 0x01
    bad_label = bytearray(base)
    bad_label[container.HEADER_BYTES + 3] = 0b11000000  # first label 3, codebook has 3 entries
    bad_padding = bytearray(base)
    bad_padding[container.HEADER_BYTES + 4] |= 0x01  # a padding bit of the last byte
    flipped_payload = bytearray(base)
    flipped_payload[container.HEADER_BYTES + 3] ^= 0x80
    return {
        "empty": (b"", "header: file is truncated", "zero bytes"),
        "not-vq": (b"\x89PNG\r\n\x1a\n" + bytes(40), "magic: not a .vq file", "a PNG signature"),
        "header-truncated": (base[:20], "header: file is truncated", "20 of the header's 36 bytes"),
        "version-2": (set_field(base, "version", 2), "version: 2 is not supported", "version 2"),
        "header-crc": (
            bytes(flipped_width),
            "header_crc: checksum mismatch",
            "one bit of width flipped",
        ),
        "flags-unknown": (set_field(base, "flags", 0x80), "flags: unknown bits set", "flag bit 7"),
        "channels-2": (
            set_field(base, "channels", 2),
            "channels: 2, must be 1, 3 or 4",
            "channels 2",
        ),
        "bits-0": (set_field(base, "bits", 0), "bits: 0, must be 1..8", "bits 0"),
        "bits-9": (
            set_field(base, "bits", 9),
            "bits: 9, must be 1..8 for 1x1 blocks",
            "bits 9 for pixels (1x1 blocks)",
        ),
        "width-0": (set_field(base, "width", 0), "width: 0, must be at least 1", "width 0"),
        "height-0": (set_field(base, "height", 0), "height: 0, must be at least 1", "height 0"),
        "codebook-entries-0": (
            set_field(base, "codebook_entries", 0),
            "codebook_entries: 0, must be 1..4",
            "an empty codebook",
        ),
        "codebook-entries-5": (
            set_field(base, "codebook_entries", 5),
            "codebook_entries: 5, must be 1..4",
            "more codewords than 2**bits",
        ),
        "coding-unknown": (
            set_field(base, "label_coding", 7),
            "label_coding: unknown value 7",
            "coding 7",
        ),
        "block-9x1": (
            set_field(base, "block_width", 9),
            "block_width, block_height: 9x1, each must be 1..8",
            "blocks 9 pixels wide",
        ),
        "reserved-nonzero": (
            set_field(base, "reserved", b"\0\1"),
            "reserved: must be zero",
            "reserved byte",
        ),
        "huge-dimensions": (
            set_field(set_field(base, "width", 2**31), "height", 2**31),
            "exceeds the limit of 89478485",
            "2^31 x 2^31 pixels, valid header CRC",
        ),
        "payload-bytes": (
            set_field(base, "payload_bytes", 3),
            "payload_bytes: 3, but 6 labels of 2 bits packed take 2",
            "payload length disagrees with width, height and bits",
        ),
        "truncated": (base[:-1], "file: truncated", "last byte missing"),
        "trailing-data": (
            base + b"\0",
            "file: trailing data: 1 bytes",
            "one byte after the trailer",
        ),
        "data-crc": (
            bytes(flipped_payload),
            "data_crc: checksum mismatch",
            "one payload bit flipped",
        ),
        "label-outside-codebook": (
            container.seal(bad_label),
            "payload: a label is outside the codebook (3 entries)",
            "a label with no codeword, valid CRCs",
        ),
        "padding-nonzero": (
            container.seal(bad_padding),
            "payload: padding bits after the last label must be zero",
            "a padding bit set, valid CRCs",
        ),
    }


def with_payload(data: bytes, payload: bytes) -> bytes:
    """``data`` with its payload replaced (payload_bytes and both CRCs follow)."""
    header = container.parse_header(memoryview(data))
    start = container.HEADER_BYTES + header.codebook_bytes
    out = data[:start] + payload + bytes(container.TRAILER_BYTES)
    return set_field(out, "payload_bytes", len(payload))


def invalid_entropy_files(base: bytes) -> dict[str, tuple[bytes, str, str]]:
    """Broken entropy-coded files. ``base`` is gray-32x24-bits3-entropy (6 codewords)."""
    header = container.parse_header(memoryview(base))
    start = container.HEADER_BYTES + header.codebook_bytes
    payload = base[start : start + header.payload_bytes]
    labels = np.full(header.pixels, 6, np.uint8)  # label 6 of a 6-entry codebook
    outside = _core.entropy_encode(labels, header.width, header.height, 3, 1000)
    packed = header.packed_bytes
    return {
        "entropy-not-smaller": (
            with_payload(base, bytes(packed)),
            f"payload_bytes: {packed}, but {header.pixels} entropy-coded labels take at least 4 "
            f"bytes and fewer than the packed coding's {packed}",
            "an entropy payload as large as the packed one: a writer stores packed then",
        ),
        "entropy-too-short": (
            with_payload(base, payload[:3]),
            f"payload_bytes: 3, but {header.pixels} entropy-coded labels take at least 4 bytes",
            "three payload bytes: the decoder starts by reading four",
        ),
        "entropy-ends-early": (
            with_payload(base, payload[:-1]),
            "payload: the coded labels need bytes past its end",
            "the last payload byte cut, valid CRCs",
        ),
        "entropy-extra-byte": (
            with_payload(base, payload + b"\0"),
            "payload: 1 bytes left after the last coded label",
            "one byte after the coded labels, valid CRCs",
        ),
        "entropy-label-outside-codebook": (
            with_payload(base, outside),
            "payload: a label is outside the codebook (6 entries)",
            "a well-coded label with no codeword, valid CRCs",
        ),
        "entropy-bomb": (
            set_field(
                set_field(with_payload(base, b"\xff\xff\xff\xff"), "width", 9459), "height", 9459
            ),
            f"payload_bytes: 4, but {9459**2} entropy-coded labels take at least "
            f"{container.min_entropy_payload(9459**2)} bytes",
            "89 MP announced with 4 payload bytes: refused from the header, nothing allocated",
        ),
    }


def entropy2_images() -> dict[str, tuple[np.ndarray, int, str]]:
    """The entropy images again, coded with entropy2 (§4.3), and a gray image at 6 bits for
    the residual literals (mode 1)."""
    y, x = np.mgrid[:24, :32]
    shaded = (x * 5 + y * 3 + (x * y) % 7 * 3).astype(np.uint8)
    return {
        name + "2": (image, bits, note.replace("entropy coding", "entropy2 coding"))
        for name, (image, bits, note) in entropy_images().items()
    } | {
        "gray-32x24-bits6-entropy2": (
            shaded,
            6,
            "entropy2 coding, residual literals: a shaded ramp, 64 of its gray levels",
        )
    }


def invalid_entropy2_files(base: bytes) -> dict[str, tuple[bytes, str, str]]:
    """Broken entropy2-coded files. ``base`` is gray-32x24-bits3-entropy2 (6 codewords)."""
    header = container.parse_header(memoryview(base))
    start = container.HEADER_BYTES + header.codebook_bytes
    payload = base[start : start + header.payload_bytes]
    labels = np.full(header.pixels, 6, np.uint8)  # label 6 of a 6-entry codebook
    outside = _core.entropy2_encode(labels, header.width, header.height, 3, 1000)
    pixels, packed = header.pixels, header.packed_bytes
    # State 0 = 0x00017fff: its slot 0x7fff picks run symbol e = 15 in the first pixel's
    # (uniform) run model, a length of at least 2**13 for a span of 32 pixels; the state
    # then falls below 2**16 and reads the last word.
    long_run = b"\x00\x01\x7f\xff\x00\x01\x00\x00\x00\x00"
    return {
        "entropy2-not-smaller": (
            with_payload(base, bytes(packed)),
            f"payload_bytes: {packed}, but {pixels} entropy2-coded labels take an even number "
            f"of bytes, at least 8 and fewer than the packed coding's {packed}",
            "an entropy2 payload as large as the packed one: a writer stores packed then",
        ),
        "entropy2-too-short": (
            with_payload(base, payload[:6]),
            f"payload_bytes: 6, but {pixels} entropy2-coded labels take an even number of "
            "bytes, at least 8",
            "six payload bytes: the decoder starts by reading two 4-byte states",
        ),
        "entropy2-odd-length": (
            with_payload(base, payload + b"\0"),
            f"payload_bytes: {len(payload) + 1}, but {pixels} entropy2-coded labels take an "
            "even number of bytes",
            "an odd payload: the coder reads 2-byte words",
        ),
        "entropy2-ends-early": (
            with_payload(base, payload[:-2]),
            "payload: the coded labels need bytes past its end",
            "the last 2-byte word cut, valid CRCs",
        ),
        "entropy2-extra-bytes": (
            with_payload(base, payload + b"\0\0"),
            "payload: 2 bytes left after the last coded label",
            "one word after the coded labels, valid CRCs",
        ),
        "entropy2-label-outside-codebook": (
            with_payload(base, outside),
            "payload: a label is outside the codebook (6 entries)",
            "a well-coded label with no codeword, valid CRCs",
        ),
        "entropy2-run-past-span": (
            with_payload(base, long_run),
            "payload: a run is as long as its span or longer",
            "the first run symbol codes a length >= its span M, valid CRCs",
        ),
        "entropy2-bad-state": (
            with_payload(base, bytes(2) + payload[2:]),
            "payload: the coder's state does not start or end where it must",
            "the first state below 2**16 (no encoder writes one), valid CRCs",
        ),
    }


def invalid_block_files(base: bytes, coded: bytes) -> dict[str, tuple[bytes, str, str]]:
    """Broken block files. ``base`` is gray-16x12-block2x2-bits10 (48 codewords, packed),
    ``coded`` rgb-32x24-block2x2-bits3-entropy2."""
    header = container.parse_header(memoryview(base))
    start = container.HEADER_BYTES + header.codebook_bytes
    outside = bytearray(base)
    outside[start] = 0xFF  # the first label's top 8 bits: a label >= 1020, of 48 codewords
    return {
        "block-bits-17": (
            set_field(base, "bits", 17),
            "bits: 17, must be 1..16 for blocks larger than 1x1",
            "17-bit labels",
        ),
        "block-label-outside-codebook": (
            container.seal(outside),
            "payload: a label is outside the codebook (48 entries)",
            "a 10-bit label with no codeword, valid CRCs",
        ),
        "codebook-entries-0-bits16": (
            set_field(set_field(base, "bits", 16), "codebook_entries", 0),
            "codebook_entries: 0, must be 1..65535 for bits=16",
            "an empty codebook at 16 bits (the u16 field holds at most 65535)",
        ),
        "entropy2-wide-labels": (
            set_field(set_field(coded, "bits", 9), "codebook_entries", 4),
            "label_coding: entropy2 codes labels of at most 8 bits, not 9",
            "an entropy2 payload of 9-bit labels",
        ),
    }


def shared_files() -> dict[str, tuple[bytes, str]]:
    """A codebook file (§12) and a .vq file that names it: the 4x4 blocks of rgb-10x7."""
    image = block_images()["rgb-10x7-block4x4-bits4"][0]
    book = vqcodec.train([image], 4, (4, 4))
    data = vqcodec.encode(image, codebook=book)
    assert np.array_equal(vqcodec.decode(data, codebook=book), image)
    return {"rgb-block4x4-bits4.vqb": (book.data, ""), "rgb-10x7-shared.vq": (data, "")}


def invalid_shared_files(data: bytes, book: bytes) -> dict[str, tuple[bytes, str, str]]:
    """Broken shared-codebook files: ``data`` names ``book``."""
    return {
        "shared-codebook-missing": (
            data,
            "codebook: the file's codebook is kept in a codebook file (sha256 "
            + container.digest(book).hex(),
            "names a codebook file: decoded without it (the manifest's tests give none)",
        ),
        "shared-codebook-entries": (
            set_field(data, "codebook_entries", 5),
            "holds 6 entries of 4x4 blocks of 3 channel(s) at 4 bits, and the file's header "
            "says otherwise",
            "codebook_entries disagrees with the codebook file it names",
        ),
        "flags-external-codebook": (
            set_field((HERE / "gray-3x2-bits2.vq").read_bytes(), "flags", 1),
            "file: truncated",
            "the external-codebook flag on a file that holds its codebook: the section is "
            "then a 32-byte digest, and the file is too short for it",
        ),
    }


def main() -> None:
    manifest: dict[str, list] = {"valid": [], "invalid": []}
    images = [(name, case, "packed") for name, case in valid_images().items()]
    images += [(name, case, "entropy") for name, case in entropy_images().items()]
    images += [(name, case, "entropy2") for name, case in entropy2_images().items()]
    cases = [
        (name, (image, bits, note, (1, 1), coding)) for name, (image, bits, note), coding in images
    ]
    cases += list(block_images().items())
    tiled = tiled_images()
    cases += [(name, (i, b, n, (1, 1), c)) for name, (i, b, n, _, c) in tiled.items()]
    for name, (image, bits, note, block, coding) in cases:
        tile = tiled[name][3] if name in tiled else None
        data = vqcodec.encode(image, bits, coding=coding, block=block, tile=tile)
        assert vqcodec.info(data)["coding"] == coding, name
        assert np.array_equal(vqcodec.decode(data), image) or block == (1, 1), name
        (HERE / f"{name}.vq").write_bytes(data)
        Image.fromarray(vqcodec.decode(data)).save(HERE / f"{name}.png")
        entry = {"file": f"{name}.vq", "image": f"{name}.png", "bits": bits, "coding": coding}
        if block != (1, 1):
            entry["block"] = f"{block[0]}x{block[1]}"
        if tile:
            entry["tile"] = tile
        manifest["valid"].append(entry | {"note": note})
    (HERE / "invalid").mkdir(exist_ok=True)
    base = (HERE / "gray-3x2-bits2.vq").read_bytes()
    broken = invalid_files(base)
    broken |= invalid_entropy_files((HERE / "gray-32x24-bits3-entropy.vq").read_bytes())
    broken |= invalid_entropy2_files((HERE / "gray-32x24-bits3-entropy2.vq").read_bytes())
    broken |= invalid_block_files(
        (HERE / "gray-16x12-block2x2-bits10.vq").read_bytes(),
        (HERE / "rgb-32x24-block2x2-bits3-entropy2.vq").read_bytes(),
    )
    shared = shared_files()
    for name, (data, _) in shared.items():
        (HERE / name).write_bytes(data)
    (vq_name, (vq_data, _)), (book_name, (book_data, _)) = (
        ("rgb-10x7-shared.vq", shared["rgb-10x7-shared.vq"]),
        ("rgb-block4x4-bits4.vqb", shared["rgb-block4x4-bits4.vqb"]),
    )
    manifest["valid"].append(
        {
            "file": vq_name,
            "image": "rgb-10x7-block4x4-bits4.png",
            "bits": 4,
            "coding": vqcodec.info(vq_data)["coding"],
            "block": "4x4",
            "codebook": book_name,
            "note": "a shared codebook (§12): the file names rgb-block4x4-bits4.vqb by its SHA-256",
        }
    )
    broken |= invalid_shared_files(vq_data, book_data)
    broken |= invalid_tiled_files((HERE / "rgb-150x100-tiles64-entropy2.vq").read_bytes())
    for name, (data, error, note) in broken.items():
        given = {"codebook": book_name} if name == "shared-codebook-entries" else {}
        book = vqcodec.Codebook(book_data) if given else None
        try:
            vqcodec.decode(data, codebook=book)
        except vqcodec.FormatError as caught:
            assert error in str(caught), (name, str(caught))
        else:
            raise AssertionError(f"{name} decodes")
        (HERE / "invalid" / f"{name}.vq").write_bytes(data)
        entry = {"file": f"invalid/{name}.vq", "error": error}
        manifest["invalid"].append(entry | given | {"note": note})
    (HERE / "examples.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
