"""The "packed" label coding: each label in exactly ``bits`` bits, MSB first, row-major.

Eight labels of ``bits`` bits fill exactly ``bits`` bytes, so both directions work on groups
of eight: the group becomes one 64-bit integer (label 0 in the highest bits), whose low
``bits`` bytes, written big-endian, are the group's bytes in the file. Whole-array numpy
operations, done in chunks so the uint64 temporaries stay a few MB whatever the image size.
"""

from __future__ import annotations

import numpy as np

_CHUNK_GROUPS = 1 << 17  # groups of 8 labels per chunk: 1 Mi labels, 8 MiB of uint64


def packed_size(count: int, bits: int) -> int:
    """Bytes the packed coding takes for ``count`` labels of ``bits`` bits (the size law)."""
    return (count * bits + 7) // 8


def pack(labels: np.ndarray, bits: int) -> bytes:
    """Pack a 1-D uint8 array of labels, each < 2**bits, at ``bits`` bits each."""
    count = labels.size
    if bits == 8:
        return labels.tobytes()
    if bits == 1:
        return np.packbits(labels).tobytes()
    groups = -(-count // 8)
    out = np.empty((groups, bits), np.uint8)
    shifts = (np.arange(7, -1, -1, dtype=np.uint64) * np.uint64(bits))[None, :]
    for first in range(0, groups, _CHUNK_GROUPS):
        last = min(first + _CHUNK_GROUPS, groups)
        chunk = np.zeros((last - first) * 8, np.uint64)
        piece = labels[first * 8 : last * 8]
        chunk[: piece.size] = piece  # the last group is padded with zero labels
        words = np.bitwise_or.reduce(chunk.reshape(-1, 8) << shifts, axis=1)
        out[first:last] = words.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 8 - bits :]
    return out.tobytes()[: packed_size(count, bits)]


def unpack(payload: bytes | memoryview, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``count`` labels from ``packed_size(count, bits)`` bytes."""
    raw = np.frombuffer(payload, np.uint8)
    if bits == 8:
        return raw[:count].copy()
    if bits == 1:
        return np.unpackbits(raw, count=count)
    groups = -(-count // 8)
    labels = np.empty(groups * 8, np.uint8)
    shifts = (np.arange(7, -1, -1, dtype=np.uint64) * np.uint64(bits))[None, :]
    mask = np.uint64((1 << bits) - 1)
    for first in range(0, groups, _CHUNK_GROUPS):
        last = min(first + _CHUNK_GROUPS, groups)
        piece = raw[first * bits : last * bits]
        wide = np.zeros((last - first, 8), np.uint8)
        body = np.zeros((last - first) * bits, np.uint8)
        body[: piece.size] = piece  # the file stops at the last whole byte, not the group
        wide[:, 8 - bits :] = body.reshape(-1, bits)
        words = wide.view(">u8")  # (groups, 1)
        labels[first * 8 : last * 8] = ((words >> shifts) & mask).astype(np.uint8).reshape(-1)
    return labels[:count]


def padding_is_zero(payload: bytes | memoryview, count: int, bits: int) -> bool:
    """True when the bits after the last label in the last byte are all zero (spec §4)."""
    spare = len(payload) * 8 - count * bits
    return spare == 0 or (payload[-1] & ((1 << spare) - 1)) == 0
