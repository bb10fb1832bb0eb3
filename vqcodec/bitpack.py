"""The "packed" label coding: each label in exactly ``bits`` bits, MSB first, row-major.

Two whole-array methods, by width:

- bits 1, 2, 4, 8 (8 is a multiple of ``bits``): a byte holds 8 // bits whole labels; each of
  its label positions is one strided shift-and-OR over the array.
- bits 3, 5, 6, 7: eight labels fill exactly ``bits`` bytes, so a group of eight becomes one
  64-bit word (label 0 in the highest bits) whose low ``bits`` bytes, big-endian, are the
  group's bytes in the file. Done in chunks so the uint64 temporaries stay a few MiB.

``bench/bitpack.py`` measures these against bitarray.
"""

from __future__ import annotations

import numpy as np

_CHUNK_GROUPS = 1 << 17  # groups of 8 labels per chunk: 1 Mi labels, 8 MiB of uint64
# Decode, bits 3, 5, 6: labels looked up together in one table key (measured fastest; at 7
# bits a 14-bit table costs more than it saves, so 7 unpacks and gathers like 8).
_LABELS_PER_KEY = {3: 4, 5: 2, 6: 2}


def packed_size(count: int, bits: int) -> int:
    """Bytes the packed coding takes for ``count`` labels of ``bits`` bits (the size law)."""
    return (count * bits + 7) // 8


def pack(labels: np.ndarray, bits: int) -> bytes:
    """Pack a 1-D uint8 array of labels, each < 2**bits, at ``bits`` bits each."""
    if 8 % bits == 0:
        return _pack_whole_bytes(labels, bits)
    count = labels.size
    groups = -(-count // 8)
    out = np.empty((groups, bits), np.uint8)
    for first in range(0, groups, _CHUNK_GROUPS):
        last = min(first + _CHUNK_GROUPS, groups)
        group = np.zeros((last - first, 8), np.uint8)
        piece = labels[first * 8 : last * 8]
        group.reshape(-1)[: piece.size] = piece  # the last group is padded with zero labels
        words = np.zeros(last - first, np.uint64)
        for position in range(8):
            words |= group[:, position].astype(np.uint64) << np.uint64(bits * (7 - position))
        out[first:last] = words.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 8 - bits :]
    return out.reshape(-1)[: packed_size(count, bits)].tobytes()  # one copy, not two


def unpack(payload: bytes | memoryview, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``count`` labels from ``packed_size(count, bits)`` bytes."""
    raw = np.frombuffer(payload, np.uint8)
    if 8 % bits == 0:
        return _unpack_whole_bytes(raw, count, bits)
    groups = -(-count // 8)
    labels = np.empty((groups, 8), np.uint8)
    mask = np.uint64((1 << bits) - 1)
    for first in range(0, groups, _CHUNK_GROUPS):
        last = min(first + _CHUNK_GROUPS, groups)
        words = _group_words(raw, first, last, bits)
        for position in range(8):
            labels[first:last, position] = (words >> np.uint64(bits * (7 - position))) & mask
    return labels.reshape(-1)[:count]


def _group_words(raw: np.ndarray, first: int, last: int, bits: int) -> np.ndarray:
    """Groups ``first`` to ``last - 1`` of 8 labels (``bits`` bytes each) as 64-bit words,
    label 0 in the highest bits. The file stops at its last whole byte, not at a group's
    end, so a short last group is padded with zero bytes."""
    piece = raw[first * bits : last * bits]
    flat = np.zeros((last - first) * bits, np.uint8)
    flat[: piece.size] = piece
    wide = np.zeros((last - first, 8), np.uint8)
    wide[:, 8 - bits :] = flat.reshape(-1, bits)
    return wide.view(">u8")[:, 0]


def _pack_whole_bytes(labels: np.ndarray, bits: int) -> bytes:
    if bits == 8:
        return labels.tobytes()
    if bits == 1:
        return np.packbits(labels).tobytes()
    per_byte = 8 // bits
    padded = np.zeros(-(-labels.size // per_byte) * per_byte, np.uint8)
    padded[: labels.size] = labels
    slots = padded.reshape(-1, per_byte)
    out = np.zeros(len(slots), np.uint8)
    for position in range(per_byte):
        out |= slots[:, position] << np.uint8(bits * (per_byte - 1 - position))
    return out.tobytes()


def _unpack_whole_bytes(raw: np.ndarray, count: int, bits: int) -> np.ndarray:
    if bits == 8:
        return raw[:count].copy()
    if bits == 1:
        return np.unpackbits(raw, count=count)
    per_byte = 8 // bits
    mask = np.uint8((1 << bits) - 1)
    labels = np.empty((raw.size, per_byte), np.uint8)
    for position in range(per_byte):
        labels[:, position] = (raw >> np.uint8(bits * (per_byte - 1 - position))) & mask
    return labels.reshape(-1)[:count]


def padding_is_zero(payload: bytes | memoryview, count: int, bits: int) -> bool:
    """True when the bits after the last label in the last byte are all zero (spec §4)."""
    spare = len(payload) * 8 - count * bits
    return spare == 0 or (payload[-1] & ((1 << spare) - 1)) == 0


def expand(
    payload: bytes | memoryview, count: int, bits: int, codebook: np.ndarray
) -> tuple[np.ndarray, int]:
    """Decode the labels straight to pixels: ``(count, C)`` uint8 and the largest label seen.

    For bits 1, 2 and 4 each payload byte holds 8 // bits whole labels, so a 256-row table
    maps a byte directly to its 8 // bits pixels: one gather per byte does unpacking and
    codebook lookup together; 3, 5 and 6 do the same with 10- or 12-bit keys cut from each
    group's 64-bit word. 7 and 8 unpack, then gather one codebook row per label.
    Rows are gathered as opaque fixed-size items (a void view): 4x faster than fancy
    indexing of 3-byte rows. Labels past the codebook read zeros; the caller rejects them
    by the largest label. A full codebook (2**bits entries) admits every label, so then the
    search is skipped and the largest possible label is reported.
    """
    channels = codebook.shape[1]
    full = len(codebook) == 1 << bits
    padded = np.zeros((1 << bits, channels), np.uint8)
    padded[: len(codebook)] = codebook
    raw = np.frombuffer(payload, np.uint8)
    if bits in (1, 2, 4):
        per_byte = 8 // bits
        byte_labels = _key_labels(per_byte, bits)
        # Padding bits are zero (checked by the caller), so a last partial byte adds label 0.
        largest = (1 << bits) - 1 if full else int(byte_labels.max(axis=1)[raw].max())
        table = padded[byte_labels].reshape(256, per_byte * channels)
        pixels = _gather(_as_items(table), raw).view(np.uint8).reshape(-1, channels)
        return pixels[:count], largest
    if bits in _LABELS_PER_KEY:
        return _expand_groups(raw, count, bits, padded, full)
    labels = raw[:count] if bits == 8 else unpack(payload, count, bits)
    return lookup(labels, padded), (1 << bits) - 1 if full else int(labels.max())


def lookup(labels: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """``codebook[labels]`` as a (len(labels), C) uint8 array; every label must be a row."""
    items = _gather(_as_items(codebook), labels)
    return items.view(np.uint8).reshape(len(labels), codebook.shape[1])


def _gather(items: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``items[indices]`` in chunks: np.take turns uint8 indices into intp (8 bytes each),
    which for a whole 24-megapixel image would be a 192 MB temporary."""
    out = np.empty(len(indices), items.dtype)
    step = _CHUNK_GROUPS * 8
    for start in range(0, len(indices), step):
        np.take(items, indices[start : start + step], out=out[start : start + step])
    return out


def _expand_groups(
    raw: np.ndarray, count: int, bits: int, padded: np.ndarray, full: bool
) -> tuple[np.ndarray, int]:
    """bits 3, 5, 6: each group of 8 labels (``bits`` bytes) as one 64-bit word, cut into
    keys of 4 or 2 labels (12 or 10 bits); a table maps each key straight to its pixels.
    """
    per_key = _LABELS_PER_KEY[bits]
    key_bits = per_key * bits
    key_labels = _key_labels(per_key, bits)
    key_largest = key_labels.max(axis=1)
    table = _as_items(padded[key_labels].reshape(len(key_labels), -1))
    channels = padded.shape[1]
    groups = -(-count // 8)
    per_group = 8 // per_key
    items = np.empty((groups, per_group), table.dtype)
    key_mask = np.uint64((1 << key_bits) - 1)
    largest = (1 << bits) - 1 if full else 0
    for first in range(0, groups, _CHUNK_GROUPS):
        last = min(first + _CHUNK_GROUPS, groups)
        words = _group_words(raw, first, last, bits)
        for position in range(per_group):
            shift = np.uint64(key_bits * (per_group - 1 - position))
            key = ((words >> shift) & key_mask).astype(np.intp)
            if not full:
                largest = max(largest, int(key_largest[key].max()))
            items[first:last, position] = np.take(table, key)
    # Labels past ``count`` in the last group come from zero padding: label 0, harmless.
    return items.view(np.uint8).reshape(-1, channels)[:count], largest


def _key_labels(per_key: int, bits: int) -> np.ndarray:
    """Row k: the ``per_key`` labels of ``bits`` bits packed in the integer k, MSB first
    (spec §4's order), for every k below 2**(per_key * bits). The decode tables' index."""
    keys = np.arange(1 << (per_key * bits), dtype=np.uint32)
    shifts = np.arange(per_key - 1, -1, -1, dtype=np.uint32) * np.uint32(bits)
    return ((keys[:, None] >> shifts) & np.uint32((1 << bits) - 1)).astype(np.intp)


def _as_items(rows: np.ndarray) -> np.ndarray:
    """A (R, B) uint8 array as R opaque items of B bytes each."""
    return np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1]))).ravel()
