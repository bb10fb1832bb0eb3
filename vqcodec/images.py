"""Images in and out: numpy arrays, Pillow images and image files.

In: every encoder path starts at ``to_array``, so the rest of the package only ever sees one
uint8 array of shape (H, W, C), C in {1, 3, 4}, of sRGB values (spec §3, §10). A Pillow image
or file is taken as a viewer shows it: EXIF orientation applied, an embedded ICC profile or
CMYK converted to sRGB. ``open_image`` reads a file.

Out: ``save_decoded`` writes a decoded image (codebook + labels) in a format Pillow writes:
a palette image where the format has palettes (the codebook is the palette), so the file is
as small as the codebook allows, and for every lossless format it holds ``codebook[labels]``
exactly.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import types
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError, features

from . import _io, container
from ._atomic import write_bytes
from .errors import VQError

ImageLike = np.ndarray | Image.Image

CHANNEL_COUNTS = (1, 3, 4)

# Pillow modes we convert, and to what (spec §10), before colour management. LA becomes RGBA
# (gray copied to R, G and B) only after it, so that a gray ICC profile still applies to it.
# P becomes RGBA only when its palette has transparency; 1 becomes L (0/255); La and RGBa
# are un-premultiplied; 16-bit gray keeps its top 8 bits, the rule libpng's strip_16 uses.
_BASE_MODES = ("L", "LA", "RGB", "RGBA", "CMYK")
_CONVERT_MODES = {"1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA", "YCbCr": "RGB"}
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_KNOWN_MODES = frozenset((*_BASE_MODES, *_CONVERT_MODES, *_SIXTEEN_BIT_MODES, "P"))

# The ICC colour space a profile must have to apply to an image of each base mode. A profile
# of another space is a writer's mistake that libpng ignores (with a warning), and so do we:
# the pixels are taken as sRGB (CMYK then goes through Pillow's formula, as without one).
_PROFILE_SPACES = {"L": "GRAY", "LA": "GRAY", "RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK"}
# Profile classes that describe an image's colours: input, display, output, colour space.
# An embedded device link, abstract or named-colour profile is broken, and refused.
_IMAGE_PROFILE_CLASSES = ("scnr", "mntr", "prtr", "spac")

# Formats whose further frames belong to one still image: an MPO's (phone photos carrying a
# preview, depth or gain map) are auxiliary to the first, and a PSD's are the layers of the
# composite that Pillow shows first. Any other image of several frames is refused.
_STILL_FORMATS_WITH_FRAMES = ("MPO", "PSD")


def to_array(image: ImageLike, max_pixels: int | None = None) -> np.ndarray:
    """Return ``image`` as a C-contiguous uint8 array of shape (H, W, C), C in {1, 3, 4}.

    A numpy array is taken as it is. A PIL image is taken as a viewer shows it (spec §10):
    its EXIF orientation applied, its colours converted to sRGB from an embedded ICC
    profile or from CMYK, its mode converted to L, RGB or RGBA. An image of several frames
    (``ImageSequence``, ``seek``) is taken at its current frame, as ``Image.save`` does.

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
    if image.mode not in _KNOWN_MODES:  # before turning it: no work for an image refused
        raise VQError(
            f"image mode {image.mode!r} is not supported; convert it to L, RGB or RGBA first"
        )
    icc = image.info.get("icc_profile")  # taken first: not every conversion keeps it
    image = _base_mode(upright(image))
    if icc or image.mode == "CMYK":
        image = _to_srgb(image, icc or None)
    if image.mode == "LA":  # the format has no gray + alpha (spec §2, channels)
        image = image.convert("RGBA")
    return _check_array(np.asarray(image))


def _base_mode(image: Image.Image) -> Image.Image:
    """``image``, of one of ``_KNOWN_MODES``, in one of ``_BASE_MODES``."""
    mode = image.mode
    if mode in _BASE_MODES:
        return image
    if mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(image).astype(np.uint16)
        return Image.fromarray((wide >> 8).astype(np.uint8))
    if mode == "P":
        return image.convert("RGBA" if _palette_has_alpha(image) else "RGB")
    return image.convert(_CONVERT_MODES[mode])


def _palette_has_alpha(image: Image.Image) -> bool:
    if "transparency" in image.info:
        return True
    palette = image.palette
    return palette is not None and palette.mode == "RGBA"


def upright(image: Image.Image) -> Image.Image:
    """``image`` turned as its EXIF orientation tag says a viewer shows it, without the tag
    (so that turning it again changes nothing); ``image`` itself if it has no such tag.

    What ``PIL.ImageOps.exif_transpose`` does, except that the EXIF and XMP are dropped
    rather than written back without the tag: .vq files keep no metadata, and Pillow cannot
    write back every EXIF it reads. An image turned by hand still carries Pillow's copy of
    the tag, and is turned again: drop the tag then, or turn it with ``exif_transpose``.
    """
    # Loaded first, as exif_transpose does: Pillow turns a TIFF by its tag as it loads it
    # and then drops the tag, so the tag read before loading would turn it a second time.
    image.load()
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError):
        return image  # EXIF that cannot be read: viewers show the pixels as stored
    method = _ORIENTATIONS.get(orientation) if isinstance(orientation, int) else None
    if method is None:
        return image  # 1 is upright; values beyond 8 are undefined and viewers ignore them
    turned = image.transpose(method)
    for key in _ORIENTATION_KEYS:  # where Image.getexif finds the tag again
        turned.info.pop(key, None)
    return turned


_ORIENTATION_TAG = 0x0112  # EXIF (TIFF) tag 274
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_KEYS = ("exif", "Raw profile type exif", "XML:com.adobe.xmp", "xmp")


# --- colour: everything becomes sRGB (spec §3) ----------------------------------------------


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """An L, LA, RGB or RGBA image with its colours converted to sRGB from ``icc``; CMYK
    becomes RGB, through ``icc`` if it is a CMYK profile, else by Pillow's formula.

    Rendering intent: perceptual, Pillow's default; for the matrix-shaper profiles of most
    photos and screens LittleCMS gives the same result for relative colorimetric.
    """
    profile = _profile(icc, image.mode) if icc else None
    if profile is None:
        # No profile (or one for another colour space): the values are taken as sRGB. CMYK
        # without one has no defined colours; we take Pillow's formula, as image.convert
        # gives it, rather than guess a press profile (Pillow ships none).
        return image.convert("RGB") if image.mode == "CMYK" else image
    cms = _image_cms()
    srgb = cms.createProfile("sRGB")
    intent = cms.Intent.PERCEPTUAL
    try:
        if image.mode in ("L", "LA"):
            # 256 input values: transform a ramp once and map the image through it. Grays
            # map to R = G = B (up to rounding), so G is the gray and the image stays gray.
            ramp = Image.frombytes("L", (256, 1), bytes(range(256)))
            mapped = cms.profileToProfile(ramp, profile, srgb, intent, outputMode="RGB")
            lut = list(mapped.getchannel("G").tobytes())
            return image.point(lut + list(range(256)) if image.mode == "LA" else lut)
        out = "RGB" if image.mode == "CMYK" else image.mode  # RGBA: LittleCMS keeps alpha
        return cms.profileToProfile(image, profile, srgb, intent, outputMode=out)
    except (cms.PyCMSError, OSError, ValueError) as error:
        raise _profile_error(f"converting with it failed ({error})") from None


def _profile(icc: bytes, mode: str) -> ImageCms.ImageCmsProfile | None:
    """The embedded profile, or None if it is for another colour space than ``mode``'s."""
    cms = _image_cms()
    try:
        profile = cms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
        kind = profile.profile.device_class
    except (cms.PyCMSError, OSError, ValueError, TypeError) as error:
        raise _profile_error(f"it cannot be read ({error})") from None
    if space != _PROFILE_SPACES[mode]:
        return None
    if kind not in _IMAGE_PROFILE_CLASSES:
        raise _profile_error(f"it is a {kind!r} profile, which describes no image's colours")
    return profile


def _image_cms() -> types.ModuleType:
    """PIL.ImageCms, whose LittleCMS every Pillow wheel includes; a clear error without it
    (a Pillow built from source may lack it: ImageCms then imports, and fails when used)."""
    if not features.check_module("littlecms2"):
        raise VQError(
            "the image has an embedded ICC profile, and converting its colours "
            "to sRGB needs Pillow built with LittleCMS (PIL.ImageCms), which this Pillow "
            "lacks: install Pillow's wheel (pip install --force-reinstall pillow)"
        )
    return ImageCms


def _profile_error(what: str) -> VQError:
    return VQError(
        f"its embedded ICC profile is unusable: {what}; to take the pixels as sRGB, save "
        "the image without the profile (with Pillow: del image.info['icc_profile'])"
    )


# --- limits and files -------------------------------------------------------------------------


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


def open_image(
    path: str | os.PathLike[str] | _io.Readable, max_pixels: int | None = None
) -> Image.Image:
    """Open and fully decode an image file with Pillow, or raise one clear ``VQError``.

    ``path`` is a path or a binary file object. The result is the image as a viewer shows
    it, turned by its EXIF orientation (``upright``); its colours are converted by
    ``to_array``, from the ICC profile kept in ``info``. An animated or multi-page file is
    refused, naming its frame count: a .vq file holds one still image, and silently taking
    the first frame is the surprise users reported; MPO and PSD files, whose further frames
    are parts of the first image, are taken.

    The pixel limit (``max_pixels`` as for ``check_pixels``) is checked from the header that
    ``Image.open`` reads, before any pixel is decoded; Pillow's own check is off meanwhile,
    so that it neither warns nor refuses by another limit than ours.

    Pillow reports a damaged file with many exception types (OSError, SyntaxError,
    ValueError, EOFError, struct.error, ...) depending on the format and where the damage is;
    a user only needs to know that this file could not be read, and why. The messages do
    not name the file: the caller knows it.
    """
    try:
        with _without_pillow_limit(), Image.open(path) as image:  # type: ignore[arg-type]
            check_pixels(image.width, image.height, max_pixels)
            _refuse_animation(image)
            image.load()
            turned = upright(image)  # what open_image returns is what a viewer shows
            return turned.copy() if turned is image else turned  # detached from the file
    except UnidentifiedImageError:
        # Pillow's message repeats the name, or names a BytesIO object for a stream.
        raise VQError("cannot read image: not an image format Pillow reads") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as error:
        if isinstance(error, VQError):
            raise
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the file system's own error (permissions, a folder, ...), said as such
        raise VQError(f"cannot read image: {error}") from None


def _refuse_animation(image: Image.Image) -> None:
    if not getattr(image, "is_animated", False) or image.format in _STILL_FORMATS_WITH_FRAMES:
        return
    frames = getattr(image, "n_frames", "several")
    raise VQError(
        f"{image.format} image with {frames} frames (animated or multi-page); a .vq file "
        "holds one still image: save the frame you want as its own file first (with Pillow: "
        "im.seek(N); im.save('frame.png')), or pass that frame to vqcodec.encode"
    )


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


# --- out: decoded images as image files -------------------------------------------------------

# JPEG quality when none is given. A decoded VQ image is flat colours with hard edges, on
# which Pillow's default of 75 adds about as much error again as the quantization made
# (astronaut, coffee, camera at 4 bits: 29-34 dB from the decoded image at 75, 32-39 dB at
# 90, for 1.7x the bytes).
JPEG_QUALITY = 90

# Formats whose files keep an alpha channel as Pillow writes them. GIF keeps one transparent
# palette entry, so only alpha 0 or 255. BMP is left out: most readers ignore its alpha.
_ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF", "GIF", "AVIF", "JPEG2000", "TGA", "SGI", "IM"})
# Formats whose Pillow writers resize the image (icon sizes): refused, since the output
# would not be the decoded image.
_RESIZING_FORMATS = frozenset({"ICO", "ICNS"})
# Formats that take a quality: the lossy ones. Elsewhere a quality is refused, not ignored.
_QUALITY_FORMATS = frozenset({"JPEG", "WEBP", "AVIF"})
# TIFF compression: Deflate, 5-15% smaller than LZW on decoded images at 4-8 bits, and read
# by libtiff and every reader built on it.
_TIFF_COMPRESSION = "tiff_adobe_deflate"
_TIFF_COLORMAP_TAG = 320
# Gray PNGs of more entries than this are written both as palette and as gray, the smaller
# kept: a palette packs 16 entries or fewer into 1, 2 or 4 bits a pixel and wins, but
# Pillow does not filter palette rows, and at 8 bits gray is ~20% smaller (camera, page).
_GRAY_PALETTE_ALWAYS = 16


def output_format(destination: object, format: str | None = None) -> str:
    """The Pillow format name ``save_decoded`` writes: ``format`` (a name such as "PNG", or
    an extension such as "jpg"), else the one of the destination path's extension. Icon
    formats, whose writers resize, are refused."""
    name = _format_name(destination, format)
    if name in _RESIZING_FORMATS:
        raise VQError(f"{name} files hold resized icons, not this image: use .png, .webp or .tif")
    return name


def _format_name(destination: object, format: str | None) -> str:
    Image.init()
    if format is not None and not isinstance(format, str):
        raise TypeError(f"format must be a str such as 'PNG', not {type(format).__name__}")
    if format is not None:
        name = format.upper()
        if name not in Image.SAVE:
            name = Image.registered_extensions().get("." + format.lower().lstrip("."), name)
        if name not in Image.SAVE:
            raise VQError(f"Pillow cannot write the format {format!r}")
        return name
    if not _io.is_path(destination):
        raise ValueError("format= is needed to write to a file object (say format='PNG')")
    extension = os.path.splitext(os.fspath(destination))[1].lower()  # type: ignore[arg-type]
    name = Image.registered_extensions().get(extension)
    if name is None or name not in Image.SAVE:
        raise VQError(
            f"cannot tell an image format Pillow writes from the extension {extension!r} "
            "(give one such as .png, .webp, .tif, .gif or .jpg, or a format)"
        )
    return name


def save_decoded(
    destination: _io.Destination,
    codebook: np.ndarray,
    labels: np.ndarray,
    *,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = True,
) -> None:
    """Write the image ``codebook[labels]`` as an image file.

    ``codebook`` is a (K, C) uint8 array, C = 1 (gray), 3 (RGB) or 4 (RGBA), K <= 256;
    ``labels`` an (H, W) uint8 array of indices into it. ``format`` is a Pillow format name
    or None for the one of ``destination``'s extension. ``destination`` is a path, written
    atomically as ``vqcodec.write`` writes (``overwrite=False``: an existing file is kept
    and ``FileExistsError`` raised), or a binary file object, written and left open.

    - PNG, GIF and BMP are palette images, the codebook their palette. PNG keeps every
      entry's alpha (tRNS); a gray PNG is a gray palette, or gray when that is smaller
      (more than 16 entries: both are tried). GIF keeps one transparent entry, so alpha
      must be 0 or 255 (several fully transparent entries become one: their pixels look
      the same, only the unseen colour under them is lost).
    - TIFF (Deflate-compressed): RGB is a palette image, gray is gray, RGBA is RGBA (see
      ``_tiff`` for why not a palette with alpha).
    - WebP is lossless (and keeps the colours under transparent pixels); a ``quality``
      makes it lossy at that quality. JPEG's quality is ``JPEG_QUALITY`` (90) unless given.
      A quality for a lossless format is a ``VQError``.
    - An image with alpha below 255 is refused, with a ``VQError`` naming the formats that
      keep it, by a format without alpha (JPEG, BMP, PPM, ...); one whose codebook is all
      opaque is written as RGB.

    Every lossless output decodes to ``codebook[labels]`` exactly (with Pillow:
    ``np.asarray(Image.open(f).convert(mode))``, mode L, RGB or RGBA as C says).

    >>> header, codebook, labels = vqcodec.codec.decode_parts(data)
    >>> save_decoded("photo.png", codebook, labels.reshape(header.height, header.width))
    """
    _io.check_destination(destination)
    name = output_format(destination, format)
    data = _render(_check_codebook(codebook), _check_labels(labels, len(codebook)), name, quality)
    _store(destination, data, overwrite)


def _store(destination: _io.Destination, data: bytes, overwrite: bool) -> None:
    if _io.is_path(destination):
        # Keyword only when it differs from the default, as _atomic.write_bytes's callers do.
        options = {} if overwrite else {"overwrite": False}
        write_bytes(destination, data, **options)  # type: ignore[arg-type]
    else:
        _io.write_file(destination, data)  # type: ignore[arg-type]


def _check_codebook(codebook: np.ndarray) -> np.ndarray:
    if not isinstance(codebook, np.ndarray) or codebook.dtype != np.uint8:
        raise TypeError(f"codebook must be a uint8 numpy array, not {_describe(codebook)}")
    if codebook.ndim != 2 or codebook.shape[1] not in CHANNEL_COUNTS:
        raise ValueError(f"codebook must have shape (K, C), C in 1, 3, 4; got {codebook.shape}")
    if not 1 <= len(codebook) <= 256:
        raise ValueError(f"codebook must have 1..256 entries, not {len(codebook)}")
    return np.ascontiguousarray(codebook)


def _check_labels(labels: np.ndarray, entries: int) -> np.ndarray:
    if not isinstance(labels, np.ndarray) or labels.dtype != np.uint8:
        raise TypeError(f"labels must be a uint8 numpy array, not {_describe(labels)}")
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(f"labels must have shape (H, W), H and W >= 1; got {labels.shape}")
    largest = int(labels.max())
    if largest >= entries:
        raise ValueError(f"label {largest} has no codebook entry (the codebook has {entries})")
    return np.ascontiguousarray(labels)


def _describe(value: object) -> str:
    dtype = getattr(value, "dtype", None)
    return f"{type(value).__name__} of {dtype}" if dtype is not None else type(value).__name__


def save_pixels(
    destination: _io.Destination,
    pixels: np.ndarray,
    *,
    format: str | None = None,
    quality: int | None = None,
    overwrite: bool = True,
) -> None:
    """Write the (H, W, C) uint8 image ``pixels`` (a block file's decoded image: not a
    palette) as an image file; the rest as for ``save_decoded``. GIF, which holds at most
    256 colours, takes only images that have no more."""
    _io.check_destination(destination)
    name = output_format(destination, format)
    options = _options(name, quality)
    if pixels.shape[2] == 4 and bool((pixels[..., 3] == 255).all()):
        pixels = pixels[..., :3]
    _check_alpha(pixels.shape[2] == 4, name)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    if name == "GIF":
        codebook, labels = np.unique(
            pixels.reshape(-1, pixels.shape[2]), axis=0, return_inverse=True
        )
        if len(codebook) > 256:
            raise VQError(f"GIF holds at most 256 colours, and this image has {len(codebook)}")
        data = _gif(codebook, labels.reshape(pixels.shape[:2]).astype(np.uint8))
    else:
        data = _encoded(image, name, quality, options)
    _store(destination, data, overwrite)


def _options(name: str, quality: int | None) -> dict[str, object]:
    options: dict[str, object] = {}
    if quality is not None:
        if name not in _QUALITY_FORMATS:
            raise VQError(
                f"quality applies to lossy outputs ({', '.join(sorted(_QUALITY_FORMATS))}), "
                f"not to {name}, which is lossless"
            )
        if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
            raise TypeError(f"quality must be an int, not {type(quality).__name__}")
        if not 0 <= quality <= 100:
            raise ValueError(f"quality must be 0..100, not {quality}")
        options["quality"] = int(quality)
    return options


def _check_alpha(alpha: bool, name: str) -> None:
    if alpha and name not in _ALPHA_FORMATS:
        raise VQError(
            f"{name} has no alpha, and this image has transparent pixels: use .png, .webp or "
            ".tif (or .gif when alpha is only 0 or 255)"
        )


def _render(codebook: np.ndarray, labels: np.ndarray, name: str, quality: int | None) -> bytes:
    """The bytes of the image file (see ``save_decoded``)."""
    options = _options(name, quality)
    alpha = codebook[:, 3] if codebook.shape[1] == 4 else None
    if alpha is not None and bool((alpha == 255).all()):
        codebook, alpha = codebook[:, :3], None  # opaque: nothing to keep, any format takes it
    _check_alpha(alpha is not None, name)
    if name == "PNG":
        return _png(codebook, labels)
    if name == "GIF":
        return _gif(codebook, labels)
    if name == "TIFF":
        return _tiff(codebook, labels)
    if name == "BMP":
        return _saved(_palette_image(codebook, labels), name)
    return _encoded(Image.fromarray(_pixels(codebook, labels)), name, quality, options)


def _encoded(
    image: Image.Image, name: str, quality: int | None, options: dict[str, object]
) -> bytes:
    """A full-colour (not palette) image's file: WebP lossless unless a quality is given,
    JPEG at JPEG_QUALITY unless given, TIFF Deflate-compressed."""
    if name == "TIFF":
        options["compression"] = _TIFF_COMPRESSION
    if name == "WEBP":
        # Lossless unless a quality is given; exact: else libwebp recolours the RGB under
        # fully transparent pixels, and the file no longer holds codebook[labels].
        if quality is None:
            options.update(lossless=True, exact=True)
        if image.mode == "L":
            image = image.convert("RGB")  # WebP has no gray
    elif name == "JPEG":
        options.setdefault("quality", JPEG_QUALITY)
    return _saved(image, name, **options)


def _saved(image: Image.Image, name: str, **options: object) -> bytes:
    buffer = io.BytesIO()  # whole, then written: TIFF seeks, and a pipe cannot
    try:
        image.save(buffer, name, **options)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise VQError(f"cannot write it as {name}: {error}") from None
    return buffer.getvalue()


def _pixels(codebook: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``codebook[labels]``, (H, W) for gray as Pillow wants it."""
    return codebook[labels, 0] if codebook.shape[1] == 1 else codebook[labels]


def _palette_image(codebook: np.ndarray, labels: np.ndarray) -> Image.Image:
    """A P image: the labels as indices, the codebook's colours (gray repeated) as the
    palette, of exactly K entries, so that a PNG of K <= 16 packs 1, 2 or 4 bits a pixel."""
    height, width = labels.shape
    image = Image.frombytes("P", (width, height), labels.tobytes())
    colours = codebook[:, :3] if codebook.shape[1] >= 3 else np.repeat(codebook, 3, axis=1)
    image.putpalette(colours.tobytes(), "RGB")
    return image


def _png(codebook: np.ndarray, labels: np.ndarray) -> bytes:
    # Pillow's default compression: optimize=True saves 0-2.5% on these files, at 4-10x
    # the time (measured at 2-8 bits on astronaut, coffee, camera, page).
    options = {}
    if codebook.shape[1] == 4:
        options["transparency"] = codebook[:, 3].tobytes()  # tRNS: one alpha per entry
    palette = _saved(_palette_image(codebook, labels), "PNG", **options)
    if codebook.shape[1] != 1 or len(codebook) <= _GRAY_PALETTE_ALWAYS:
        return palette
    gray = _saved(Image.fromarray(_pixels(codebook, labels)), "PNG")
    return gray if len(gray) < len(palette) else palette


def _gif(codebook: np.ndarray, labels: np.ndarray) -> bytes:
    if codebook.shape[1] != 4:
        return _saved(_palette_image(codebook, labels), "GIF")
    alpha = codebook[:, 3]
    partial = np.flatnonzero((alpha != 0) & (alpha != 255))
    if partial.size:
        raise VQError(
            f"GIF keeps only on/off transparency, and {partial.size} of the image's colours "
            "have alpha between 0 and 255: use .png or .webp, which keep it"
        )
    # GIF has one transparent entry: fully transparent pixels all take the first such
    # entry (they look alike; only the colour under them, which nobody sees, is lost).
    clear = np.flatnonzero(alpha == 0)
    if clear.size > 1:
        remap = np.arange(len(codebook), dtype=np.uint8)
        remap[clear] = clear[0]
        labels = remap[labels]
    image = _palette_image(codebook, labels)
    return _saved(image, "GIF", transparency=int(clear[0]))


def _tiff(codebook: np.ndarray, labels: np.ndarray) -> bytes:
    """Gray as gray (1-3% smaller than a gray palette), RGB as a palette image, RGBA as
    RGBA. A TIFF palette has no alpha; palette + an alpha sample per pixel would be 7-18%
    smaller, but ImageMagick reads its colours wrong and libtiff's RGBA reader (that of
    most viewers) drops its alpha."""
    compression = {"compression": _TIFF_COMPRESSION}
    if codebook.shape[1] != 3:
        return _saved(Image.fromarray(_pixels(codebook, labels)), "TIFF", **compression)
    return _colormap_to_full_scale(_saved(_palette_image(codebook, labels), "TIFF", **compression))


def _colormap_to_full_scale(data: bytes) -> bytes:
    """Pillow writes a TIFF colormap's 16-bit values as ``v * 256``; readers that scale by
    ``/ 257`` (ImageMagick) then read ``v - 1`` for half the values. ``v * 257`` reads back
    as ``v`` both ways (and as ``v`` in Pillow and libtiff, which take the high byte).

    ``data`` is a whole TIFF as Pillow writes one, little-endian, one directory.
    """
    buffer = bytearray(data)
    if buffer[:4] != b"II*\0":
        return data
    (directory,) = struct.unpack_from("<I", buffer, 4)
    (entries,) = struct.unpack_from("<H", buffer, directory)
    for index in range(entries):
        tag, kind, count, offset = struct.unpack_from("<HHII", buffer, directory + 2 + 12 * index)
        if tag == _TIFF_COLORMAP_TAG and kind == 3:  # SHORT values, stored at ``offset``
            values = np.frombuffer(buffer, "<u2", count, offset)
            if not np.any(values & 0xFF):  # as Pillow writes it
                buffer[offset : offset + 2 * count] = ((values >> 8) * 257).astype("<u2").tobytes()
            break
    return bytes(buffer)
