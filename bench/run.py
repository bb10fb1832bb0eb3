"""vqcodec against the tools people would pick instead, measured in one run.

    pip install '.[bench]'                   # libimagequant, scikit-learn; apt: pngquant
    python bench/run.py                      # everything, on ../shared/corpus (18 images)
    python bench/run.py --only fixed,decode  # some sections
    python bench/run.py --repeat 1 --only colour      # quick look while developing
    python bench/run.py --corpus DIR         # another corpus folder

Every row uses every image of the corpus that fits it: gray rows the mode L images, colour rows
the RGB photos (JPEG sources decoded to RGB arrays), and the RGBA logo wherever the row's
tools accept RGBA (shown, but only the photos count for the colour targets, as the issue asks
for photos). Times are medians of --repeat runs; every anchor runs in the same process (or,
for the CLI, the same way) as vqcodec. Ratios are vqcodec / anchor: lower is better. Each
section prints its targets in its heading and ends with one line per target,
``target: ... met/NOT met (median X, worst Y)``; the run ends with all of them again.

Sections:

- fixed: vqcodec's own import time (``python -X importtime``, numpy and Pillow excluded), the
  first against the second entropy decode of a ~0.4 MP file in a fresh process, and the
  installed size of runtime dependencies other than numpy and Pillow.
- colour: encode at 256 and 16 colours against libimagequant (the ``imagequant`` package,
  default speed, dithering 0): time and RGB PSNR; then the same rows again while a second
  process keeps the other core busy.
- decode: packed ``vqcodec.decode`` against Pillow reading a palette PNG of the same quantized
  image into the same array, bits 1..8, gray and colour (median and worst per bits).
- entropy: every image at bits 2..8: file size against a palette PNG (optimize=True), that
  PNG after zopflipng, lossless WebP (quality 100, method 6) and JPEG XL lossless (cjxl -d 0
  -e 7) of the same quantized image (zopflipng and cjxl outputs are cached beside the WebP
  files), decode time against
  Pillow decoding that WebP to the same array, the label coding's encode time per megapixel.
  Lossless WebP at quality 100 / method 6 is slow to make (~10-40 s per megapixel), so the
  WebP files are kept in a cache keyed by the quantized pixels (--webp-cache; the first run
  makes them with --jobs processes before anything is timed).
- blocks: block VQ (issue 11) on every gray and RGB image: shared codebooks (trained on the
  other images of the same kind) and per-image codebooks at several block shapes, PSNR
  against JPEG and lossy WebP at the same rate (interpolated on each one's curve) at 0.5 and
  1.0 bit a pixel; 2x2 blocks at 8 bits against pixels at 2 bits, both packed (2 bpp);
  encode time with a trained codebook; decode time (entropy2 and packed) against Pillow
  decoding the JPEG of the nearest rate.
- cli: ``vqcodec encode --bits 8`` (packed and --coding entropy2, the default) against
  ``pngquant --nofs 256`` on the same PNG, as subprocesses: wall time, file size, PSNR.
- memory: peak of encode and decode of a 6000x4000 RGB image (the bundled sample upscaled),
  each in a fresh process: tracemalloc peak and the growth of the process's peak RSS.
- scale: encode and decode time at 0.25, 1, 4, 12 and 24 megapixels (the bundled sample
  upscaled), with time per megapixel.
- tiles: the 24 MP sample in tiles of 256: encode and decode with 1 and 2 threads, 256x256
  regions read from a file against the full read, and the size against the untiled file.
- batch: ``vqcodec encode DIR -o OUT/`` on 200 images made from the corpus's (turned,
  mirrored, cropped; PNG), ``-j 2`` and ``--scheduler`` on a 2-worker Dask LocalCluster
  (started before the timing) against ``-j 1``, wall time of the subprocess (issue 12).
- gray: encode of every gray image at bits 1..8 against the tutorial's
  KMeans(n_clusters=2**bits, n_init=4).fit(pixels) (centroids rounded to uint8), one fit
  per cell (--kmeans-repeat): the fits take 5-10 minutes, most of a whole run.

Each section ends with its own running time. On 2 cores under a load average of 4, --repeat 1
with the WebP cache filled took 12.5 minutes, gray 10.6 of them; --repeat 5 adds about 4
minutes (colour, cli, entropy); the first run adds 10-20 minutes of WebP (--jobs).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial

import numpy as np
from PIL import Image

import vqcodec

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"
SECTIONS = (
    "fixed", "colour", "decode", "entropy", "blocks", "cli", "memory", "scale", "tiles", "batch",
    "gray",
)  # fmt: skip
NEEDS_CORPUS = {"fixed", "colour", "decode", "entropy", "blocks", "cli", "batch", "gray"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"}
PNGQUANT = "/usr/bin/pngquant"
# The entropy section's external anchors (Debian: zopfli, libjxl-tools), run on the PNG8:
# the palette PNG after the best PNG optimizer, and JPEG XL lossless, the one to catch.
TOOL_ANCHORS = {
    "zopflipng": (["zopflipng", "-y", "{input}", "{output}"], ".png"),
    "jxl": (["cjxl", "-d", "0", "-e", "7", "--quiet", "{input}", "{output}"], ".jxl"),
}
WEBP_OPTIONS = {"lossless": True, "quality": 100, "method": 6}
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
TARGETS: list[str] = []  # every target line, printed again at the end


# --- where the codec keeps things: the one place to adapt when its layout changes ----------


def parts(data: bytes):
    """The checked header, the (K, C) codebook and the (H*W,) labels of .vq bytes."""
    from vqcodec.codec import decode_parts

    return decode_parts(data)


def label_coder(name: str):
    """The label coding ``name`` as ``(encode, decode)``: ``encode(labels, header) -> bytes``
    and ``decode(payload, header) -> labels``, ``header`` being the one ``parts`` returns."""
    from vqcodec.coding import CODINGS
    from vqcodec.container import CODING_NAMES

    coding = CODINGS[CODING_NAMES[name]]
    return coding.encode, coding.decode


# --- corpus, timing, reporting --------------------------------------------------------------


@dataclasses.dataclass
class Picture:
    name: str
    kind: str  # "gray", "colour" (RGB) or "rgba"
    image: np.ndarray  # (H, W) or (H, W, C) uint8
    path: pathlib.Path

    @property
    def megapixels(self) -> float:
        return self.image.shape[0] * self.image.shape[1] / 1e6

    @property
    def mode(self) -> str:
        return MODES[1 if self.image.ndim == 2 else self.image.shape[2]]


def load_corpus(folder: pathlib.Path) -> list[Picture]:
    """Every image in ``folder``, sorted by name; exits 2 with one line when there is none."""
    if not folder.is_dir():
        fail(
            f"corpus folder not found: {folder} (put the shared corpus there, or pass --corpus DIR)"
        )
    pictures = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        with Image.open(path) as opened:
            mode = opened.mode
            if mode in ("1", "L", "I;16", "I"):
                kind, target = "gray", "L"
            elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in opened.info):
                kind, target = "rgba", "RGBA"
            else:
                kind, target = "colour", "RGB"
            image = np.asarray(opened.convert(target) if mode != target else opened)
        pictures.append(Picture(path.name, kind, np.ascontiguousarray(image), path))
    if not pictures:
        fail(f"no images in the corpus folder {folder} (pass --corpus DIR)")
    return pictures


def fail(message: str) -> None:
    print(f"bench/run.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def timed(function, repeat: int):
    """Median seconds of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def mse(a: np.ndarray, b: np.ndarray) -> float:
    diff = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = mse(a, b)
    return math.inf if error == 0 else 10 * math.log10(255.0**2 / error)


def palette_image(codebook: np.ndarray, labels: np.ndarray, height: int, width: int):
    """The quantized image as a Pillow "P" image: the labels, the codebook as its palette."""
    image = Image.fromarray(labels.reshape(height, width), "L").convert("P")
    if codebook.shape[1] == 1:
        image.putpalette(np.repeat(codebook, 3, axis=1).tobytes())
    else:
        image.putpalette(codebook.tobytes(), MODES[codebook.shape[1]])
    return image


def as_array(image: Image.Image, mode: str) -> np.ndarray:
    """Pixels of a Pillow image as the array vqcodec.decode returns for ``mode``."""
    return np.asarray(image if image.mode == mode else image.convert(mode))


def target(what: str, values, limit: float, *, higher=False, rule="every", unit="x") -> None:
    """One line: is ``limit`` met by every value (``rule="every"``) or by their median?"""
    values = [float(v) for v in values]
    if not values:
        line = f"target: {what}: not measured (no cases)"
    else:
        median = statistics.median(values)
        worst = min(values) if higher else max(values)
        judged = median if rule == "median" else worst
        met = judged >= limit if higher else judged <= limit
        fmt = "{:+.2f}" if unit == " dB" else "{:.3g}"
        line = (
            f"target: {what}: {'met' if met else 'NOT met'} "
            f"(median {fmt.format(median)}{unit}, worst {fmt.format(worst)}{unit})"
        )
    print(line, flush=True)
    TARGETS.append(line)


def skipped(what: str, why: str) -> None:
    line = f"target: {what}: not measured ({why})"
    print(line, flush=True)
    TARGETS.append(line)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import PackageNotFoundError, version

    versions = [f"Python {platform.python_version()}"]
    for name in ("vqcodec", "numpy", "Pillow", "scikit-learn", "imagequant"):
        try:
            versions.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            versions.append(f"{name} missing")
    with contextlib.suppress(Exception):
        from PIL import features

        versions.append(f"libwebp {features.version('webp')}")
    pngquant = shutil.which("pngquant") or (PNGQUANT if os.path.exists(PNGQUANT) else None)
    if pngquant:
        run = subprocess.run([pngquant, "--version"], capture_output=True, text=True)
        versions.append(f"pngquant {run.stdout.split()[0] if run.stdout else '?'}")
    else:
        versions.append("pngquant missing")
    return f"{cpu}, {os.cpu_count()} cores; " + ", ".join(versions)


def describe(corpus: list[Picture]) -> str:
    counts = {kind: sum(p.kind == kind for p in corpus) for kind in ("gray", "colour", "rgba")}
    return (
        f"{len(corpus)} images: {counts['gray']} gray, {counts['colour']} RGB, "
        f"{counts['rgba']} RGBA"
    )


def of_kind(corpus: list[Picture], *kinds: str) -> list[Picture]:
    return [picture for picture in corpus if picture.kind in kinds]


def heading(title: str, targets: str) -> None:
    print(f"\n## {title}\n\ntargets: {targets}\n", flush=True)


@contextlib.contextmanager
def other_core_busy():
    """A second process spinning on a tight numpy/Python loop for the duration."""
    loop = "import numpy as np\nx = np.arange(4096.0)\nwhile True:\n    x.sum()\n"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    busy = subprocess.Popen([sys.executable, "-c", loop], env=env)
    try:
        time.sleep(0.5)  # running, not starting up
        if busy.poll() is not None:
            raise RuntimeError("the process meant to keep the other core busy has stopped")
        yield
    finally:
        busy.kill()
        busy.wait()


# --- fixed costs --------------------------------------------------------------------------

_FIRST_DECODE = """
import json, sys, time
import vqcodec
data = open(sys.argv[1], "rb").read()
times = []
for _ in range(2):
    start = time.perf_counter()
    vqcodec.decode(data)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(texts) -> list[str]:
    """Names of the requirements among ``texts`` (Requires-Dist) that apply without extras."""
    names = []
    for text in texts or []:
        try:
            from packaging.requirements import Requirement
        except ImportError:
            name = re.match(r"\s*([A-Za-z0-9._-]+)", text).group(1)
            applies = "extra" not in text.partition(";")[2]
        else:
            requirement = Requirement(text)
            name = requirement.name
            marker = requirement.marker
            applies = marker is None or marker.evaluate({"extra": ""})
        if applies:
            names.append(canonical(name))
    return names


def installed_bytes(dist) -> int | None:
    if dist.files is None:
        return None
    total = 0
    for file in dist.files:
        with contextlib.suppress(OSError):
            total += os.path.getsize(dist.locate_file(file))
    return total


def section_fixed(args, corpus) -> None:
    from importlib.metadata import PackageNotFoundError, distribution

    heading(
        "fixed costs: import, first entropy decode, dependencies",
        "vqcodec's own modules import in <= 30 ms; first entropy decode of a ~0.4 MP file in a "
        "fresh process <= 20 ms more than the second; runtime dependencies beyond numpy and "
        "Pillow <= 2 MB installed",
    )
    runs = max(args.repeat, 5)
    folder = tempfile.mkdtemp(prefix="vqbench-")
    try:
        # (a) import time, vqcodec's modules only.
        command = [sys.executable, "-X", "importtime", "-c", "import vqcodec, vqcodec.codec"]
        subprocess.run(command, cwd=folder, check=True, capture_output=True)  # bytecode, cache
        totals, modules = [], {}
        for _ in range(runs):
            stderr = subprocess.run(
                command, cwd=folder, check=True, capture_output=True, text=True
            ).stderr
            total = 0
            for line in stderr.splitlines():
                fields = line.removeprefix("import time:").split("|")
                if len(fields) != 3 or not fields[0].strip().isdigit():
                    continue
                name = fields[2].strip()
                if name == "vqcodec" or name.startswith("vqcodec."):
                    total += int(fields[0])
                    modules.setdefault(name, []).append(int(fields[0]))
            totals.append(total / 1e3)
        slowest = sorted(modules.items(), key=lambda item: -statistics.median(item[1]))[:4]
        print(f"import vqcodec, vqcodec.codec: {len(modules)} vqcodec modules, self time summed")
        print(f"({runs} fresh processes): median {statistics.median(totals):.1f} ms; slowest:")
        print(", ".join(f"{name} {statistics.median(us) / 1e3:.1f} ms" for name, us in slowest))
        target("vqcodec's own import time <= 30 ms", totals, 30, rule="median", unit=" ms")

        # (b) first against second entropy decode in a fresh process.
        photos = of_kind(corpus, "colour") or corpus
        picture = min(photos, key=lambda p: abs(p.megapixels - 0.4))
        data = vqcodec.encode(picture.image, 6)  # the default coding
        coding = vqcodec.info(data)["coding"]
        path = os.path.join(folder, "first.vq")
        with open(path, "wb") as handle:
            handle.write(data)
        firsts, seconds = [], []
        for _ in range(runs):
            output = subprocess.run(
                [sys.executable, "-c", _FIRST_DECODE, path],
                cwd=folder, check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            first, second = json.loads(output)
            firsts.append(first * 1e3)
            seconds.append(second * 1e3)
        extra = [first - second for first, second in zip(firsts, seconds, strict=True)]
        print(
            f"\n{picture.name} ({picture.megapixels:.2f} MP) at bits 6, {coding} coding, "
            f"{len(data):,} bytes; {runs} fresh processes: first decode median "
            f"{statistics.median(firsts):.1f} ms, second {statistics.median(seconds):.1f} ms"
        )
        if coding == "packed":
            print("(the encoder fell back to packed: this file measures no entropy decode)")
        target("first entropy decode - second <= 20 ms", extra, 20, rule="median", unit=" ms")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    # (c) installed size of the runtime dependencies beyond numpy and Pillow.
    skip = {"numpy", "pillow"}
    try:
        own = distribution("vqcodec")
    except PackageNotFoundError:
        skipped("runtime dependencies beyond numpy and Pillow <= 2 MB", "vqcodec not installed")
        return
    direct = runtime_requirements(own.requires)
    print(f"\ninstalled vqcodec requires: {', '.join(direct) or 'nothing'}")
    with contextlib.suppress(Exception):
        import tomllib

        declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        declared = runtime_requirements(declared.get("dependencies", []))
        if sorted(declared) != sorted(direct):
            print(
                f"note: pyproject.toml now declares {', '.join(declared) or 'nothing'}; the "
                "installed metadata is older (pip install -e . to measure the new set)"
            )
    seen, queue, sizes, missing = set(), [n for n in direct if n not in skip], {}, []
    while queue:
        name = queue.pop()
        if name in seen or name in skip:
            continue
        seen.add(name)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            missing.append(name)
            continue
        sizes[name] = installed_bytes(dist) or 0
        queue.extend(runtime_requirements(dist.requires))
    print("| dependency (with what it pulls in) | installed MB |")
    print("|---|---:|")
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        print(f"| {name} | {size / 1e6:.1f} |")
    for name in ("numpy", "pillow"):
        with contextlib.suppress(PackageNotFoundError):
            size = installed_bytes(distribution(name)) or 0
            print(f"| ({name}, not counted) | {size / 1e6:.1f} |")
    if missing:
        print(f"not installed, not counted: {', '.join(missing)}")
    total = sum(sizes.values()) / 1e6
    print(f"total beyond numpy and Pillow: {total:.2f} MB")
    target("runtime dependencies beyond numpy and Pillow <= 2 MB", [total], 2, unit=" MB")


# --- colour encode ------------------------------------------------------------------------


def section_colour(args, corpus) -> None:
    import imagequant

    heading(
        "colour encode: vqcodec against libimagequant (default speed, dithering 0)",
        "on every RGB photo: at 256 colours time <= 1.0x libimagequant and PSNR >= its + 0.2 "
        "dB; at 16 colours time <= 1.0x and PSNR >= its; with the other core busy time <= 1.2x",
    )
    photos, extras = of_kind(corpus, "colour"), of_kind(corpus, "rgba")
    print(
        "ratio = vqcodec time / libimagequant time; dB = RGB PSNR against the original; "
        "libimagequant gets the PIL image (it converts to RGBA itself), vqcodec the array. "
        "RGBA rows (graphics) are shown but not in the targets.\n"
    )
    vqcodec.encode(photos[0].image[:64, :64] if photos else np.zeros((8, 8, 3), np.uint8), 8)
    imagequant.quantize_pil_image(Image.new("RGB", (8, 8)), dithering_level=0)
    quality = {}  # (name, bits) -> (vq dB, liq dB); the busy rows reuse them
    for busy in (False, True):
        load = "busy" if busy else "idle"
        ratios = {8: [], 4: []}
        gains = {8: [], 4: []}
        print("\n| image | MP | load | colours | vq ms | liq ms | ratio | vq dB | liq dB | +dB |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        with other_core_busy() if busy else contextlib.nullcontext():
            for picture in photos + extras:
                source = Image.fromarray(picture.image)
                for bits in (8, 4):
                    vq_time, data = timed(partial(vqcodec.encode, picture.image, bits), args.repeat)
                    liq = partial(
                        imagequant.quantize_pil_image,
                        source, dithering_level=0, max_colors=2**bits,
                    )  # fmt: skip
                    liq_time, liq_image = timed(liq, args.repeat)
                    if not busy:
                        quality[picture.name, bits] = (
                            psnr(picture.image, vqcodec.decode(data)),
                            psnr(picture.image, as_array(liq_image, picture.mode)),
                        )
                    vq_db, liq_db = quality[picture.name, bits]
                    ratio = vq_time / liq_time
                    if picture.kind == "colour":
                        ratios[bits].append(ratio)
                        gains[bits].append(vq_db - liq_db)
                    print(
                        f"| {picture.name}{'' if picture.kind == 'colour' else ' (RGBA)'}"
                        f" | {picture.megapixels:.2f} | {load} | {2**bits} | {vq_time * 1e3:.0f}"
                        f" | {liq_time * 1e3:.0f} | {ratio:.2f}x | {vq_db:.2f} | {liq_db:.2f}"
                        f" | {vq_db - liq_db:+.2f} |",
                        flush=True,
                    )
        print()
        if busy:
            target("busy, 256 colours: time vq/liq <= 1.2x on every photo", ratios[8], 1.2)
            target("busy, 16 colours: time vq/liq <= 1.2x on every photo", ratios[4], 1.2)
        else:
            target("256 colours: time vq/liq <= 1.0x on every photo", ratios[8], 1.0)
            target("256 colours: PSNR vq - liq >= +0.2 dB on every photo", gains[8], 0.2,
                   higher=True, unit=" dB")  # fmt: skip
            target("16 colours: time vq/liq <= 1.0x on every photo", ratios[4], 1.0)
            target("16 colours: PSNR vq - liq >= 0 dB on every photo", gains[4], 0.0,
                   higher=True, unit=" dB")  # fmt: skip


# --- packed decode ------------------------------------------------------------------------


def section_decode(args, corpus) -> None:
    heading(
        "decode: packed vqcodec.decode against Pillow reading a palette PNG into an array",
        "vq / Pillow <= 0.5x at every bits 1..8, gray and colour",
    )
    print(
        "Both end in the same (H, W[, C]) uint8 array (checked): Pillow opens the PNG (mode P) "
        "and converts to L, RGB or RGBA. Medians over the images of each group; worst = the "
        "highest ratio.\n"
    )
    repeat = max(args.repeat, 7)  # sub-millisecond cells want a few more runs
    groups = {"gray": of_kind(corpus, "gray"), "colour": of_kind(corpus, "colour", "rgba")}
    vqcodec.decode(vqcodec.encode(np.zeros((8, 8, 3), np.uint8), 2))
    print("| group | bits | images | vq ms | Pillow ms | ratio | worst ratio | worst image |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    every = {group: [] for group in groups}
    for group, pictures in groups.items():
        for bits in range(1, 9):
            rows = []
            for picture in pictures:
                data = vqcodec.encode(picture.image, bits, coding="packed")
                _, codebook, labels = parts(data)
                height, width = picture.image.shape[:2]
                buffer = io.BytesIO()
                palette_image(codebook, labels, height, width).save(buffer, "PNG")
                png = buffer.getvalue()

                def pillow(png=png, mode=picture.mode):
                    with Image.open(io.BytesIO(png)) as opened:
                        return as_array(opened, mode)

                vq_time, decoded = timed(partial(vqcodec.decode, data), repeat)
                pil_time, pixels = timed(pillow, repeat)
                assert np.array_equal(decoded, pixels), (picture.name, bits)
                rows.append((vq_time / pil_time, vq_time, pil_time, picture.name))
            if not rows:
                continue
            every[group].extend(row[0] for row in rows)
            worst = max(rows)
            print(
                f"| {group} | {bits} | {len(rows)}"
                f" | {statistics.median(r[1] for r in rows) * 1e3:.2f}"
                f" | {statistics.median(r[2] for r in rows) * 1e3:.2f}"
                f" | {statistics.median(r[0] for r in rows):.2f}x | {worst[0]:.2f}x"
                f" | {worst[3]} |",
                flush=True,
            )
    print()
    for group in groups:
        target(f"{group}: packed decode / Pillow PNG <= 0.5x at every bits", every[group], 0.5)


# --- entropy coding -----------------------------------------------------------------------


def _webp(pixels: np.ndarray) -> bytes:
    """Lossless WebP of ``pixels`` (gray goes as RGB: WebP has no gray), exact RGB under
    alpha 0 so that it decodes to the same array."""
    image = Image.fromarray(pixels)
    if image.mode == "L":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", exact=True, **WEBP_OPTIONS)
    return buffer.getvalue()


def webp_cache_folder(args) -> pathlib.Path | None:
    if args.no_webp_cache:
        return None
    if args.webp_cache:
        folder = pathlib.Path(args.webp_cache)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or (
            os.path.join(os.environ["HOME"], ".cache") if os.environ.get("HOME") else None
        )
        base = base or tempfile.gettempdir()
        folder = pathlib.Path(base) / "vqcodec-bench" / "webp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"(no WebP cache: {error}; every run makes the WebP files anew)")
        return None
    return folder


def webp_key(pixels: np.ndarray) -> str:
    from PIL import __version__ as pillow
    from PIL import features

    digest = hashlib.sha256()
    text = f"{pixels.shape} {pillow} {features.version('webp')} {sorted(WEBP_OPTIONS.items())}"
    digest.update(text.encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


def cached_outputs(folder, inputs: dict, key, make, jobs: int, what: str) -> dict:
    """``make(input)`` for each case of ``inputs``, read from ``folder`` (files named by
    ``key(input)``) or made now in ``jobs`` processes and stored there; None = no cache.
    Files unused for 30 days are removed: every change to the quantizer leaves some behind."""
    result, todo = {}, {}
    for case, value in inputs.items():
        path = folder / key(value) if folder else None
        if path is not None and path.is_file():
            result[case] = path.read_bytes()
            path.touch()  # used: kept by the pruning below
        else:
            todo[case] = (value, path)
    if folder is not None:
        cutoff = time.time() - 30 * 86400
        for stale in folder.iterdir():
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < cutoff:
                    stale.unlink()
    if todo:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        jobs = max(1, min(jobs, len(todo)))
        print(f"making {len(todo)} of {len(inputs)} {what} (not cached in {folder}) with "
              f"{jobs} processes before timing anything ...", flush=True)  # fmt: skip
        start = time.perf_counter()
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = {case: pool.submit(make, value) for case, (value, _) in todo.items()}
            for case, future in futures.items():
                result[case] = future.result()
                path = todo[case][1]
                if path is not None:
                    partial_path = path.with_suffix(f".{os.getpid()}.tmp")
                    partial_path.write_bytes(result[case])
                    partial_path.replace(path)
        print(f"done in {time.perf_counter() - start:.0f} s\n", flush=True)
    return result


def webp_files(args, quantized: dict) -> dict:
    """Lossless WebP bytes of each quantized image (slow to make: ~10-40 s per megapixel)."""
    folder = webp_cache_folder(args)
    return cached_outputs(
        folder, quantized, lambda pixels: f"{webp_key(pixels)}.webp", _webp, args.jobs,
        "lossless WebP files",
    )  # fmt: skip


def _run_tool(name: str, png: bytes) -> bytes:
    """``name``'s output for the PNG ``png`` (TOOL_ANCHORS), through temp files."""
    command, suffix = TOOL_ANCHORS[name]
    with tempfile.TemporaryDirectory() as folder:
        source, output = os.path.join(folder, "in.png"), os.path.join(folder, "out" + suffix)
        with open(source, "wb") as file:
            file.write(png)
        words = [word.format(input=source, output=output) for word in command]
        subprocess.run(words, check=True, capture_output=True)
        with open(output, "rb") as file:
            return file.read()


def tool_files(args, name: str, pngs: dict) -> dict | None:
    """``name``'s output for each PNG8 of ``pngs``, cached beside the WebP files (keyed by the
    PNG's bytes and the tool's version line); None when the tool is not installed."""
    command = TOOL_ANCHORS[name][0]
    if not shutil.which(command[0]):
        print(f"({command[0]} not found: no {name} column; Debian: apt-get install "
              f"{'zopfli' if name == 'zopflipng' else 'libjxl-tools'})")  # fmt: skip
        return None
    probe = subprocess.run([command[0], "--version"], capture_output=True, text=True)
    version = (probe.stdout or probe.stderr).splitlines()[:1]
    base = webp_cache_folder(args)
    folder = base.parent / name if base is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)

    def key(png: bytes) -> str:
        return hashlib.sha256(f"{command} {version}".encode() + png).hexdigest()

    return cached_outputs(folder, pngs, key, partial(_run_tool, name), args.jobs, f"{name} outputs")


def section_entropy(args, corpus) -> None:
    heading(
        "entropy coding: size vs PNG8, zopflipng, lossless WebP and JPEG XL of the same "
        "quantized image; decode",
        "issue 13: decode <= 2.5x Pillow's lossless-WebP decode to the same array (median); "
        "label coding encode <= 0.05 s per megapixel (every case). Issue 10: size median "
        "<= 0.88x lossless WebP and <= 0.80x zopflipng's PNG8, no case larger than WebP; decode "
        "<= 2x WebP's (median), <= 3x (worst); label coding encode <= 0.1 s per megapixel",
    )
    measured = args.entropy_coding
    print(f"label coding: {measured}\n")
    encode_labels, decode_labels = label_coder(measured)
    print(
        "Sizes are whole files; vs = vq bytes / anchor bytes. WebP: lossless, quality 100, "
        "method 6 (exact); PNG8: palette PNG, optimize=True; zopfli: that PNG8 after "
        "`zopflipng -y`; JXL: `cjxl -d 0 -e 7` of that PNG8 (information). Decode: "
        "vqcodec.decode against Pillow open + array of the WebP (gray converted to L); ratio = "
        "vq / WebP. Label coding: the label coder alone; encode: the whole "
        f"vqcodec.encode(coding='{measured}'). Every case checks vq entropy = vq packed = PNG8 = "
        "WebP pixels and the label coder's round trip.\n"
    )
    cases = [(picture, bits) for picture in corpus for bits in range(2, 9)]
    quantized, png8s = {}, {}  # untimed: the packed file's pixels and PNG8, the anchors' input
    for picture, bits in cases:
        header, codebook, labels = parts(vqcodec.encode(picture.image, bits, coding="packed"))
        height, width = picture.image.shape[:2]
        quantized[picture.name, bits] = codebook[labels].reshape(picture.image.shape)
        buffer = io.BytesIO()
        palette_image(codebook, labels, height, width).save(buffer, "PNG", optimize=True)
        png8s[picture.name, bits] = buffer.getvalue()
    webps = webp_files(args, quantized)
    tools = {name: tool_files(args, name, png8s) for name in TOOL_ANCHORS}
    print(
        "| image | kind | bits | coding | vq bytes | PNG8 | zopfli | WebP | JXL | vs zopfli "
        "| vs WebP | vs JXL | decode ms vq / WebP | ratio | label coding s/MP | encode s/MP |"
    )
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    to_png8, to_webp, decode_ratios, coding_rates, encode_rates = [], [], [], [], []
    to_zopfli, to_jxl = [], []
    fallbacks = 0
    for picture, bits in cases:
        height, width = picture.image.shape[:2]
        megapixels = picture.megapixels
        encode_time, data = timed(
            partial(vqcodec.encode, picture.image, bits, coding=measured),
            max(1, args.repeat // 2),
        )
        expected = quantized[picture.name, bits]
        decode_time, decoded = timed(partial(vqcodec.decode, data), args.repeat)
        assert np.array_equal(decoded, expected), (picture.name, bits, "entropy != packed")
        header, codebook, labels = parts(data)
        coding_time, payload = timed(partial(encode_labels, labels, header), args.repeat)
        coding = vqcodec.info(data)["coding"]
        if payload is None:  # the coder declined: not smaller than packed
            assert coding == "packed", (picture.name, bits, "coder declined, file is entropy")
        else:
            back = np.asarray(decode_labels(payload, header)).reshape(-1)
            assert np.array_equal(back, labels), (picture.name, bits, "label coder round trip")
        png8 = png8s[picture.name, bits]
        with Image.open(io.BytesIO(png8)) as opened:
            assert np.array_equal(as_array(opened, picture.mode), expected), picture.name
        webp = webps[picture.name, bits]

        def webp_decode(webp=webp, mode=picture.mode):
            with Image.open(io.BytesIO(webp)) as opened:
                return as_array(opened, mode)

        webp_time, pixels = timed(webp_decode, args.repeat)
        assert np.array_equal(pixels, expected), (picture.name, bits, "WebP not lossless")
        ratio = decode_time / webp_time
        if coding == measured:
            decode_ratios.append(ratio)
        else:
            fallbacks += 1
        to_png8.append(len(data) / len(png8))
        to_webp.append(len(data) / len(webp))
        coding_rates.append(coding_time / megapixels)
        encode_rates.append(encode_time / megapixels)
        sizes = {}
        for name, files in tools.items():
            sizes[name] = len(files[picture.name, bits]) if files else None
        if sizes["zopflipng"]:
            to_zopfli.append(len(data) / sizes["zopflipng"])
        if sizes["jxl"]:
            to_jxl.append(len(data) / sizes["jxl"])

        cell = {name: "n/a" if size is None else f"{size:,}" for name, size in sizes.items()}
        versus = {
            name: "n/a" if size is None else f"{len(data) / size:.3f}"
            for name, size in sizes.items()
        }
        print(
            f"| {picture.name} | {picture.kind} | {bits} | {coding} | {len(data):,} "
            f"| {len(png8):,} | {cell['zopflipng']} | {len(webp):,} "
            f"| {cell['jxl']} | {versus['zopflipng']} | {to_webp[-1]:.3f} "
            f"| {versus['jxl']} | {decode_time * 1e3:.2f} / {webp_time * 1e3:.2f} "
            f"| {ratio:.2f}x | {coding_rates[-1]:.4f} | {encode_rates[-1]:.3f} |",
            flush=True,
        )
    median = statistics.median
    print(
        f"\n{len(cases)} cases ({fallbacks} fell back to packed: not in the decode target). "
        f"info: size {median(to_png8):.3f}x PNG8 (worst {max(to_png8):.3f}), "
        f"{median(to_webp):.3f}x lossless WebP (worst {max(to_webp):.3f}); whole encode "
        f"{median(encode_rates):.3f} s/MP (worst {max(encode_rates):.3f})"
    )
    if to_jxl:
        print(f"info: {median(to_jxl):.3f}x JPEG XL lossless (worst {max(to_jxl):.3f})")
    target("entropy decode / WebP decode <= 2.5x (median)", decode_ratios, 2.5, rule="median")
    target("label coding encode <= 0.05 s/MP on every case", coding_rates, 0.05, unit=" s/MP")
    target("issue 10: size / lossless WebP <= 0.88x (median)", to_webp, 0.88, rule="median")
    target("issue 10: size / lossless WebP <= 1.0x on every case", to_webp, 1.0)
    if to_zopfli:
        target("issue 10: size / zopflipng PNG8 <= 0.80x (median)", to_zopfli, 0.80, rule="median")
    target("issue 10: decode / WebP decode <= 2x (median)", decode_ratios, 2.0, rule="median")
    target("issue 10: decode / WebP decode <= 3x on every case", decode_ratios, 3.0)
    target("issue 10: label coding encode <= 0.1 s/MP on every case", coding_rates, 0.1,
           unit=" s/MP")  # fmt: skip


# --- end to end CLI -----------------------------------------------------------------------


def vqcodec_command() -> list[str]:
    script = shutil.which("vqcodec", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "vqcodec"]


def section_cli(args, corpus) -> None:
    heading(
        "end to end: `vqcodec encode --bits 8` against `pngquant --nofs 256`, same PNG",
        "on every RGB photo: time <= 1.0x pngquant's, smaller file, higher PSNR (packed and "
        "--coding entropy2, the default)",
    )
    pngquant = PNGQUANT if os.path.exists(PNGQUANT) else shutil.which("pngquant")
    if not pngquant:
        print(
            f"skipped: pngquant not found ({PNGQUANT}); install Debian's with "
            "`sudo apt-get install pngquant`"
        )
        skipped("CLI rows", "pngquant missing")
        return
    vq = vqcodec_command()
    print(
        f"commands: `{' '.join(vq)} encode PHOTO.png -o out.vq --bits 8 -f --coding CODING`"
        f", `{pngquant} --nofs 256 --force --output out.png PHOTO.png`; wall time of the "
        "subprocess, interleaved, medians. JPEG sources are first saved as PNG, and both "
        "tools get that PNG. RGBA rows are shown but not in the targets.\n"
    )
    pictures = of_kind(corpus, "colour") + of_kind(corpus, "rgba")
    codings = {"packed": ["--coding", "packed"], "entropy2": ["--coding", "entropy2"]}
    summary = {coding: {"time": [], "size": [], "db": []} for coding in codings}
    print("| image | MP | coding | vq s | pngquant s | time ratio | vq bytes | pngquant bytes "
          "| size ratio | vq dB | pngquant dB | +dB |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="vqbench-") as folder:
        for picture in pictures:
            source = str(picture.path)
            if picture.path.suffix.lower() != ".png":
                source = os.path.join(folder, picture.path.stem + ".png")
                Image.fromarray(picture.image).save(source)
            with Image.open(source) as opened:
                original = as_array(opened, picture.mode)
            out_png = os.path.join(folder, "out.png")
            commands = {"pngquant": [pngquant, "--nofs", "256", "--force", "--output", out_png,
                                     source]}  # fmt: skip
            for coding, extra in codings.items():
                out = os.path.join(folder, f"out-{coding}.vq")
                commands[coding] = [*vq, "encode", source, "-o", out, "--bits", "8", "-f", *extra]
            times = {tool: [] for tool in commands}
            if picture is pictures[0]:  # warm-up: page cache, bytecode
                for command in commands.values():
                    subprocess.run(command, check=True, capture_output=True)
            for _ in range(max(1, args.repeat)):
                for tool, command in commands.items():
                    start = time.perf_counter()
                    subprocess.run(command, check=True, capture_output=True)
                    times[tool].append(time.perf_counter() - start)
            pq_time = statistics.median(times["pngquant"])
            pq_size = os.path.getsize(out_png)
            with Image.open(out_png) as opened:
                pq_db = psnr(original, as_array(opened, picture.mode))
            for coding in codings:
                out = os.path.join(folder, f"out-{coding}.vq")
                vq_time = statistics.median(times[coding])
                vq_size = os.path.getsize(out)
                vq_db = psnr(original, vqcodec.read(out))
                if picture.kind == "colour":
                    summary[coding]["time"].append(vq_time / pq_time)
                    summary[coding]["size"].append(vq_size / pq_size)
                    summary[coding]["db"].append(vq_db - pq_db)
                print(
                    f"| {picture.name}{'' if picture.kind == 'colour' else ' (RGBA)'}"
                    f" | {picture.megapixels:.2f} | {coding} | {vq_time:.3f} | {pq_time:.3f}"
                    f" | {vq_time / pq_time:.2f}x | {vq_size:,} | {pq_size:,}"
                    f" | {vq_size / pq_size:.3f} | {vq_db:.2f} | {pq_db:.2f}"
                    f" | {vq_db - pq_db:+.2f} |",
                    flush=True,
                )
    print()
    for coding, values in summary.items():
        target(f"cli {coding}: time vq/pngquant <= 1.0x on every photo", values["time"], 1.0)
        target(f"cli {coding}: file size vq/pngquant < 1 on every photo", values["size"],
               1.0 - 1e-9)  # fmt: skip
        target(f"cli {coding}: PSNR vq - pngquant > 0 dB on every photo", values["db"], 1e-9,
               higher=True, unit=" dB")  # fmt: skip


# --- memory and scale ---------------------------------------------------------------------


def sample_image() -> Image.Image:
    """The photo bundled with the package (vqcodec/data)."""
    from importlib import resources

    folder = resources.files("vqcodec").joinpath("data")
    name = next(item.name for item in sorted(folder.iterdir(), key=lambda i: i.name)
                if item.name.endswith(".png"))  # fmt: skip
    with folder.joinpath(name).open("rb") as handle:
        image = Image.open(handle)
        image.load()
    return image


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


def section_memory(args, corpus) -> None:
    heading(
        "memory: 6000x4000 RGB (the bundled sample upscaled), default (entropy2) coding, each "
        "step in a fresh process",
        "encode peak <= 4x the image + 50 MB, decode peak <= 2x the image + 50 MB",
    )
    print("peak = the larger of tracemalloc's peak and the growth of the peak RSS (MiB).\n")
    print("| step | bits | seconds | tracemalloc peak MiB | peak RSS growth MiB | budget MiB "
          "| within |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|:---:|")
    height, width = 4000, 6000
    image = np.asarray(sample_image().convert("RGB").resize((width, height), Image.BICUBIC))
    over = {"encode": [], "decode": []}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "large.npy")
        np.save(path, image)
        for bits in (8, 4):
            for step, factor in (("encode", 4), ("decode", 2)):
                probe = path if step == "encode" else path + ".vq"
                output = subprocess.run(
                    [sys.executable, "-c", _MEMORY_PROBE, step, probe, str(bits)],
                    cwd=folder, check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
                result = json.loads(output)
                budget = factor * result["image_bytes"] + 50 * 2**20
                worst = max(result["traced"], result["rss_growth"])
                over[step].append(worst / budget)
                print(
                    f"| {step} | {bits} | {result['seconds']:.2f} | {result['traced'] / 2**20:.0f}"
                    f" | {result['rss_growth'] / 2**20:.0f} | {budget / 2**20:.0f}"
                    f" | {'yes' if worst <= budget else 'NO'} |",
                    flush=True,
                )
    print("\n(values below: peak / budget)")
    target("24 MP encode peak <= 4x image + 50 MB", over["encode"], 1.0)
    target("24 MP decode peak <= 2x image + 50 MB", over["decode"], 1.0)


def section_scale(args, corpus) -> None:
    heading(
        "scale: the bundled sample upscaled, RGB, bits 8 and 4, default (entropy2) coding",
        "linear growth past 1 MP: time per MP at 4, 12 and 24 MP <= 1.5x that at 1 MP "
        "(encode and decode)",
    )
    print("| megapixels | bits | encode s | encode s/MP | decode s | decode s/MP |")
    print("|---:|---:|---:|---:|---:|---:|")
    rates = {}
    for megapixels in (0.25, 1, 4, 12, 24):
        image = large_image(megapixels)
        actual = image.shape[0] * image.shape[1] / 1e6
        repeat = 3 if megapixels <= 4 else 1
        for bits in (8, 4):
            encode_time, data = timed(partial(vqcodec.encode, image, bits), repeat)
            decode_time, _ = timed(partial(vqcodec.decode, data), max(repeat, 3))
            rates[megapixels, bits] = (encode_time / actual, decode_time / actual)
            print(
                f"| {actual:.2f} | {bits} | {encode_time:.3f} | {encode_time / actual:.3f}"
                f" | {decode_time:.3f} | {decode_time / actual:.4f} |",
                flush=True,
            )
        del image
    growth = {"encode": [], "decode": []}
    for (megapixels, bits), (encode_rate, decode_rate) in rates.items():
        if megapixels > 1:
            growth["encode"].append(encode_rate / rates[1, bits][0])
            growth["decode"].append(decode_rate / rates[1, bits][1])
    print("\n(values below: time per MP / time per MP at 1 MP)")
    target("encode time per MP past 1 MP <= 1.5x that at 1 MP", growth["encode"], 1.5)
    target("decode time per MP past 1 MP <= 1.5x that at 1 MP", growth["decode"], 1.5)


# --- tiles (issue 12) -------------------------------------------------------------------------

TILE = 256
# 256x256 regions at fixed places of a 6000x4000 image: inside one tile, across two, across
# four, at a corner and at the far edge.
TILE_REGIONS = ((512, 512), (3000, 1024), (2944, 1936), (0, 0), (5744, 3744))


def section_tiles(args, corpus) -> None:
    heading(
        f"tiles: the bundled sample upscaled to 24 MP (6000x4000 RGB), bits 6, tiles of {TILE}",
        "encode and decode with 2 threads <= 0.6x 1 thread; a 256x256 region <= 2% of the "
        "full decode; tiles cost <= 1% in size (issue 12)",
    )
    image = large_image(24)
    repeat = max(7, args.repeat)
    plain = vqcodec.encode(image, 6)
    # 1 and 2 threads interleaved, run after run, so that the shared machine's drift
    # between blocks of runs does not fall on one side of the ratio.
    samples: dict[tuple[str, int], list[float]] = {}
    for _ in range(repeat):
        for threads in (1, 2):
            spent, data = timed(partial(vqcodec.encode, image, 6, tile=TILE, threads=threads), 1)
            samples.setdefault(("encode", threads), []).append(spent)
            spent, decoded = timed(partial(vqcodec.decode, data, threads=threads), 1)
            samples.setdefault(("decode", threads), []).append(spent)
    times = {key: statistics.median(values) for key, values in samples.items()}
    assert np.array_equal(decoded, vqcodec.decode(plain))  # tiles change no pixel
    same = vqcodec.encode(image, 6, tile=TILE, threads=1) == data
    print(f"medians of {repeat} interleaved runs\n")
    print("| step | 1 thread s | 2 threads s | ratio |")
    print("|---|---:|---:|---:|")
    for step in ("encode", "decode"):
        one, two = times[step, 1], times[step, 2]
        print(f"| {step} | {one:.3f} | {two:.3f} | {two / one:.2f}x |")
    print(f"\n(1 and 2 threads wrote the same bytes: {same})")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.vq")
        with open(path, "wb") as handle:
            handle.write(data)
        full, _ = timed(partial(vqcodec.read, path), repeat)
        print(f"\nfull read of the file (2 threads): {full * 1e3:.1f} ms\n")
        print("| region (x, y, 256, 256) | tiles touched | ms | / full read |")
        print("|---|---:|---:|---:|")
        ratios = []
        header = vqcodec.container.parse_header(memoryview(data))
        for x, y in TILE_REGIONS:
            region = (x, y, 256, 256)
            spent, part = timed(partial(vqcodec.read, path, region=region), max(repeat, 7))
            assert np.array_equal(part, decoded[y : y + 256, x : x + 256])
            touched = len(vqcodec.tiles.touched(header, region))
            ratios.append(spent / full)
            print(f"| {x}, {y} | {touched} | {spent * 1e3:.2f} | {spent / full:.4f} |")
    print(
        f"\nsize: tiled {len(data):,} bytes, untiled {len(plain):,} "
        f"({len(data) / len(plain):.4f}x)\n"
    )
    target(
        "tiles: encode 2 threads / 1 thread <= 0.6x", [times["encode", 2] / times["encode", 1]], 0.6
    )
    target(
        "tiles: decode 2 threads / 1 thread <= 0.6x", [times["decode", 2] / times["decode", 1]], 0.6
    )
    target("tiles: 256x256 region / full read <= 0.02x", ratios, 0.02)
    target("tiles: tiled size / untiled <= 1.01x", [len(data) / len(plain)], 1.01)


# --- gray against the tutorial ------------------------------------------------------------


BATCH_IMAGES = 200


def batch_inputs(corpus: list[Picture], folder: str) -> int:
    """BATCH_IMAGES images made from the corpus's, whole (median 512x512): each image in
    turn, turned and mirrored in its 8 ways, then with a margin of 8 pixels cut off, written
    as PNG under folder (half in a subfolder); their bytes."""
    total = 0
    for i in range(BATCH_IMAGES):
        picture = corpus[i % len(corpus)]
        turn = i // len(corpus)
        image = np.rot90(picture.image, turn % 4)
        image = image[:, ::-1] if turn % 8 >= 4 else image
        image = image[8:, 8:] if turn >= 8 else image
        path = os.path.join(folder, "sub" if i % 2 else "", f"{i:03}-{picture.path.stem}.png")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(np.ascontiguousarray(image)).save(path)
        total += os.path.getsize(path)
    return total


def section_batch(args, corpus) -> None:
    heading(
        f"batch: `vqcodec encode DIR -o OUT/` on {BATCH_IMAGES} images, -j 2 against -j 1",
        "-j 2 <= 0.6x the time of -j 1 (issue 12); --scheduler on a 2-worker Dask "
        "LocalCluster (worker processes, one thread each) <= 0.7x",
    )
    vq = vqcodec_command()
    with tempfile.TemporaryDirectory(prefix="vqbench-batch-") as folder:
        source = os.path.join(folder, "in")
        size = batch_inputs(corpus, source)
        print(
            f"{BATCH_IMAGES} PNGs made from the {len(corpus)} corpus images (turned, "
            f"mirrored, cropped by 8 pixels), {size:,} bytes; command: `{' '.join(vq)} encode "
            f"IN -o OUT/ -q -f -j N` or `--scheduler ADDRESS` (default bits and coding), wall "
            f"time; -j 1 and -j 2 interleaved, then the Dask runs; medians of {args.repeat}\n"
        )
        runs = {"-j 1": ["-j", "1"], "-j 2": ["-j", "2"]}
        times: dict[str, list[float]] = {name: [] for name in runs}
        made: dict[str, dict[str, bytes]] = {}

        def measure(name: str, options: list[str]) -> None:
            out = os.path.join(folder, "out-" + name.split(",")[0].replace(" ", ""))
            began = time.perf_counter()
            subprocess.run(
                [*vq, "encode", source, "-o", out + os.sep, "-q", "-f", *options], check=True
            )
            times.setdefault(name, []).append(time.perf_counter() - began)
            made[name] = {
                str(path.relative_to(out)): path.read_bytes()
                for path in pathlib.Path(out).rglob("*.vq")
            }

        for _ in range(args.repeat):
            for name, options in runs.items():
                measure(name, options)
        # The cluster after the local runs: its idle workers take some CPU (heartbeats),
        # which the local runs should not pay for.
        try:
            import dask
            from distributed import LocalCluster
        except ImportError:
            print("(no Dask row: pip install distributed, or '.[bench]')")
        else:
            began = time.perf_counter()
            with (
                dask.config.set({"distributed.worker.profile.enabled": False}),
                LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, silence_logs=50,
                ) as cluster,
            ):  # fmt: skip
                print(f"LocalCluster started in {time.perf_counter() - began:.2f} s (untimed)")
                for _ in range(args.repeat):
                    measure("dask, 2 workers", ["--scheduler", cluster.scheduler_address])
        if len(made["-j 1"]) != BATCH_IMAGES or any(m != made["-j 1"] for m in made.values()):
            fail("batch: the runs wrote different files")
        print("\n| run | seconds | files/s | ratio to -j 1 |\n|---|---:|---:|---:|")
        one = statistics.median(times["-j 1"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"| {name} | {median:.2f} | {BATCH_IMAGES / median:.1f} | {median / one:.2f}x |")
        print(f"\n(every run wrote the same {BATCH_IMAGES} files, byte for byte)")

    def ratios(name: str) -> list[float]:
        return [t / one for one, t in zip(times["-j 1"], times[name], strict=True)]

    target("batch: -j 2 / -j 1 time <= 0.6x (median)", ratios("-j 2"), 0.6, rule="median")
    if "dask, 2 workers" in times:
        target(
            "batch: 2-worker Dask LocalCluster / -j 1 time <= 0.7x (median)",
            ratios("dask, 2 workers"), 0.7, rule="median",
        )  # fmt: skip
    else:
        skipped("batch: 2-worker Dask LocalCluster / -j 1 <= 0.7x", "distributed not installed")


def tutorial_kmeans(pixels: np.ndarray, bits: int, n_init: int) -> np.ndarray:
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    model = KMeans(n_clusters=2**bits, n_init=n_init, random_state=0)
    with warnings.catch_warnings():  # fewer distinct grays than clusters: expected, harmless
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(pixels.astype(np.float64))
    centres = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
    return centres[model.labels_]


def section_gray(args, corpus) -> None:
    heading(
        "gray encode: every gray image against the tutorial's KMeans(n_init=4)",
        "MSE no higher than KMeans's at every bits on every image; faster than KMeans",
    )
    print(
        f"KMeans: median of --kmeans-repeat {args.kmeans_repeat} fits, centroids rounded to "
        "uint8 as a .vq file stores them; speed-up = KMeans time / vq time.\n"
    )
    print("| image | bits | vq ms | vq MSE | KMeans ms | KMeans MSE | speed-up | MSE no higher |")
    print("|---|---:|---:|---:|---:|---:|---:|:---:|")
    vqcodec.encode(np.zeros((8, 8), np.uint8), 1)  # first-call costs belong to no bits
    excess, speedups = [], []
    for picture in of_kind(corpus, "gray"):
        image = picture.image
        pixels = image.reshape(-1, 1)
        for bits in range(1, 9):
            vq_time, data = timed(partial(vqcodec.encode, image, bits), max(args.repeat, 11))
            ours = mse(image, vqcodec.decode(data))
            km_time, km = timed(partial(tutorial_kmeans, pixels, bits, 4), args.kmeans_repeat)
            theirs = mse(pixels, km)
            excess.append(ours - theirs)
            speedups.append(km_time / vq_time)
            print(
                f"| {picture.name} | {bits} | {vq_time * 1e3:.1f} | {ours:.3f}"
                f" | {km_time * 1e3:.0f} | {theirs:.3f} | {km_time / vq_time:.0f}x"
                f" | {'yes' if ours <= theirs + 1e-9 else 'NO'} |",
                flush=True,
            )
    print()
    target("vq MSE - KMeans MSE <= 0 on every image and bits", excess, 1e-9, unit="")
    target("speed-up over KMeans >= 1x on every image and bits", speedups, 1.0, higher=True)


# --- main ---------------------------------------------------------------------------------


# --- block VQ (issue 11) ---------------------------------------------------------------------

# (block, bits) of the block files measured: 8-bit labels are entropy2-coded (4x4 at 8 bits
# is ~0.25 bit a pixel, 2x1 at 8 bits ~1.5), so these points span the rates of the targets.
BLOCK_CONFIGS = (((4, 4), 8), ((4, 2), 8), ((2, 2), 6), ((2, 2), 8), ((2, 1), 8))
BLOCK_RATES = (0.5, 1.0)


def _rd_at(points, rate: float) -> float:
    """PSNR at ``rate`` on the curve through ``points`` ((bpp, dB) pairs): linear between
    neighbours, the best PSNR reached at any lower rate counting (a coder can always take a
    cheaper setting; past the last point, that point's PSNR: a lower bound, for JPEG at
    quality 95 too); NaN below the cheapest point (the coder cannot get that small)."""
    points = sorted(points)
    rates = [r for r, _ in points]
    if not points or rate < rates[0]:
        return math.nan
    envelope = np.maximum.accumulate([p for _, p in points])
    return float(np.interp(rate, rates, envelope))


def _pillow_curve(image: np.ndarray, name: str, qualities) -> list[tuple[float, float, bytes]]:
    """(bpp, PSNR, file) of ``image`` saved by Pillow as ``name`` at each quality."""
    pixels = image.shape[0] * image.shape[1]
    mode = MODES[1 if image.ndim == 2 else image.shape[2]]
    source = Image.fromarray(image)
    if name == "WEBP" and mode == "L":
        source = source.convert("RGB")
    out = []
    for quality in qualities:
        buffer = io.BytesIO()
        source.save(buffer, name, quality=quality)
        data = buffer.getvalue()
        decoded = as_array(Image.open(io.BytesIO(data)), mode)
        out.append((len(data) * 8 / pixels, psnr(image, decoded), data))
    return out


def section_blocks(args, corpus) -> None:
    heading(
        "blocks: block VQ against JPEG and WebP at the same rate (issue 11)",
        "shared codebook within 1.0 dB of JPEG at 0.5 and 1.0 bit/pixel; 2 bpp packed 2x2 "
        ">= per-pixel 2 bits + 3 dB; decode <= 0.5x Pillow's JPEG decode; encode with a "
        "trained codebook <= 0.5 s/MP",
    )
    pictures = of_kind(corpus, "gray", "colour")
    print(
        f"Every gray and RGB image ({len(pictures)}). Shared codebooks: for each image, one "
        "codebook a (block, bits) trained on the other images of its kind (never on itself), "
        "its bytes not counted (the files name it); per-image codebooks: the file carries "
        "its own, counted. Configurations (block, bits): "
        + ", ".join(f"{b[0]}x{b[1]}/{bits}" for b, bits in BLOCK_CONFIGS)
        + " (8-bit labels entropy2-coded). PSNR at a rate: linear between a curve's points "
        "(the best PSNR at any lower rate), JPEG (Pillow, qualities 2..95) and lossy WebP "
        "(Pillow, qualities 0..100) likewise; RGB PSNR over all channels.\n"
    )
    print(
        "| image | rate | shared dB | per-image dB | JPEG dB | WebP dB | shared - JPEG "
        "| per-image - JPEG |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    gaps = {rate: [] for rate in BLOCK_RATES}
    own_gaps = {rate: [] for rate in BLOCK_RATES}
    two_bpp, encode_speed, decode_ratio = [], [], []
    detail = []
    for picture in pictures:
        image = picture.image
        pixels = image.shape[0] * image.shape[1]
        others = [p.image for p in pictures if p.kind == picture.kind and p is not picture]
        shared, own = [], []
        for block, bits in BLOCK_CONFIGS:
            book = vqcodec.train(others, bits, block)
            data = vqcodec.encode(image, codebook=book)
            decoded = vqcodec.decode(data, codebook=book)
            shared.append((len(data) * 8 / pixels, psnr(image, decoded)))
            encode_time, _ = timed(partial(vqcodec.encode, image, codebook=book), args.repeat)
            encode_speed.append(encode_time / (pixels / 1e6))
            decode_time, _ = timed(partial(vqcodec.decode, data, codebook=book), args.repeat)
            packed = vqcodec.encode(image, codebook=book, coding="packed")
            packed_time, _ = timed(partial(vqcodec.decode, packed, codebook=book), args.repeat)
            detail.append(
                (picture.name, block, bits, shared[-1], encode_time, decode_time, packed_time)
            )
            own_data = vqcodec.encode(image, bits, block=block)
            own.append((len(own_data) * 8 / pixels, psnr(image, vqcodec.decode(own_data))))
        jpeg = _pillow_curve(image, "JPEG", range(2, 96))
        webp = _pillow_curve(image, "WEBP", range(0, 101, 2))
        for rate in BLOCK_RATES:
            ours, mine = _rd_at(shared, rate), _rd_at(own, rate)
            theirs = _rd_at([(r, p) for r, p, _ in jpeg], rate)
            webp_db = _rd_at([(r, p) for r, p, _ in webp], rate)
            if not math.isnan(ours - theirs):
                gaps[rate].append(ours - theirs)
            if not math.isnan(mine - theirs):
                own_gaps[rate].append(mine - theirs)
            print(
                f"| {picture.name} | {rate} | {ours:.2f} | {mine:.2f} | {theirs:.2f} "
                f"| {webp_db:.2f} | {ours - theirs:+.2f} | {mine - theirs:+.2f} |",
                flush=True,
            )
        # Decode against Pillow decoding the JPEG of the nearest rate, per configuration.
        for _name, block, bits, (rate, _), _, decode_time, packed_time in detail[
            -len(BLOCK_CONFIGS) :
        ]:
            nearest = min(jpeg, key=lambda point: abs(point[0] - rate))[2]
            mode = picture.mode

            def pillow(nearest=nearest, mode=mode):
                with Image.open(io.BytesIO(nearest)) as opened:
                    return as_array(opened, mode)

            jpeg_time, _ = timed(pillow, args.repeat)
            decode_ratio.append((decode_time / jpeg_time, packed_time / jpeg_time, block, bits))
        # 2 bits a pixel, fixed rate: 2x2 blocks of 256 codewords, packed, against pixels at
        # 2 bits, packed (the target), and against the best per-pixel file (any bits, packed
        # or entropy2) no larger.
        blocky = vqcodec.encode(image, 8, block=(2, 2), coding="packed")
        fixed = vqcodec.decode(vqcodec.encode(image, 2, coding="packed"))
        best = (-math.inf, 0.0, "")
        for bits in range(1, 9):
            for coding in ("packed", "entropy2"):
                flat = vqcodec.encode(image, bits, coding=coding)
                if len(flat) <= len(blocky):
                    quality = psnr(image, vqcodec.decode(flat))
                    best = max(best, (quality, len(flat) * 8 / pixels, f"{bits} bits {coding}"))
        quality = psnr(image, vqcodec.decode(blocky))
        two_bpp.append(
            (
                quality - psnr(image, fixed),
                quality - best[0],
                len(blocky) * 8 / pixels,
                best[1],
                best[2],
                picture.name,
            )
        )
    print("\nShared codebooks, each configuration (medians over the images):\n")
    print(
        "| block/bits | bpp | PSNR dB | encode s/MP | decode / JPEG decode (worst) "
        "| packed decode / JPEG decode (worst) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for block, bits in BLOCK_CONFIGS:
        rows = [d for d in detail if d[1] == block and d[2] == bits]
        ratios = [r for r, _, b, k in decode_ratio if b == block and k == bits]
        packed_ratios = [r for _, r, b, k in decode_ratio if b == block and k == bits]
        megapixels = {p.name: p.megapixels for p in pictures}
        print(
            f"| {block[0]}x{block[1]}/{bits} | {statistics.median(r[3][0] for r in rows):.3f}"
            f" | {statistics.median(r[3][1] for r in rows):.2f}"
            f" | {statistics.median(r[4] / megapixels[r[0]] for r in rows):.3f}"
            f" | {statistics.median(ratios):.2f}x ({max(ratios):.2f}x)"
            f" | {statistics.median(packed_ratios):.2f}x ({max(packed_ratios):.2f}x) |"
        )
    print(
        "\n2 bits a pixel: 2x2 blocks at 8 bits, packed (a fixed rate), against the best "
        "per-pixel file no larger (bits 1..8, packed or entropy2):\n"
    )
    print(
        "| image | 2x2/8 bpp | gain over 2-bit pixels, packed | best per-pixel file no larger "
        "| its bpp | gain over it |"
    )
    print("|---|---:|---:|---|---:|---:|")
    for gain, over_best, block_rate, flat_rate, which, name in two_bpp:
        print(
            f"| {name} | {block_rate:.3f} | {gain:+.2f} dB | {which} | {flat_rate:.3f} "
            f"| {over_best:+.2f} dB |"
        )
    print()
    for rate in BLOCK_RATES:
        target(
            f"shared codebook PSNR - JPEG at {rate} bpp >= -1.0 dB on every image",
            gaps[rate], -1.0, higher=True, unit=" dB",
        )  # fmt: skip
        print(
            f"(per-image codebooks at {rate} bpp: median {statistics.median(own_gaps[rate]):+.2f}"
            f" dB, worst {min(own_gaps[rate]):+.2f} dB, {len(own_gaps[rate])} images reach it)"
            if own_gaps[rate]
            else f"(per-image codebooks do not reach {rate} bpp)"
        )
    target(
        "2 bpp packed: 2x2/8 blocks - 2-bit pixels packed >= +3 dB",
        [g for g, *_ in two_bpp], 3.0, higher=True, unit=" dB",
    )  # fmt: skip
    over = [g for _, g, *_ in two_bpp]
    print(
        f"(against the best per-pixel file no larger, entropy2 included: median "
        f"{statistics.median(over):+.2f} dB, worst {min(over):+.2f} dB)"
    )
    target(
        "block file decode (default coding) / Pillow JPEG decode (same image, nearest rate) "
        "<= 0.5x", [r for r, *_ in decode_ratio], 0.5,
    )  # fmt: skip
    target(
        "block file decode (packed) / Pillow JPEG decode (same image, nearest rate) <= 0.5x",
        [r for _, r, *_ in decode_ratio], 0.5,
    )  # fmt: skip
    target("encode with a trained codebook <= 0.5 s/MP", encode_speed, 0.5, unit=" s/MP")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="runs per median (default 5)")
    parser.add_argument(
        "--corpus", type=pathlib.Path, default=DEFAULT_CORPUS,
        help=f"folder of benchmark images (default {DEFAULT_CORPUS})",
    )  # fmt: skip
    parser.add_argument(
        "--kmeans-repeat", type=int, default=1,
        help="runs per median for the tutorial's KMeans (default 1: it takes seconds a fit)",
    )  # fmt: skip
    parser.add_argument(
        "--webp-cache", help="folder for the lossless WebP anchors "
        "(default $XDG_CACHE_HOME or ~/.cache, then vqcodec-bench/webp)",
    )  # fmt: skip
    parser.add_argument("--no-webp-cache", action="store_true", help="make every WebP anew")
    parser.add_argument(
        "--entropy-coding", default="entropy2",
        help="the label coding the entropy section measures (default entropy2, the default)",
    )  # fmt: skip
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1,
        help="processes making WebP files that are not cached (default: every core)",
    )  # fmt: skip
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))} (have {', '.join(SECTIONS)})")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    corpus = load_corpus(args.corpus) if NEEDS_CORPUS.intersection(chosen) else []
    print(f"# vqcodec benchmark\n\nmachine: {machine()}")
    if corpus:
        print(f"corpus: {args.corpus.resolve()} ({describe(corpus)})")
    print(f"repeat: {args.repeat} (medians)", flush=True)
    start = time.perf_counter()
    for name in chosen:
        began = time.perf_counter()
        globals()[f"section_{name}"](args, corpus)
        print(f"\n({name}: {time.perf_counter() - began:.0f} s)", flush=True)
    print(f"\n## targets ({time.perf_counter() - start:.0f} s)\n")
    print("\n".join(TARGETS))


if __name__ == "__main__":
    main()
