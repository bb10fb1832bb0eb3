"""The entropy label coding (label_coding = 1, spec §4.2): a context model and a range coder.

Each label is coded as a few binary decisions, each with an adaptive probability chosen by a
context of already coded neighbours: "same as the left label?", "same as the one above?", ...
and, when none matches, the label's bits from the most significant down, predicted by the
gradient W + N - NW. A binary range coder (LZMA's, with 16-bit probabilities) turns the
decisions into bytes.

The model and the coder are one loop over the pixels, compiled by numba (a Python loop would
be ~100x slower). Encoder and decoder share that loop, so the two cannot drift apart: the
decoder is the encoder with the bits read instead of written.

The compiled loop lives in ``_entropy_kernel``, imported on first use: numba's import and the
compile (or the load from numba's on-disk cache) cost nothing to packed-only users.
"""

from __future__ import annotations

import numpy as np

from .errors import FormatError


def encode_labels(
    labels: np.ndarray, width: int, height: int, bits: int, limit: int
) -> bytes | None:
    """The coded labels, or None when they would take more than ``limit`` bytes."""
    grid = np.ascontiguousarray(labels, dtype=np.uint8).reshape(height, width)
    out = np.empty(limit, np.uint8)
    size = _kernel().encode(grid, bits, out)
    return None if size < 0 else out[:size].tobytes()


def decode_labels(payload: memoryview | bytes, width: int, height: int, bits: int) -> np.ndarray:
    """The (height * width,) uint8 labels of an entropy-coded payload.

    Raises FormatError when the payload is not exactly the bytes the decoder consumes.
    """
    data = np.frombuffer(payload, np.uint8)
    data.flags.writeable = False  # one compiled signature, whatever buffer type came in
    grid = np.empty((height, width), np.uint8)
    used = _kernel().decode(grid, bits, data)
    if used < 0:
        raise FormatError(
            f"payload: the coded labels need more than its {len(data)} bytes (corrupt file)"
        )
    if used != len(data):
        raise FormatError(
            f"payload: {len(data) - used} bytes left after the last coded label "
            f"(the labels take {used} of {len(data)})"
        )
    return grid.reshape(-1)


def _kernel():
    from . import _entropy_kernel

    return _entropy_kernel
