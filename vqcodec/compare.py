"""The tutorial's view on real files: quantize at several bit depths and set each result
beside what people would use instead (PNG of the original, PNG8 of the same quantized image,
JPEG of the original at the same PSNR); optionally a figure of the decoded images.
"""

from __future__ import annotations

import io
import math
import os
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image

from ._atomic import atomic_output
from .codec import decode_parts, encode

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
    for bits in bits_list:
        data = encode(image, bits, seed=seed)
        header, codebook, labels = decode_parts(data)
        decoded = codebook[labels].reshape(image.shape)
        quality = psnr(image, decoded)
        jpeg = jpeg_at_psnr(image, quality)
        row = {
            "bits": bits,
            "codebook_entries": header.codebook_entries,
            "vq_bytes": len(data),
            "bits_per_pixel": len(data) * 8 / (height * width),
            "compression_rate": 100.0 * (1 - len(data) / raw),
            "tutorial_rate": 100.0 * (8 - bits) / 8,
            "mse": mse(image, decoded),
            "psnr": None if math.isinf(quality) else quality,
            "png8_bytes": png8_bytes(codebook, labels, height, width),
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
