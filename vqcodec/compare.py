"""The tutorial's view on real files: quantize at several bit depths and set each result
beside what people would use instead (PNG of the original; PNG8 and WebP lossless of the same
quantized image; JPEG of the original at the same PSNR); optionally a figure of the decoded
images and a rate-distortion figure (PSNR against bits per pixel for every coder).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image

from ._atomic import atomic_output
from .books import Codebook
from .codec import decode, decode_parts, encode

SAMPLE_NAME = "astronaut.png"
_MODE_OF_CHANNELS = {1: "L", 3: "RGB", 4: "RGBA"}


def sample_image() -> Image.Image:
    """The photo bundled with the package (NASA, public domain; see vqcodec/data/README.md)."""
    with resources.files("vqcodec").joinpath("data", SAMPLE_NAME).open("rb") as handle:
        image = Image.open(handle)
        image.load()
    return image


def mse(a: np.ndarray, b: np.ndarray) -> float:
    diff = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for 8-bit data; ``inf`` for identical arrays."""
    error = mse(a, b)
    return math.inf if error == 0 else 10 * math.log10(255.0**2 / error)


def png_bytes(image: np.ndarray) -> int:
    """Size of ``image`` as a PNG (Pillow, optimize=True)."""
    return _saved_size(Image.fromarray(_squeeze(image)), "PNG", optimize=True)


def palette_image(codebook: np.ndarray, labels: np.ndarray, height: int, width: int) -> Image.Image:
    """The quantized image as a Pillow "P" image: our labels, our codebook as the palette."""
    image = Image.fromarray(labels.reshape(height, width), "L").convert("P")
    channels = codebook.shape[1]
    if channels == 1:
        image.putpalette(np.repeat(codebook, 3, axis=1).tobytes())
    else:
        image.putpalette(codebook.tobytes(), _MODE_OF_CHANNELS[channels])
    return image


def png8_bytes(codebook: np.ndarray, labels: np.ndarray, height: int, width: int) -> int:
    """Size of the quantized image as a palette PNG (Pillow, optimize=True)."""
    return _saved_size(palette_image(codebook, labels, height, width), "PNG", optimize=True)


def webp_lossless_bytes(codebook: np.ndarray, labels: np.ndarray, height: int, width: int) -> int:
    """Size of the quantized image as lossless WebP (Pillow, method=6: its smallest)."""
    image = palette_image(codebook, labels, height, width)
    image = image.convert("RGBA" if codebook.shape[1] == 4 else "RGB")
    return _saved_size(image, "WEBP", lossless=True, method=6)


def jpeg_at_psnr(image: np.ndarray, target: float) -> dict[str, Any] | None:
    """The smallest-quality JPEG of ``image`` (H, W, C) whose PSNR reaches ``target``.

    Binary search over quality 1..100 (PSNR rises with quality). When even quality 100 falls
    short, that JPEG is returned with ``reached`` false. ``None`` for images with alpha,
    which JPEG cannot store.
    """
    if image.shape[2] == 4:
        return None
    source = Image.fromarray(_squeeze(image))

    def attempt(quality: int) -> dict[str, Any]:
        buffer = io.BytesIO()
        source.save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer)).reshape(image.shape)
        return {"quality": quality, "bytes": buffer.tell(), "psnr": psnr(image, decoded)}

    best = attempt(100)
    if best["psnr"] < target:
        return {**best, "reached": False}
    low, high = 1, 100  # invariant: quality `high` reaches the target
    while low < high:
        middle = (low + high) // 2
        trial = attempt(middle)
        if trial["psnr"] >= target:
            high, best = middle, trial
        else:
            low = middle + 1
    return {**best, "reached": True}


def compare(
    image: np.ndarray, bits_list: list[int], seed: int = 0, on_row: Any = None
) -> dict[str, Any]:
    """Measure vqcodec at each bits in ``bits_list`` against the anchors; one dict per row.

    ``image`` is (H, W, C) uint8 (see ``vqcodec.images.to_array``). ``on_row(row, decoded)``
    is called as each row is ready, so a caller can show progress on large images.
    """
    height, width, channels = image.shape
    raw = height * width * channels
    summary: dict[str, Any] = {
        "width": width,
        "height": height,
        "channels": channels,
        "raw_bytes": raw,
        "png_bytes": png_bytes(image),
        "rows": [],
    }
    pixels = height * width
    for bits in bits_list:
        # One quantization serves both codings: the packed size follows from the header.
        data = encode(image, bits, seed=seed)
        entropy_bytes = len(data)
        header, codebook, labels = decode_parts(data)
        packed_payload = header.packed_bytes
        packed_bytes = dataclasses.replace(header, payload_bytes=packed_payload).file_bytes
        decoded = codebook[labels].reshape(image.shape)
        quality = psnr(image, decoded)
        jpeg = jpeg_at_psnr(image, quality)
        row = {
            "bits": bits,
            "codebook_entries": header.codebook_entries,
            "vq_bytes": packed_bytes,
            "bits_per_pixel": packed_bytes * 8 / pixels,
            "compression_rate": 100.0 * (1 - packed_bytes / raw),
            "tutorial_rate": 100.0 * (8 - bits) / 8,
            "entropy_bytes": entropy_bytes,
            "entropy_bits_per_pixel": entropy_bytes * 8 / pixels,
            "mse": mse(image, decoded),
            "psnr": None if math.isinf(quality) else quality,
            "png8_bytes": png8_bytes(codebook, labels, height, width),
            "webp_lossless_bytes": webp_lossless_bytes(codebook, labels, height, width),
            "jpeg_quality": None if jpeg is None else jpeg["quality"],
            "jpeg_bytes": None if jpeg is None else jpeg["bytes"],
            "jpeg_psnr": None if jpeg is None or math.isinf(jpeg["psnr"]) else jpeg["psnr"],
            "jpeg_reached": None if jpeg is None else jpeg["reached"],
        }
        summary["rows"].append(row)
        if on_row is not None:
            on_row(row, decoded)
    return summary


def plot(
    path: str | os.PathLike[str], original: np.ndarray, decoded: list[np.ndarray], rows: list[dict]
) -> None:
    """Write the figure: the original beside each decoded image, titled as the tutorial does."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(original, "original")] + [
        (image, _panel_title(row)) for image, row in zip(decoded, rows, strict=True)
    ]
    columns = min(3, len(panels))
    lines = -(-len(panels) // columns)
    figure = Figure(figsize=(3.2 * columns, 3.5 * lines), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (image, title) in enumerate(panels):
        axes = figure.add_subplot(lines, columns, index + 1)
        gray = image.shape[2] == 1
        axes.imshow(_squeeze(image), cmap="gray" if gray else None, vmin=0, vmax=255)
        axes.set_title(title, fontsize=10)
        axes.set_axis_off()
    extension = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    with atomic_output(path) as handle:
        figure.savefig(handle, format=extension, dpi=100)


JPEG_QUALITIES = (2, 5, 10, 20, 30, 50, 70, 85, 95)
# Block shapes and bits of the rate-distortion figure's block curve: 8-bit labels are
# entropy2-coded, so these span about 0.2 (4x4) to 1.5 (2x1) bits a pixel on photos.
BLOCK_CONFIGS = (((4, 4), 8), ((4, 2), 8), ((2, 2), 6), ((2, 2), 8), ((2, 1), 8))
WEBP_QUALITIES = (0, 5, 10, 20, 30, 50, 70, 85, 95)


def rate_distortion(
    image: np.ndarray, rows: list[dict[str, Any]], book: Codebook | None = None
) -> dict[str, list[tuple]]:
    """Curves of (bits per pixel, PSNR dB) for each coder, from ``compare``'s rows plus
    quality sweeps of JPEG and lossy WebP, vqcodec's block modes (``BLOCK_CONFIGS``, each
    file carrying its codebook; and ``book``, a shared codebook, as one point), and
    libimagequant + PNG where it is installed. Lossless points (infinite PSNR) are left out:
    they do not fit on the axis."""
    height, width, channels = image.shape
    pixels = height * width
    lossy = [row for row in rows if row["psnr"] is not None]

    def vq(size_key: str) -> list[tuple]:
        return [(row[size_key] * 8 / pixels, row["psnr"]) for row in lossy]

    curves = {
        "vq packed": vq("vq_bytes"),
        "vq entropy": vq("entropy_bytes"),
        "PNG8 of vq's quantization": vq("png8_bytes"),
        "vq blocks (4x4 .. 2x1)": _block_curve(
            image, [encode(image, bits, block=block) for block, bits in BLOCK_CONFIGS]
        ),
    }
    if book is not None and book.channels == channels:
        curves[f"vq blocks, shared codebook ({book.block[0]}x{book.block[1]})"] = _block_curve(
            image, [encode(image, codebook=book)], book
        )
    source = Image.fromarray(_squeeze(image))
    sweeps = (("JPEG", "JPEG", JPEG_QUALITIES), ("WebP", "WEBP", WEBP_QUALITIES))
    for name, fmt, qualities in sweeps:
        if fmt == "JPEG" and channels == 4:
            continue  # JPEG stores no alpha
        points = []
        for quality in qualities:
            buffer = io.BytesIO()
            source.save(buffer, fmt, quality=quality)
            decoded = np.asarray(Image.open(buffer).convert(source.mode)).reshape(image.shape)
            points.append((buffer.tell() * 8 / pixels, psnr(image, decoded)))
        curves[name] = [point for point in points if math.isfinite(point[1])]
    liq = _libimagequant_curve(image, [row["bits"] for row in lossy])
    if liq:
        curves["libimagequant + PNG"] = liq
    return curves


def _block_curve(
    image: np.ndarray, files: list[bytes], book: Codebook | None = None
) -> list[tuple]:
    pixels = image.shape[0] * image.shape[1]
    points = []
    for data in files:
        quality = psnr(image, decode(data, codebook=book).reshape(image.shape))
        if math.isfinite(quality):
            points.append((len(data) * 8 / pixels, quality))
    return points


def _libimagequant_curve(image: np.ndarray, bits_list: list[int]) -> list[tuple]:
    try:
        import imagequant  # type: ignore[import-untyped]
    except ImportError:
        return []
    height, width, channels = image.shape
    source = Image.fromarray(_squeeze(image)).convert("RGBA" if channels == 4 else "RGB")
    points = []
    for bits in bits_list:
        quantized = imagequant.quantize_pil_image(
            source, dithering_level=0.0, max_colors=1 << bits, min_quality=0, max_quality=100
        )
        size = _saved_size(quantized, "PNG", optimize=True)
        decoded = np.asarray(quantized.convert(source.mode))
        if channels == 1:
            decoded = decoded[:, :, :1]
        quality = psnr(image, decoded.reshape(image.shape))
        if math.isfinite(quality):
            points.append((size * 8 / (height * width), quality))
    return points


_CURVE_STYLES: dict[str, dict[str, Any]] = {
    "vq packed": dict(marker="s", linestyle="--", color="tab:blue"),
    "vq entropy": dict(marker="o", linewidth=2.5, color="tab:blue"),
    "PNG8 of vq's quantization": dict(marker="^", color="tab:green"),
    "libimagequant + PNG": dict(marker="v", color="tab:olive"),
    "JPEG": dict(marker="x", color="tab:red"),
    "WebP": dict(marker="+", color="tab:purple"),
    "vq blocks (4x4 .. 2x1)": dict(marker="D", color="tab:cyan"),
}


def plot_rate_distortion(
    path: str | os.PathLike[str], curves: dict[str, list[tuple]], title: str
) -> None:
    """Write the rate-distortion figure: PSNR (dB) against bits per pixel, one line a coder."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, points in curves.items():
        if points:
            rates, qualities = zip(*sorted(points), strict=True)
            style = _CURVE_STYLES.get(name, dict(marker="*", markersize=12, color="tab:orange"))
            axes.plot(rates, qualities, label=name, **style)
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axes.set_xscale("log", base=2)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("bits per pixel (file size x 8 / pixels, log scale)")
    axes.set_ylabel("PSNR (dB)")
    axes.set_title(f"rate-distortion: {title}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    extension = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    with atomic_output(path) as handle:
        figure.savefig(handle, format=extension, dpi=100)


def _panel_title(row: dict[str, Any]) -> str:
    bits = f"{row['bits']} bit" + ("s" if row["bits"] > 1 else "")
    quality = "lossless" if row["psnr"] is None else f"PSNR {row['psnr']:.2f} dB"
    return f"{bits} · rate {row['compression_rate']:.1f}% · {quality}"


def _squeeze(image: np.ndarray) -> np.ndarray:
    """(H, W, 1) -> (H, W), the shape Pillow and matplotlib take for gray."""
    return image[:, :, 0] if image.shape[2] == 1 else image


def _saved_size(image: Image.Image, fmt: str, **options: Any) -> int:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.tell()
