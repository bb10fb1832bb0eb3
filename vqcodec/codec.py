"""The public API.

image -> quantizer -> labels + codebook -> label coding (packed or entropy) -> container
bytes, and back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from . import _io, container
from ._atomic import write_bytes
from .coding import CODINGS, packed
from .container import LabelCoding
from .errors import VQError
from .images import ImageLike, to_array
from .quantize import check_dither, dither_labels, quantize

PathLike = str | os.PathLike[str]
Quantized = tuple[np.ndarray, np.ndarray]  # (K, C) codebook, (N,) labels

DEFAULT_BITS = 4


class TargetError(VQError):
    """No bits allowed reach ``target_psnr`` or fit in ``max_bytes``; the message says what
    the nearest bits gave."""


def encode(
    image: ImageLike,
    bits: int | None = None,
    *,
    coding: str = "entropy2",
    seed: int = 0,
    max_pixels: int | None = None,
    target_psnr: float | None = None,
    max_bytes: int | None = None,
    dither: float = 0.0,
) -> bytes:
    """Quantize ``image`` to at most ``2**bits`` colours and return the .vq file's bytes.

    ``image`` is a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), or a PIL image.
    ``bits`` defaults to 4. ``coding="entropy2"`` (the default) codes the labels with
    context models and rANS (spec §4.3), typically 2-5x smaller than packed, and falls back to
    packed for an image where that would not be smaller; ``coding="entropy"`` is the first
    entropy coding (§4.2: about the same size, slower to decode); ``coding="packed"`` stores
    every label in exactly ``bits`` bits (a size known in advance, spec §7). All decode to
    the same array. The same image and options give the same bytes. ``max_pixels`` is the pixel
    limit (None: the reader's default, ``vqcodec.container.MAX_IMAGE_PIXELS``; 0: none), so
    that the encoder never writes a file the reader would refuse. ``dither`` (0..1, 0 off)
    maps pixels to the codebook by Floyd-Steinberg error diffusion at that strength: no
    banding on smooth gradients, at the price of noise (a lower PSNR, a larger file).

    A quality or a size instead of bits (one of the two): ``target_psnr`` (dB; ``math.inf``
    for lossless) takes the fewest bits whose decoded image reaches that PSNR against
    ``image``, over all channels (fully transparent pixels all alike: ``quantized_psnr``);
    ``max_bytes`` the most bits whose file fits in that many bytes. ``bits``, if given, is
    then the most the search may take (else 8); the file's header tells the bits chosen.
    When no bits can, :class:`vqcodec.codec.TargetError` (a ``VQError``) says what the
    nearest gave. The search bisects over bits: 3 or 4 quantizations instead of 8 (see
    ``_fewest_reaching``).

    >>> data = vqcodec.encode(np.zeros((2, 3), np.uint8), bits=2)
    >>> vqcodec.decode(data).shape
    (2, 3)
    >>> vqcodec.info(vqcodec.encode(photo, target_psnr=35))["bits"]
    5
    """
    if bits is not None:
        bits = _check_int("bits", bits)
        if not container.MIN_BITS <= bits <= container.MAX_BITS:
            raise ValueError(f"bits must be {container.MIN_BITS}..{container.MAX_BITS}, not {bits}")
    seed = _check_int("seed", seed)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    if coding not in container.CODING_NAMES:
        raise ValueError(f"coding must be one of {sorted(container.CODING_NAMES)}, not {coding!r}")
    target_psnr, max_bytes = _check_targets(target_psnr, max_bytes)
    dither = check_dither(dither)
    pixels = to_array(image, max_pixels)  # refused before its pixels are decoded
    height, width, channels = pixels.shape
    flat = pixels.reshape(-1, channels)
    wanted = container.CODING_NAMES[coding]

    def fit(bits: int) -> Quantized:
        codebook, labels = quantize(flat, 1 << bits, seed)
        # An exact codebook (no more distinct pixels than codewords) leaves no error to
        # diffuse, and dithering's ties would merge colours hidden under alpha 0.
        if dither and not np.array_equal(codebook[labels], flat):
            labels = dither_labels(pixels, codebook, dither)
        return codebook, labels

    def assemble(bits: int, quantized: Quantized) -> bytes:
        codebook, labels = quantized
        header = container.Header(
            width=width,
            height=height,
            channels=channels,
            bits=bits,
            codebook_entries=len(codebook),
            payload_bytes=0,
        )
        used = wanted
        payload = CODINGS[used].encode(labels, header) if used != LabelCoding.PACKED else None
        if payload is None:  # packed, asked for or as the fallback
            used, payload = LabelCoding.PACKED, packed.encode(labels, header)
        header = replace(header, payload_bytes=len(payload), label_coding=used)
        return container.build(header, codebook.tobytes(), payload)

    highest = container.MAX_BITS if bits is None else bits
    if target_psnr is not None:
        chosen, quantized = _fewest_reaching(target_psnr, flat, fit, highest)
        return assemble(chosen, quantized)
    if max_bytes is not None:
        return _most_fitting(max_bytes, flat, lambda bits: assemble(bits, fit(bits)), highest)
    bits = DEFAULT_BITS if bits is None else bits
    return assemble(bits, fit(bits))


def _check_targets(
    target_psnr: float | None, max_bytes: int | None
) -> tuple[float | None, int | None]:
    if target_psnr is not None and max_bytes is not None:
        raise ValueError("give target_psnr or max_bytes, not both")
    if target_psnr is not None:
        if isinstance(target_psnr, bool) or not isinstance(
            target_psnr, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"target_psnr must be a number, not {type(target_psnr).__name__}")
        target_psnr = float(target_psnr)
        if not target_psnr > 0:  # NaN included
            raise ValueError(f"target_psnr must be a PSNR in dB above 0, not {target_psnr}")
    if max_bytes is not None:
        max_bytes = _check_int("max_bytes", max_bytes)
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be > 0, not {max_bytes}")
    return target_psnr, max_bytes


def _fewest_reaching(
    target: float, flat: np.ndarray, fit: Callable[[int], Quantized], highest: int
) -> tuple[int, Quantized]:
    """The fewest bits in 1..highest whose quantization reaches ``target`` dB, by bisection:
    only the chosen bits' labels get coded, and at most two quantizations are held at once.

    Bisection assumes PSNR grows with bits. Undithered gray does: the quantizer is the
    exact optimum, and 2K codewords can do whatever K can. Colour k-means (or dithering)
    could in principle break it; on the 18 corpus images (../shared/corpus) it never did
    (nor on 7 of them dithered), and bisection chose what trying all 8 chose for every
    target, in 0.27-0.40x the time. Were it broken, the file would still reach the target
    (it is measured), with a bit too many.
    """
    low, high = container.MIN_BITS, highest
    best: tuple[int, Quantized] | None = None
    reached = 0.0
    while low <= high:
        middle = (low + high) // 2
        quantized = fit(middle)
        value = quantized_psnr(flat, *quantized)
        if value >= target:
            best, high = (middle, quantized), middle - 1
        else:
            reached, low = value, middle + 1
    if best is None:  # the last bits tried were ``highest``
        goal = "a lossless result" if target == math.inf else f"{target:g} dB of PSNR"
        raise TargetError(
            f"no bits reach {goal} ({highest} bits, the most allowed, give {reached:.2f} dB)"
        )
    return best


def _most_fitting(
    limit: int, flat: np.ndarray, encode_at: Callable[[int], bytes], highest: int
) -> bytes:
    """The file of the most bits in 1..highest that fits in ``limit`` bytes, by bisection.

    Sizes grow with bits on every corpus image (see ``_fewest_reaching``); were they not to,
    the file would still fit, with a bit too few. When even the packed size law's bound
    (every codeword used) fits, ``highest`` is taken without trying: an entropy-coded file
    is never larger than the packed one.
    """
    pixels, channels = flat.shape
    bound = (
        container.HEADER_BYTES
        + min(1 << highest, pixels) * channels
        + container.packed_size(pixels, highest)
        + container.TRAILER_BYTES
    )
    if bound <= limit:
        return encode_at(highest)
    low, high = container.MIN_BITS, highest
    best: bytes | None = None
    smallest = 0
    while low <= high:
        middle = (low + high) // 2
        data = encode_at(middle)
        if len(data) <= limit:
            best, low = data, middle + 1
        else:
            smallest, high = len(data), middle - 1
    if best is None:  # the last bits tried were 1
        raise TargetError(
            f"no bits fit in {limit:,} bytes ({container.MIN_BITS} bit gives {smallest:,} bytes)"
        )
    return best


# Pixels per step of quantized_psnr: the difference array stays a few MB at any image size.
_PSNR_CHUNK = 1 << 18


def quantized_psnr(pixels: np.ndarray, codebook: np.ndarray, labels: np.ndarray) -> float:
    """PSNR in dB of ``codebook[labels]`` against ``pixels`` (N, C), over all channels;
    ``inf`` when they are equal. Exact integer sums.

    With alpha, a fully transparent pixel equals any other: the colour it hides shows
    nowhere, and the quantizer keeps none of it (every one becomes (0, 0, 0, 0)). Counted,
    it would make a sprite that hides colours never reach a lossless ``target_psnr``.
    """
    wide = codebook.astype(np.int32)
    total = 0
    for start in range(0, len(pixels), _PSNR_CHUNK):
        part = slice(start, start + _PSNR_CHUNK)
        decoded = wide[labels[part]]
        error = pixels[part].astype(np.int32) - decoded
        if pixels.shape[1] == 4:
            error[(pixels[part, 3] == 0) & (decoded[:, 3] == 0)] = 0
        total += int((error * error).sum(dtype=np.int64))
    if total == 0:
        return math.inf
    return 10 * math.log10(255.0**2 * pixels.size / total)


def decode(data: bytes | bytearray | memoryview, *, max_pixels: int | None = None) -> np.ndarray:
    """Decode .vq bytes to a uint8 array: (H, W) for gray, (H, W, C) for colour.

    Raises :class:`vqcodec.FormatError` for anything that breaks the spec; its ``field``
    names the field or section at fault. ``max_pixels`` as for :func:`encode`.

    >>> image = vqcodec.decode(open("photo.vq", "rb").read())
    >>> image.shape, image.dtype
    ((512, 512, 3), dtype('uint8'))
    """
    header, codebook, payload = _checked(data, max_pixels)
    pixels = CODINGS[header.label_coding].decode(payload, header, codebook)
    if header.channels == 1:
        return pixels.reshape(header.height, header.width)
    return pixels.reshape(header.height, header.width, header.channels)


def decode_parts(
    data: bytes | bytearray | memoryview, *, max_pixels: int | None = None
) -> tuple[container.Header, np.ndarray, np.ndarray]:
    """The header, the (K, C) codebook and the (H*W,) labels of .vq bytes, all checked."""
    header, codebook, payload = _checked(data, max_pixels)
    return header, codebook, CODINGS[header.label_coding].decode(payload, header)


def _checked(
    data: bytes | bytearray | memoryview, max_pixels: int | None
) -> tuple[container.Header, np.ndarray, memoryview]:
    """Container checks (spec §6, 1-7): the header, the (K, C) codebook and the payload."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    parsed = container.parse(_io.byte_view(data), max_pixels)
    header = parsed.header
    codebook = np.frombuffer(parsed.codebook, np.uint8).reshape(-1, header.channels)
    return header, codebook, parsed.payload


def read(source: _io.Source, *, max_pixels: int | None = None) -> np.ndarray:
    """Read and decode a .vq file: a path, a binary file object (read from where it
    stands, left open) or the file's bytes. ``max_pixels`` as for :func:`encode`.

    Reads the header first, then exactly the size it announces (spec §6): a file that ends
    early or runs on is a :class:`vqcodec.FormatError`, whatever the stream's length.

    >>> image = vqcodec.read("photo.vq")
    """
    return decode(_io.read_container(source, max_pixels), max_pixels=max_pixels)


def write(
    destination: _io.Destination, image: ImageLike, bits: int | None = None, **options: Any
) -> None:
    """Encode ``image`` (options as for :func:`encode`) and write it to ``destination``.

    A path is written atomically: a temp file, then a rename, so a reader sees the old file
    or the whole new one; a symlink's target is replaced (the link kept), and a character
    device or FIFO is written through. A binary file object is written and left open.

    >>> vqcodec.write("photo.vq", np.asarray(PIL.Image.open("photo.png")), bits=6)
    """
    _io.check_destination(destination)
    data = encode(image, bits, **options)
    if _io.is_path(destination):
        write_bytes(destination, data)  # type: ignore[arg-type]
    else:
        _io.write_file(destination, data)  # type: ignore[arg-type]


def info(source: _io.Source, *, max_pixels: int | None = None) -> dict[str, Any]:
    """Header fields and section sizes of a .vq file, after checking its structure and CRCs.

    ``source`` as for :func:`read`, read the same bounded way. The keys are those of
    ``vqcodec info --json``; labels are not decoded.

    >>> vqcodec.info("photo.vq")["payload_bytes"]
    98304
    """
    data = _io.read_container(source, max_pixels)
    return header_fields(container.parse(data, max_pixels).header)


def header_fields(header: container.Header) -> dict[str, Any]:
    """The fields ``info`` reports, from an already checked header."""
    return {
        "format": "vq",
        "version": container.VERSION,
        "width": header.width,
        "height": header.height,
        "channels": header.channels,
        "bits": header.bits,
        "codebook_entries": header.codebook_entries,
        "coding": header.coding,
        "block_width": header.block_width,
        "block_height": header.block_height,
        "flags": header.flags,
        "header_bytes": container.HEADER_BYTES,
        "codebook_bytes": header.codebook_bytes,
        "payload_bytes": header.payload_bytes,
        "trailer_bytes": container.TRAILER_BYTES,
        "file_bytes": header.file_bytes,
        "bits_per_pixel": header.file_bytes * 8 / header.pixels,
    }


def _check_int(name: str, value: object) -> int:
    """``value`` as a Python int (numpy integers included); bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return int(value)
