"""vqcodec against the tools people would pick instead, measured in one run.

    pip install '.[bench]'
    python bench/run.py                      # everything, on ../shared/corpus photos
    python bench/run.py --only gray,decode   # some sections
    python bench/run.py --repeat 5           # more runs per median

Sections (each prints a table; times are medians of --repeat runs, ratios are anchor time /
vqcodec time measured in this run, so > 1 means vqcodec is faster):

- gray: encode of a 768x512 photo at bits 1..8 against the tutorial's
  KMeans(n_clusters=2**bits, n_init=4).fit(pixels) (its centroids rounded to uint8, as a .vq
  file would store them).
- colour: encode at bits 8 and 4 against libimagequant (imagequant.quantize_pil_image,
  dithering_level=0), Pillow's quantize (median cut, max coverage, fast octree; no dither) and
  scikit-learn KMeans(n_init=1) on all pixels. PSNR is RGB PSNR against the original.
- decode: vqcodec.decode against Pillow decoding a palette PNG of the same quantized image, at
  bits 1..8, both ending in a numpy array of the decoded pixels.
- memory: peak of encode and decode of a 6000x4000 RGB image (the bundled sample upscaled),
  each in a fresh process: tracemalloc peak and the growth of the process's peak RSS.
- scale: encode and decode time at 0.25, 1, 4, 12 and 24 megapixels (the bundled sample
  upscaled), with time per megapixel.
- entropy: the entropy label coding on every corpus photo and scan (6 gray, 3 colour) at bits
  2..6: file size against a palette PNG (optimize=True) and lossless WebP (method=6) of the
  same quantized image; decode time against Pillow decoding that WebP to an array; encode
  time of the label coding alone and of the whole encode, per megapixel.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial

import numpy as np
from PIL import Image

import vqcodec
from vqcodec.codec import decode_parts
from vqcodec.compare import mse, palette_image, psnr, sample_image

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"
SECTIONS = ("gray", "colour", "decode", "memory", "scale", "entropy")
ENTROPY_IMAGES = (
    "camera.png", "moon.png", "coins.png", "page.png", "text.png", "gravel.png",
    "astronaut.png", "coffee.png", "chelsea.png",
)  # fmt: skip


def timed(function, repeat: int):
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = [f"Python {platform.python_version()}"]
    for name in ("vqcodec", "numpy", "Pillow", "scikit-learn", "imagequant"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} missing")
    return f"{cpu}, {os.cpu_count()} cores; " + ", ".join(versions)


def gray_photo() -> tuple[str, np.ndarray]:
    source = Image.open(CORPUS / "camera.png").convert("L")
    return "camera.png resized to 768x512", np.asarray(source.resize((768, 512), Image.LANCZOS))


def colour_photos(names=("astronaut.png", "coffee.png", "chelsea.png")) -> list:
    return [(name, np.asarray(Image.open(CORPUS / name).convert("RGB"))) for name in names]


def tutorial_kmeans(pixels: np.ndarray, bits: int, n_init: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=2**bits, n_init=n_init, random_state=0)
    model.fit(pixels.astype(np.float64))
    centres = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
    return centres[model.labels_]


# --- sections ----------------------------------------------------------------------------


def section_gray(args) -> None:
    name, image = gray_photo()
    pixels = image.reshape(-1, 1)
    print(f"\n## gray encode: {name} vs the tutorial's KMeans(n_init=4)\n")
    print("| bits | vq ms | vq MSE | KMeans ms | KMeans MSE | speed-up | MSE no higher |")
    print("|---:|---:|---:|---:|---:|---:|:---:|")
    vqcodec.encode(image, 1)  # warm-up: first-call costs belong to no bits in particular
    for bits in range(1, 9):
        vq_time, data = timed(partial(vqcodec.encode, image, bits), max(args.repeat, 21))
        ours = mse(image, vqcodec.decode(data))
        km_time, km = timed(partial(tutorial_kmeans, pixels, bits, 4), args.kmeans_repeat)
        theirs = mse(pixels, km)
        print(
            f"| {bits} | {vq_time * 1e3:.1f} | {ours:.3f} | {km_time * 1e3:.0f} | {theirs:.3f}"
            f" | {km_time / vq_time:.0f}x | {'yes' if ours <= theirs else 'NO'} |",
            flush=True,
        )


def section_colour(args) -> None:
    import imagequant

    print("\n## colour encode: PSNR dB / median ms; ratio = anchor time / vqcodec time\n")
    methods = {
        "median cut": Image.Quantize.MEDIANCUT,
        "max coverage": Image.Quantize.MAXCOVERAGE,
        "fast octree": Image.Quantize.FASTOCTREE,
    }
    print(
        "| image | bits | vqcodec | libimagequant | dB vs liq | time ratio liq | "
        + " | ".join(f"Pillow {m}" for m in methods)
        + " | KMeans all pixels | dB vs KMeans |"
    )
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(methods) + "---:|---:|")
    for name, image in colour_photos():
        source = Image.fromarray(image)
        for bits in (8, 4):
            k = 2**bits
            vq_time, data = timed(partial(vqcodec.encode, image, bits), args.repeat)
            vq_psnr = psnr(image, vqcodec.decode(data))
            liq = partial(imagequant.quantize_pil_image, source, dithering_level=0, max_colors=k)
            liq_time, liq_image = timed(liq, args.repeat)
            liq_psnr = psnr(image, np.asarray(liq_image.convert("RGB")))
            cells = []
            for method in methods.values():
                quantize = partial(
                    source.quantize, colors=k, method=method, dither=Image.Dither.NONE
                )
                pil_time, pil_image = timed(quantize, args.repeat)
                pil_psnr = psnr(image, np.asarray(pil_image.convert("RGB")))
                cells.append(f"{pil_psnr:.2f} / {pil_time * 1e3:.0f} ({pil_time / vq_time:.2f}x)")
            km_time, km = timed(partial(tutorial_kmeans, image.reshape(-1, 3), bits, 1), 1)
            km_psnr = psnr(image.reshape(-1, 3), km)
            print(
                f"| {name} | {bits} | {vq_psnr:.2f} / {vq_time * 1e3:.0f}"
                f" | {liq_psnr:.2f} / {liq_time * 1e3:.0f} | {vq_psnr - liq_psnr:+.2f}"
                f" | {liq_time / vq_time:.2f}x | "
                + " | ".join(cells)
                + f" | {km_psnr:.2f} / {km_time * 1e3:.0f} | {vq_psnr - km_psnr:+.2f} |",
                flush=True,
            )


def section_decode(args) -> None:
    print("\n## decode: vqcodec vs Pillow reading a palette PNG of the same quantized image\n")
    print("Pillow (P) = open + load; Pillow (array) = the same, then the pixels as an array")
    print("in the image's own mode, which is what vqcodec.decode returns.\n")
    print("| image | bits | vq ms | Pillow (P) ms | ratio | Pillow (array) ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    images = [gray_photo(), *colour_photos(("astronaut.png",))]
    repeat = max(args.repeat, 7)
    for name, image in images:
        height, width = image.shape[:2]
        mode = "L" if image.ndim == 2 else "RGB"
        for bits in range(1, 9):
            data = vqcodec.encode(image, bits)
            _, codebook, labels = decode_parts(data)
            buffer = io.BytesIO()
            palette_image(codebook, labels, height, width).save(buffer, "PNG")
            png = buffer.getvalue()

            def pillow_p(png=png):
                with Image.open(io.BytesIO(png)) as opened:
                    opened.load()
                    return opened

            def pillow_array(png=png, mode=mode):
                with Image.open(io.BytesIO(png)) as opened:
                    return np.asarray(opened.convert(mode))

            vq_time, decoded = timed(partial(vqcodec.decode, data), repeat)
            p_time, _ = timed(pillow_p, repeat)
            array_time, pillow_pixels = timed(pillow_array, repeat)
            assert np.array_equal(decoded, pillow_pixels)  # the same image, decoded twice
            print(
                f"| {name} | {bits} | {vq_time * 1e3:.2f} | {p_time * 1e3:.2f}"
                f" | {p_time / vq_time:.1f}x | {array_time * 1e3:.2f}"
                f" | {array_time / vq_time:.1f}x |",
                flush=True,
            )


def large_image(megapixels: float) -> np.ndarray:
    """The bundled sample upscaled (bicubic) to ``megapixels`` at 3:2."""
    height = round((megapixels * 1e6 / 1.5) ** 0.5)
    width = round(height * 1.5)
    return np.asarray(sample_image().convert("RGB").resize((width, height), Image.BICUBIC))


_MEMORY_PROBE = """
import json, resource, sys, time, tracemalloc
import numpy as np
import vqcodec
mode, path, bits = sys.argv[1], sys.argv[2], int(sys.argv[3])
def peak_rss():
    # VmHWM starts afresh at exec; ru_maxrss would carry the parent's peak over exec.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if mode == "encode":
    image = np.load(path)
    vqcodec.encode(image[:32, :32], bits)
    work = lambda: vqcodec.encode(image, bits)
    size = image.nbytes
else:
    data = open(path, "rb").read()
    info = vqcodec.info(data)
    vqcodec.decode(vqcodec.encode(np.zeros((4, 4, 3), np.uint8), bits))
    work = lambda: vqcodec.decode(data)
    size = info["width"] * info["height"] * info["channels"]
before = peak_rss()
tracemalloc.start()
start = time.perf_counter()
result = work()
seconds = time.perf_counter() - start
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
if mode == "encode":
    open(path + ".vq", "wb").write(result)
print(json.dumps({"seconds": seconds, "traced": traced, "rss_growth": peak_rss() - before,
                  "image_bytes": size}))
"""


def section_memory(args) -> None:
    print("\n## memory: 6000x4000 RGB, each step in a fresh process\n")
    print(
        "| step | bits | seconds | tracemalloc peak MiB | peak RSS growth MiB | budget MiB |",
        end="",
    )
    print(" within |")
    print("|---|---:|---:|---:|---:|---:|:---:|")
    height, width = 4000, 6000
    image = np.asarray(sample_image().convert("RGB").resize((width, height), Image.BICUBIC))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "large.npy")
        np.save(path, image)
        for bits in (8, 4):
            for step, factor in (("encode", 4), ("decode", 2)):
                target = path if step == "encode" else path + ".vq"
                output = subprocess.run(
                    [sys.executable, "-c", _MEMORY_PROBE, step, target, str(bits)],
                    check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                result = json.loads(output)
                budget = factor * result["image_bytes"] + 50 * 2**20
                worst = max(result["traced"], result["rss_growth"])
                print(
                    f"| {step} | {bits} | {result['seconds']:.2f} | {result['traced'] / 2**20:.0f}"
                    f" | {result['rss_growth'] / 2**20:.0f} | {budget / 2**20:.0f}"
                    f" | {'yes' if worst <= budget else 'NO'} |",
                    flush=True,
                )


def section_scale(args) -> None:
    print("\n## scale: the bundled sample upscaled, RGB, bits 8 and 4\n")
    print("| megapixels | bits | encode s | encode s/MP | decode s | decode s/MP |")
    print("|---:|---:|---:|---:|---:|---:|")
    for megapixels in (0.25, 1, 4, 12, 24):
        image = large_image(megapixels)
        actual = image.shape[0] * image.shape[1] / 1e6
        repeat = 3 if megapixels <= 4 else 1
        for bits in (8, 4):
            encode_time, data = timed(partial(vqcodec.encode, image, bits), repeat)
            decode_time, _ = timed(partial(vqcodec.decode, data), max(repeat, 3))
            print(
                f"| {actual:.2f} | {bits} | {encode_time:.3f} | {encode_time / actual:.3f}"
                f" | {decode_time:.3f} | {decode_time / actual:.4f} |",
                flush=True,
            )
        del image


def section_entropy(args) -> None:
    from vqcodec import entropy

    entropy.decode_labels(entropy.encode_labels(np.zeros(4, np.uint8), 2, 2, 1, 64), 2, 2, 1)
    print("\n## entropy coding: size vs PNG8 and WebP lossless of the same quantized image\n")
    print("Sizes are whole files. Decode: median ms of vqcodec.decode vs Pillow open + load +")
    print("array of the WebP; ratio = vq / WebP (lower is better). Encode s/MP: the label coding")
    print("alone, and the whole vqcodec.encode (quantizer included).\n")
    print(
        "| image | bits | vq entropy | PNG8 | WebP LL | vs PNG8 | vs WebP | decode ms vq / WebP "
        "| decode ratio | label coding s/MP | encode s/MP |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    to_png8, to_webp, decode_ratios, coding_rates, encode_rates = [], [], [], [], []
    for name in ENTROPY_IMAGES:
        image = np.asarray(Image.open(CORPUS / name))
        height, width = image.shape[:2]
        megapixels = height * width / 1e6
        for bits in range(2, 7):
            encode_time, data = timed(
                partial(vqcodec.encode, image, bits, coding="entropy"), max(1, args.repeat // 2)
            )
            _, codebook, labels = decode_parts(data)
            coding_time, _ = timed(
                partial(entropy.encode_labels, labels, width, height, bits, len(labels)),
                args.repeat,
            )
            quantized = palette_image(codebook, labels, height, width)
            buffer = io.BytesIO()
            quantized.save(buffer, "PNG", optimize=True)
            png8 = buffer.tell()
            rgb = quantized.convert("RGBA" if codebook.shape[1] == 4 else "RGB")
            buffer = io.BytesIO()
            rgb.save(buffer, "WEBP", lossless=True, method=6)
            webp = buffer.getvalue()

            def webp_decode(webp=webp):
                return np.asarray(Image.open(io.BytesIO(webp)))

            vq_ms, _ = timed(partial(vqcodec.decode, data), args.repeat)
            webp_ms, _ = timed(webp_decode, args.repeat)
            to_png8.append(len(data) / png8)
            to_webp.append(len(data) / len(webp))
            decode_ratios.append(vq_ms / webp_ms)
            coding_rates.append(coding_time / megapixels)
            encode_rates.append(encode_time / megapixels)
            print(
                f"| {name} | {bits} | {len(data):,} | {png8:,} | {len(webp):,} | "
                f"{to_png8[-1]:.3f} | {to_webp[-1]:.3f} | {vq_ms * 1e3:.2f} / "
                f"{webp_ms * 1e3:.2f} | {decode_ratios[-1]:.1f}x | {coding_rates[-1]:.3f} | "
                f"{encode_rates[-1]:.3f} |",
                flush=True,
            )
    median = statistics.median
    print(
        f"\nmedian over {len(to_png8)} cases: size {median(to_png8):.3f}x PNG8 "
        f"(worst {max(to_png8):.3f}), {median(to_webp):.3f}x WebP lossless "
        f"(worst {max(to_webp):.3f}); decode {median(decode_ratios):.1f}x WebP's time "
        f"(range {min(decode_ratios):.1f}-{max(decode_ratios):.1f}); label coding "
        f"{median(coding_rates):.3f} s/MP (worst {max(coding_rates):.3f}); whole encode "
        f"{median(encode_rates):.3f} s/MP (worst {max(encode_rates):.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="runs per median (default 5)")
    parser.add_argument(
        "--kmeans-repeat", type=int, default=3, help="runs per median for the tutorial's KMeans"
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",")]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    print(f"# vqcodec benchmark\n\nmachine: {machine()}")
    for name in chosen:
        globals()[f"section_{name}"](args)


if __name__ == "__main__":
    main()
