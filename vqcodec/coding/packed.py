"""The packed label coding (label_coding 0, spec §4.1): each label in exactly ``bits`` bits,
MSB first, row-major, the last byte zero-padded. Its size is known in advance (§7).

Labels of up to 8 bits travel as uint8, wider ones (block files, bits 9..16) as uint16."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..container import MAX_BITS, Header
from ..errors import FormatError
from ._status import check_largest, check_status


def encode(labels: np.ndarray, header: Header) -> bytes:
    """The packed payload: always ``header.packed_bytes`` long."""
    if header.bits > MAX_BITS:
        return _core.pack_wide(np.ascontiguousarray(labels, np.uint16), header.bits)
    return _core.pack(np.ascontiguousarray(labels, np.uint8), header.bits)


def decode(
    payload: bytes | memoryview, header: Header, codebook: np.ndarray | None = None
) -> np.ndarray:
    """The labels (one a block), or with a codebook (1 x 1 blocks only) the pixels (H*W, C)
    (spec §4.1, §6 check 8)."""
    if not padding_is_zero(payload, header.labels, header.bits):
        raise FormatError("payload", "padding bits after the last label must be zero")
    if codebook is None:
        wide = header.bits > MAX_BITS
        labels = np.empty(header.labels, np.uint16 if wide else np.uint8)
        (_core.unpack_wide if wide else _core.unpack)(payload, header.bits, labels)
        check_largest(labels, header)
        return labels
    pixels = np.empty((header.pixels, header.channels), np.uint8)
    check_status(_core.expand(payload, header.bits, codebook, header.channels, pixels), header)
    return pixels


def padding_is_zero(payload: bytes | memoryview, count: int, bits: int) -> bool:
    """True when the bits after the last label in the last byte are all zero (spec §4.1)."""
    spare = len(payload) * 8 - count * bits
    return spare == 0 or (payload[-1] & ((1 << spare) - 1)) == 0
