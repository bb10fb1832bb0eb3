"""The compiled loop of the entropy label coding (spec §4.2): context model + range coder.

Everything here runs under numba. One loop, ``_code``, both encodes and decodes: the decoder
is the encoder with each decision read instead of written, so the two cannot drift apart.
``encode`` and ``decode`` inline it with ``decoding`` a constant, so that each compiled loop
carries only its own side (the decoder runs 1.6x faster than with a runtime flag).
"""

from __future__ import annotations

import numba
import numpy as np

# The model's constants (spec §4.2).
PROBABILITY_ONE = 1 << 16  # a probability is P(bit = 1) in units of 2**-16
PROBABILITY_MIN, PROBABILITY_MAX = 32, PROBABILITY_ONE - 32
MAX_SHIFT = 5  # adaptation shift: 1 + updates // 4, at most this
CANDIDATES = 4  # W, N, NE, NW, each only if not equal to an earlier one
PATTERNS = 64  # six equality bits between neighbours
ACTIVITY_CLASSES = 4  # |W - NW| + |N - NW| + |N - NE|: 0, 1, 2..3, 4 or more
TREE_NODES = 256  # nodes 1..2**bits - 1 of the binary tree over a label's bits
TREE_STATES = 4  # prefix equal to the prediction's, its next bit 0 / 1; below it; above it
FLAG_MODELS = CANDIDATES * PATTERNS * ACTIVITY_CLASSES
MODELS = FLAG_MODELS + ACTIVITY_CLASSES * TREE_NODES * TREE_STATES

# The coder's state travels as a tuple of scalars, (range, low or code, cache, pending, pos,
# flags), so that the compiled loop keeps it in registers.
_TOP = 1 << 24  # renormalise while the range is below this
_MASK32 = 0xFFFFFFFF
_STARTED, _OVERRUN, _FULL = 1, 2, 4  # flags: first byte dropped; read past the end; out full

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


@_inline
def _shift_low(low, cache, pending, pos, flags, data):
    """Encoder: move the top byte of low out, through a one-byte cache that absorbs a carry."""
    if low < 0xFF000000 or low > _MASK32:
        carry = low >> 32
        byte = cache
        while pending > 0:
            if flags & _STARTED:
                if pos < len(data):
                    data[pos] = (byte + carry) & 0xFF
                else:
                    flags |= _FULL
                pos += 1
            else:
                flags |= _STARTED  # the first byte is always 0 and is not stored
            byte = 0xFF
            pending -= 1
        cache = (low >> 24) & 0xFF
    return (low & 0x00FFFFFF) << 8, cache, pending + 1, pos, flags


@_inline
def _decide(coder, data, decoding, probability, updates, model, bit):
    """Code one binary decision with adaptive model ``model``: write ``bit`` (encoding) or
    read it (decoding). Returns the new coder state and the bit."""
    rng, low, cache, pending, pos, flags = coder
    p = probability[model]
    bound = (rng >> 16) * p
    if decoding:
        bit = 1 if low < bound else 0  # the decoder keeps its code value in "low"
    if bit:
        rng = bound
    else:
        low -= bound if decoding else -bound
        rng -= bound
    while rng < _TOP:
        rng = (rng << 8) & _MASK32
        if decoding:
            low = (low << 8) & _MASK32
            if pos < len(data):
                low |= data[pos]
            else:
                flags |= _OVERRUN
            pos += 1
        else:
            low, cache, pending, pos, flags = _shift_low(low, cache, pending, pos, flags, data)
    n = updates[model]
    shift = min(1 + n // 4, MAX_SHIFT)
    if bit:
        p += (PROBABILITY_ONE - p) >> shift
    else:
        p -= p >> shift
    probability[model] = min(max(p, PROBABILITY_MIN), PROBABILITY_MAX)
    updates[model] = min(n + 1, 4 * MAX_SHIFT)
    return (rng, low, cache, pending, pos, flags), bit


@_inline
def _code(grid, bits, data, decoding):
    """Encode ``grid`` (H, W) uint8 labels into ``data``, or decode ``data`` into ``grid``.

    Returns the number of bytes written or consumed; -1 when the encoder's ``data`` is too
    small, or when the decoder needed bytes past the end of ``data``.
    """
    height, width = grid.shape
    top = (1 << bits) - 1
    probability = np.full(MODELS, PROBABILITY_ONE // 2, np.int64)
    updates = np.zeros(MODELS, np.int64)
    # The labels with the border of spec §4.2 around them: two rows of 0 above, two columns
    # left of each row repeating the first label of the row above, one column right
    # repeating the row's last label. Every neighbour is then a plain read.
    stride = width + 3
    plane = np.zeros((height + 2) * stride, np.int64)
    low = pos = flags = np.int64(0)
    if decoding:
        for _ in range(4):
            low <<= 8
            if pos < len(data):
                low |= data[pos]
            else:
                flags |= _OVERRUN
            pos += 1
    coder = (np.int64(_MASK32), low, np.int64(0), np.int64(1), pos, flags)

    for y in range(height):
        row = (y + 2) * stride + 2  # index of (0, y) in plane
        plane[row - 1] = plane[row - 2] = plane[row - stride]
        for x in range(width):
            i = row + x
            w = plane[i - 1]
            ww = plane[i - 2]
            n = plane[i - stride]
            nw = plane[i - stride - 1]
            ne = plane[i - stride + 1]
            nn = plane[i - 2 * stride]
            pattern = (
                (w == n)
                + 2 * (n == ne)
                + 4 * (n == nw)
                + 8 * (w == nw)
                + 16 * (w == ww)
                + 32 * (n == nn)
            )
            activity = abs(w - nw) + abs(n - nw) + abs(n - ne)
            a = 0 if activity == 0 else 1 if activity == 1 else 2 if activity <= 3 else 3
            v = np.int64(0) if decoding else np.int64(grid[y, x])
            # The candidates W, N, NE, NW in that order, each only if not seen before.
            matched = False
            for k in range(CANDIDATES):
                if k == 0:
                    c = w
                elif k == 1:
                    c = n
                    if n == w:
                        continue
                elif k == 2:
                    c = ne
                    if ne in (w, n):
                        continue
                else:
                    c = nw
                    if nw in (w, n, ne):
                        continue
                model = (k * PATTERNS + pattern) * ACTIVITY_CLASSES + a
                coder, bit = _decide(coder, data, decoding, probability, updates, model, v == c)
                if bit:
                    v = c
                    matched = True
                    break

            if not matched:
                prediction = min(max(w + n - nw, 0), top)
                node = 1
                tree_state = 0
                for b in range(bits - 1, -1, -1):
                    predicted = (prediction >> b) & 1
                    s = tree_state if tree_state >= 2 else predicted
                    model = FLAG_MODELS + (a * TREE_NODES + node) * TREE_STATES + s
                    coder, bit = _decide(
                        coder, data, decoding, probability, updates, model, (v >> b) & 1
                    )
                    if tree_state < 2 and bit != predicted:
                        tree_state = 2 + bit
                    node = 2 * node + bit
                v = node - (1 << bits)
            plane[i] = v
        plane[row + width] = plane[row + width - 1]
        if coder[5] & _FULL:
            return -1  # the encoder is past its budget: stop early
    if decoding:
        for y in range(height):
            grid[y, :] = plane[(y + 2) * stride + 2 : (y + 2) * stride + 2 + width]
    _, low, cache, pending, pos, flags = coder
    if decoding:
        return -1 if flags & _OVERRUN else pos
    for _ in range(5):  # flush: the pending bytes and the four bytes of low
        low, cache, pending, pos, flags = _shift_low(low, cache, pending, pos, flags, data)
    return -1 if flags & _FULL else pos


@_jit
def encode(grid, bits, data):
    """Code the (H, W) labels ``grid`` into ``data``: bytes written, or -1 if it is full."""
    return _code(grid, bits, data, False)


@_jit
def decode(grid, bits, data):
    """Decode ``data`` into ``grid``: bytes consumed, or -1 if it needs more than ``data``."""
    return _code(grid, bits, data, True)
