"""The entropy label coding (label_coding 1, spec §4.2): a context model and a range coder.

Each label is coded as a few binary decisions, each with an adaptive probability chosen by a
context of already coded neighbours: "same as the left label?", "same as the one above?", ...
and, when none matches, the label's bits from the most significant down, predicted by the
gradient W + N - NW. A binary range coder (LZMA's, with 16-bit probabilities) turns the
decisions into bytes. The loop is C (``csrc/entropy.c``), one body for both
directions, so encoder and decoder cannot drift apart.

The decoder stops at the first byte it would read past the payload, so a crafted payload
costs work in proportion to its length; the header check (``container.min_entropy_payload``)
already refused payloads too short for their pixel count, before anything was allocated.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ..container import Header, min_entropy_payload
from ._status import decode_with


def encode(labels: np.ndarray, header: Header) -> bytes | None:
    """The coded labels, or None when they would not be smaller than the packed payload."""
    labels = np.ascontiguousarray(labels, np.uint8)
    coded = _core.entropy_encode(
        labels, header.columns, header.rows, header.bits, header.packed_bytes - 1
    )
    if coded is None or len(coded) < min_entropy_payload(header.labels):
        return None  # cannot happen for a correct coder, but then packed is the safe answer
    return coded


def decode(
    payload: bytes | memoryview, header: Header, codebook: np.ndarray | None = None
) -> np.ndarray:
    """The labels (H*W,), or with a codebook the pixels (H*W, C) (spec §4.2, §6 check 8)."""
    return decode_with(_core.entropy_decode, payload, header, codebook)
