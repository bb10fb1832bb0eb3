"""Label codings: how the payload stores the labels (spec §4).

Each coding is a module with the same two functions, both given the file's header:

- ``encode(labels, header) -> bytes | None``: the payload for the (H*W,) uint8 labels, or
  None when this coding cannot store them within what the header allows;
- ``decode(payload, header, codebook=None) -> ndarray``: the (H*W,) labels, or, given the
  (K, C) codebook, the (H*W, C) pixels straight away. Raises FormatError("payload", ...)
  for a payload that breaks the spec, a label outside the codebook included.

The loops run in C (``vqcodec._core``); ``_status`` turns its status codes into
FormatErrors, in one place.
"""

from __future__ import annotations

from types import ModuleType

from ..container import LabelCoding
from . import entropy, entropy2, packed

CODINGS: dict[LabelCoding, ModuleType] = {
    LabelCoding.PACKED: packed,
    LabelCoding.ENTROPY: entropy,
    LabelCoding.ENTROPY2: entropy2,
}
