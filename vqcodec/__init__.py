"""vqcodec: a K-means vector-quantization image codec and its .vq file format.

An image becomes a codebook of at most 2**bits colours plus one label per pixel, packed at
``bits`` bits or entropy-coded; the file is those two, a fixed header and CRC-32 checks
(``spec/vq-format.md``).

>>> import numpy as np, vqcodec
>>> data = vqcodec.encode(np.arange(12, dtype=np.uint8).reshape(3, 4), bits=2)
>>> vqcodec.decode(data).shape
(3, 4)
"""

from .books import Codebook, train
from .codec import TargetError, decode, encode, info, read, write
from .errors import FormatError, VQError

__all__ = [
    "Codebook",
    "FormatError",
    "TargetError",
    "VQError",
    "decode",
    "encode",
    "info",
    "read",
    "train",
    "write",
]
__version__ = "0.1.0"
