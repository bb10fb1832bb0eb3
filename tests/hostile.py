"""Shared by the hostile-input tests and the decoder fuzzer: the decoder's error contract."""

import numpy as np

import vqcodec

# Every FormatError names the field or section at fault (spec §6).
BLAMED = {
    "magic", "version", "header_crc", "flags", "channels", "bits", "width", "height",
    "width, height", "codebook_entries", "label_coding", "block_width, block_height",
    "reserved", "payload_bytes", "header", "file", "data_crc", "payload", "codebook",
    "tile_log2",
}  # fmt: skip


def decode_or_format_error(data: bytes) -> np.ndarray | None:
    """The decoder's contract: a valid image, or a FormatError naming what is wrong."""
    try:
        image = vqcodec.decode(data)
    except vqcodec.FormatError as error:
        assert error.field in BLAMED, str(error)
        assert str(error).startswith(f"{error.field}: "), str(error)
        return None
    meta = vqcodec.info(data)
    expected = (meta["height"], meta["width"])
    assert image.shape[:2] == expected and image.dtype == np.uint8
    assert image.ndim == (2 if meta["channels"] == 1 else 3)
    assert len(data) == meta["file_bytes"]
    return image
