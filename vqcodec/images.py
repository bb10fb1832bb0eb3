"""Input images: numpy arrays or Pillow images in, one uint8 array of shape (H, W, C) out.

Every encoder path starts here, so the rest of the package only ever sees C in {1, 3, 4}.
"""

from __future__ import annotations

import os
import struct

import numpy as np
from PIL import Image

from .errors import VQError

ImageLike = np.ndarray | Image.Image

CHANNEL_COUNTS = (1, 3, 4)

# Pillow modes we convert, and to what. P becomes RGBA only when its palette has transparency;
# 1 becomes L (0/255); LA and PA become RGBA (gray copied to R, G and B); 16-bit gray keeps its
# top 8 bits, the rule libpng's strip_16 uses.
_DIRECT_MODES = {"L": 1, "RGB": 3, "RGBA": 4}
_CONVERT_MODES = {
    "1": "L",
    "LA": "RGBA",
    "La": "RGBA",
    "PA": "RGBA",
    "RGBa": "RGBA",
    "YCbCr": "RGB",
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def to_array(image: ImageLike) -> np.ndarray:
    """Return ``image`` as a C-contiguous uint8 array of shape (H, W, C), C in {1, 3, 4}."""
    if isinstance(image, Image.Image):
        array = _pil_to_array(image)
    elif isinstance(image, np.ndarray):
        array = _check_array(image)
    else:
        raise TypeError(f"image must be a numpy array or a PIL image, not {type(image).__name__}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise VQError(f"image is empty ({array.shape[1]}x{array.shape[0]} pixels)")
    return np.ascontiguousarray(array)


def _check_array(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise TypeError(f"image array must have dtype uint8, not {array.dtype}")
    if array.ndim == 2:
        return array[:, :, None]
    if array.ndim == 3 and array.shape[2] in CHANNEL_COUNTS:
        return array
    raise ValueError(
        f"image array must have shape (H, W) or (H, W, C) with C in 1, 3, 4; got {array.shape}"
    )


def _pil_to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image).astype(np.uint16)
        return (wide >> 8).astype(np.uint8)[:, :, None]
    if mode == "P":
        mode_out = "RGBA" if _palette_has_alpha(image) else "RGB"
        image = image.convert(mode_out)
    elif mode in _CONVERT_MODES:
        image = image.convert(_CONVERT_MODES[mode])
    elif mode not in _DIRECT_MODES:
        raise VQError(f"image mode {mode!r} is not supported; convert it to L, RGB or RGBA first")
    return _check_array(np.asarray(image))


def _palette_has_alpha(image: Image.Image) -> bool:
    if "transparency" in image.info:
        return True
    palette = image.palette
    return palette is not None and palette.mode == "RGBA"


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open and fully decode an image file with Pillow, or raise one clear ``VQError``.

    Pillow reports a damaged file with many exception types (OSError, SyntaxError,
    ValueError, EOFError, struct.error, ...) depending on the format and where the damage is;
    a user only needs to know that this file could not be read, and why.
    """
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()  # detached from the file, palette and info kept
    except FileNotFoundError:
        raise
    except Image.DecompressionBombError as error:
        raise VQError(f"{os.fspath(path)}: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the file system's own error (permissions, a folder, ...), said as such
        raise VQError(f"{os.fspath(path)}: cannot read image: {error}") from None
