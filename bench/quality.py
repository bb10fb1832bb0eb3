"""vqcodec's quantizer against the tutorial's scikit-learn KMeans on every pixel, same run.

    python bench/quality.py [IMAGE ...] [--bits 1-8] [--repeat 3]

Default images: the benchmark corpus in ../shared/corpus (camera.png, gray; astronaut.png,
colour). For each bits: MSE and PSNR of both (KMeans centroids rounded to uint8, as a .vq file
would store them), the quality gap in dB and the time ratio. Times are medians of --repeat
runs; vqcodec's time is the whole encode (quantize, pack, container), KMeans' is the fit alone.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import time
from functools import partial

import numpy as np
from PIL import Image

import vqcodec
from vqcodec.cli import _bits_list
from vqcodec.compare import mse, psnr
from vqcodec.images import to_array

CORPUS = pathlib.Path(__file__).resolve().parents[2] / "shared" / "corpus"


def timed(function, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def tutorial_kmeans(pixels: np.ndarray, bits: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    kmeans = KMeans(n_clusters=2**bits, n_init=4, random_state=0).fit(pixels.astype(np.float64))
    centres = np.clip(np.rint(kmeans.cluster_centers_), 0, 255).astype(np.uint8)
    return centres[kmeans.labels_]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", type=pathlib.Path)
    parser.add_argument("--bits", type=_bits_list, default=list(range(1, 9)))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = args.images or [CORPUS / "camera.png", CORPUS / "astronaut.png"]
    for path in paths:
        image = to_array(Image.open(path))
        pixels = image.reshape(-1, image.shape[2])
        print(f"\n{path.name}: {image.shape[1]}x{image.shape[0]}, {image.shape[2]} channel(s)")
        print(
            "bits    vq MSE  vq PSNR  vq ms   KMeans MSE  KMeans PSNR  KMeans ms  "
            "gap dB  time ratio"
        )
        for bits in args.bits:
            vq_time, data = timed(partial(vqcodec.encode, image, bits), args.repeat)
            decoded = vqcodec.decode(data).reshape(pixels.shape)
            km_time, km = timed(partial(tutorial_kmeans, pixels, bits), args.repeat)
            ours, theirs = psnr(pixels, decoded), psnr(pixels, km)
            gap = 0.0 if ours == theirs else ours - theirs  # both lossless: inf - inf
            print(
                f"{bits:>4}  {mse(pixels, decoded):>8.3f}  {ours:>7.2f}  {vq_time * 1e3:>5.0f}"
                f"  {mse(pixels, km):>11.3f}  {theirs:>11.2f}  {km_time * 1e3:>9.0f}"
                f"  {gap:>+6.2f}  {km_time / vq_time:>9.1f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
