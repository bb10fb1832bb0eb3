"""The C kernels' status codes, as the errors they stand for, and the decode the entropy
codings share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import _core
from ..container import Header
from ..errors import FormatError


def check_status(status: int, header: Header) -> None:
    """Turn a kernel's status code into the FormatError it stands for (spec §6, check 8)."""
    if status == _core.ERR_LABEL:
        raise FormatError(
            "payload", f"a label is outside the codebook ({header.codebook_entries} entries)"
        )
    if status == _core.ERR_OVERRUN:
        raise FormatError("payload", "the coded labels need bytes past its end (corrupt file)")
    if status == _core.ERR_RUN:
        raise FormatError("payload", "a run is as long as its span or longer (corrupt file)")
    if status == _core.ERR_STATE:
        raise FormatError(
            "payload", "the coder's state does not start or end where it must (corrupt file)"
        )
    if status < 0:
        raise RuntimeError(f"vqcodec._core returned status {status}")  # a bug, not the file


def check_largest(labels: np.ndarray, header: Header) -> None:
    """Labels decoded without a codebook must still index it (spec §6, check 8)."""
    if header.codebook_entries < 1 << header.bits and int(labels.max()) >= header.codebook_entries:
        check_status(_core.ERR_LABEL, header)


def decode_with(
    kernel: Callable[..., int],
    payload: bytes | memoryview,
    header: Header,
    codebook: np.ndarray | None = None,
) -> np.ndarray:
    """An entropy coding's decode by its C ``kernel``: the labels (H*W,), or with a codebook
    the pixels (H*W, C); every status and leftover byte a FormatError (spec §6 check 8).

    Working memory is the output plus O(width): with a codebook the labels are decoded into
    the output's tail and expanded in place.
    """
    if codebook is None:
        out = np.empty(header.labels, np.uint8)
        used = kernel(payload, header.columns, header.rows, header.bits, out)
    else:
        out = np.empty((header.labels, header.channels), np.uint8)
        used = kernel(
            payload, header.columns, header.rows, header.bits, out, codebook, header.channels
        )
    check_status(min(used, 0), header)
    if used != len(payload):
        raise FormatError(
            "payload",
            f"{len(payload) - used} bytes left after the last coded label "
            f"(the labels take {used} of {len(payload)})",
        )
    if codebook is None:
        check_largest(out, header)
    return out
