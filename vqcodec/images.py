"""Input images: numpy arrays or Pillow images in, one uint8 array of shape (H, W, C) out.

Every encoder path starts here, so the rest of the package only ever sees C in {1, 3, 4}.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
from collections.abc import Iterator

import numpy as np
from PIL import Image

from . import container
from .errors import VQError

ImageLike = np.ndarray | Image.Image

CHANNEL_COUNTS = (1, 3, 4)

# Pillow modes we convert, and to what (spec §10). P becomes RGBA only when its palette has
# transparency; 1 becomes L (0/255); LA and PA become RGBA (gray copied to R, G and B); La and
# RGBa are un-premultiplied (Pillow converts La only to LA, hence two steps); 16-bit gray
# keeps its top 8 bits, the rule libpng's strip_16 uses.
_DIRECT_MODES = {"L": 1, "RGB": 3, "RGBA": 4}
_CONVERT_MODES = {
    "1": ("L",),
    "LA": ("RGBA",),
    "La": ("LA", "RGBA"),
    "PA": ("RGBA",),
    "RGBa": ("RGBA",),
    "YCbCr": ("RGB",),
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def to_array(image: ImageLike, max_pixels: int | None = None) -> np.ndarray:
    """Return ``image`` as a C-contiguous uint8 array of shape (H, W, C), C in {1, 3, 4}.

    An image over the pixel limit (``max_pixels`` as for ``vqcodec.encode``) is refused
    before its pixels are touched: a lazily loaded PIL image is not decoded.
    """
    if isinstance(image, Image.Image):
        check_pixels(image.width, image.height, max_pixels)
        array = _pil_to_array(image)
    elif isinstance(image, np.ndarray):
        array = _check_array(image)
        check_pixels(array.shape[1], array.shape[0], max_pixels)
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
        for step in _CONVERT_MODES[mode]:
            image = image.convert(step)
    elif mode not in _DIRECT_MODES:
        raise VQError(f"image mode {mode!r} is not supported; convert it to L, RGB or RGBA first")
    return _check_array(np.asarray(image))


def _palette_has_alpha(image: Image.Image) -> bool:
    if "transparency" in image.info:
        return True
    palette = image.palette
    return palette is not None and palette.mode == "RGBA"


def check_pixels(width: int, height: int, max_pixels: int | None = None) -> None:
    """Refuse an input image the reader would refuse (spec §6), before decoding its pixels.

    ``max_pixels``: None for the reader's limit (``vqcodec.container.MAX_IMAGE_PIXELS``), 0
    for none, else the limit, as for ``vqcodec.encode`` and ``vqcodec.decode``.
    """
    limit = container.pixel_limit(max_pixels)
    if limit is not None and width * height > limit:
        raise VQError(
            f"{width}x{height} = {width * height} pixels exceeds the limit of {limit} "
            "(max_pixels=, or --max-pixels on the command line, changes it)"
        )


def open_image(path: str | os.PathLike[str], max_pixels: int | None = None) -> Image.Image:
    """Open and fully decode an image file with Pillow, or raise one clear ``VQError``.

    The pixel limit (``max_pixels`` as for ``check_pixels``) is checked from the header that
    ``Image.open`` reads, before any pixel is decoded; Pillow's own check is off meanwhile,
    so that it neither warns nor refuses by another limit than ours.

    Pillow reports a damaged file with many exception types (OSError, SyntaxError,
    ValueError, EOFError, struct.error, ...) depending on the format and where the damage is;
    a user only needs to know that this file could not be read, and why. The messages do
    not name the file: the caller knows it.
    """
    try:
        with _without_pillow_limit(), Image.open(path) as image:
            check_pixels(image.width, image.height, max_pixels)
            image.load()
            return image.copy()  # detached from the file, palette and info kept
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as error:
        if isinstance(error, VQError):
            raise
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the file system's own error (permissions, a folder, ...), said as such
        raise VQError(f"cannot read image: {error}") from None


# Image.MAX_IMAGE_PIXELS is one setting for the whole process: while any thread is inside
# _without_pillow_limit it is None, and the last one out restores it. Other threads opening
# images with Pillow meanwhile skip Pillow's check too; a per-call setting does not exist.
_pillow_limit_lock = threading.Lock()
_pillow_limit_users = 0
_pillow_limit_saved: int | None = None


@contextlib.contextmanager
def _without_pillow_limit() -> Iterator[None]:
    global _pillow_limit_users, _pillow_limit_saved
    with _pillow_limit_lock:
        if _pillow_limit_users == 0:
            _pillow_limit_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _pillow_limit_users += 1
    try:
        yield
    finally:
        with _pillow_limit_lock:
            _pillow_limit_users -= 1
            if _pillow_limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _pillow_limit_saved
