"""The entropy2 label coding (label_coding 2, spec §4.3): one adaptive multi-symbol decision
per pixel, rANS-coded.

Where the four neighbours W, N, NE, NW are one label, a run symbol says how far along the
flat span of the row above the row stays that label; elsewhere one 5-ary symbol says which
neighbour the label equals, or that a literal follows: one 16-ary symbol, or (bits > 4) a
high and a low nibble, in contexts of the median prediction of W, N and W + N - NW, or the
label's rank by distance from that prediction (the residual mode, bits > 4). The encoder
takes residuals for gray images, whose codebook is stored in ascending order so that a label
difference is a gray-level difference, and nibbles for colour, whose lexicographic order
is no such measure: on the corpus at bits 5-8, residuals made every gray file 3-13%
smaller and every RGB file 1-8% larger. Models are 15-bit frequency tables moved
towards each coded symbol; the coder is rANS with two interleaved states and 16-bit words.
The loops are C (``csrc/entropy2.c``).

The decoder stops at the first byte it would read past the payload; the header check
(``container.min_entropy2_payload``) already refused payloads too short for their pixel
count, before anything was allocated.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ..container import Header, min_entropy2_payload
from ._status import decode_with


def encode(labels: np.ndarray, header: Header) -> bytes | None:
    """The coded labels, or None when they would not be smaller than the packed payload."""
    labels = np.ascontiguousarray(labels, np.uint8)
    mode = int(header.channels == 1 and header.block == (1, 1) and header.bits > 4)
    coded = _core.entropy2_encode(
        labels, header.columns, header.rows, header.bits, header.packed_bytes - 1, 0, mode
    )
    if coded is None or len(coded) < min_entropy2_payload(header.labels):
        return None  # cannot happen for a correct coder, but then packed is the safe answer
    return coded


def decode(
    payload: bytes | memoryview, header: Header, codebook: np.ndarray | None = None
) -> np.ndarray:
    """The labels (H*W,), or with a codebook the pixels (H*W, C) (spec §4.3, §6 check 8)."""
    return decode_with(_core.entropy2_decode, payload, header, codebook)
