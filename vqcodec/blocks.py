"""Block vector quantization: blocks of pixels as vectors (spec §4.4).

An image of H x W pixels and C channels is cut into blocks of bh x bw pixels, row-major; a
block's vector is its pixels row-major, channels interleaved (bh * bw * C values). Blocks
that overhang the right or bottom edge are filled by repeating the edge pixels (the decoder
drops what lies outside the image, so the filling is the writer's choice).

The codebook is trained by the generalized Lloyd algorithm (LBG): from the mean of all
vectors, every codeword is split in two and Lloyd's iterations run at each size until K.
Training runs on a sample when the image has many more vectors than ~64 per codeword. The
nearest-codeword search and the centroid sums are C (``csrc/blocks.c``: the search walks out
from the vector's place in the codewords ordered by their sums and stops when the sums'
difference alone rules out the rest); everything here is whole-array numpy.
"""

from __future__ import annotations

import numpy as np

from . import _core

# Vectors per codeword worth training on; past that a sample is as good and much quicker.
SAMPLE_PER_CODEWORD = 64
SAMPLE_LEAST = 1 << 14
# Lloyd iterations at each size of the codebook while it grows, and at the final size;
# training stops early once an iteration improves the distortion by less than STOP.
GROW_ITERATIONS = 3
FINAL_ITERATIONS = 12
STOP = 1e-3


def to_vectors(pixels: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """The (N, bh*bw*C) uint8 block vectors of an (H, W, C) image, blocks row-major."""
    bw, bh = block
    height, width, channels = pixels.shape
    rows, columns = -(-height // bh), -(-width // bw)
    padded = pixels
    if rows * bh != height or columns * bw != width:
        extra = ((0, rows * bh - height), (0, columns * bw - width), (0, 0))
        padded = np.pad(pixels, extra, "edge")
    grid = padded.reshape(rows, bh, columns, bw, channels).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(grid).reshape(rows * columns, bh * bw * channels)


def grid_shape(width: int, height: int, block: tuple[int, int]) -> tuple[int, int]:
    """(columns, rows) of blocks that cover the image (spec §4.4)."""
    return -(-width // block[0]), -(-height // block[1])


def nearest(vectors: np.ndarray, codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's nearest codeword (ties to the lower index) and its squared distance."""
    labels = np.empty(len(vectors), np.uint16)
    distances = np.empty(len(vectors), np.float32)
    _core.block_nearest(
        vectors, vectors.shape[1], np.ascontiguousarray(codebook, np.float32), labels, distances
    )
    return labels, distances


def quantize(vectors: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A codebook of at most ``k`` block vectors for ``vectors`` (N, D) uint8, and labels.

    Returns (codebook, labels): the (K', D) uint8 codebook, K' <= k, its rows distinct, used
    and in ascending lexicographic order, and the (N,) uint16 labels, each vector's nearest
    codeword. An image with at most k distinct blocks is coded exactly.
    """
    distinct, inverse = np.unique(vectors, axis=0, return_inverse=True)
    if len(distinct) <= k:
        return distinct, inverse.reshape(-1).astype(np.uint16)
    codebook = train(vectors, k, seed)
    return label(vectors, codebook)


def label(vectors: np.ndarray, codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label ``vectors`` with their nearest codewords of the uint8 ``codebook``; codewords
    no vector uses are dropped (a smaller file), the rest kept in their order."""
    labels, _ = nearest(vectors, codebook)
    used = np.zeros(len(codebook), bool)
    used[labels] = True
    if used.all():
        return codebook, labels
    renumber = np.cumsum(used, dtype=np.int64) - 1
    return codebook[used], renumber[labels].astype(np.uint16)


def train(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """LBG: the (K', D) uint8 codebook, K' <= k, rows distinct and sorted lexicographically."""
    rng = np.random.default_rng(seed)
    sample = vectors
    size = max(SAMPLE_LEAST, SAMPLE_PER_CODEWORD * k)
    if len(vectors) > size:
        sample = vectors[np.sort(rng.choice(len(vectors), size, replace=False))]
    centres = sample.mean(axis=0, dtype=np.float64)[None, :]
    while len(centres) < k:
        centres = _split(centres, sample, min(k, 2 * len(centres)), rng)
        final = len(centres) == k
        centres = _lloyd(sample, centres, FINAL_ITERATIONS if final else GROW_ITERATIONS)
    codebook = np.unique(np.clip(np.rint(centres), 0, 255).astype(np.uint8), axis=0)
    return codebook


def _split(
    centres: np.ndarray, sample: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``centres`` grown to ``size``: the codewords whose cells hold the most distortion are
    each split into two, a small random step either side of the old one."""
    labels, distances = nearest(sample, centres)
    distortion = np.bincount(labels, weights=distances, minlength=len(centres))
    chosen = np.argsort(-distortion, kind="stable")[: size - len(centres)]
    step = rng.standard_normal((len(chosen), centres.shape[1]))
    grown = centres.copy()
    grown[chosen] += step
    return np.concatenate([grown, centres[chosen] - step])


def _lloyd(sample: np.ndarray, centres: np.ndarray, iterations: int) -> np.ndarray:
    """Lloyd's iterations: each vector to its nearest centre, each centre to its cell's mean.
    An empty cell takes the vector farthest from its centre, so no codeword is wasted."""
    entries, dim = centres.shape
    sums = np.empty((entries, dim), np.float64)
    counts = np.empty(entries, np.uint64)
    previous = np.inf
    for _ in range(iterations):
        labels, distances = nearest(sample, centres)
        status = _core.block_sums(sample, dim, labels, sums, counts)
        if status:
            raise RuntimeError(f"vqcodec._core.block_sums returned {status}")
        filled = counts > 0
        centres = centres.copy()
        centres[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):
            farthest = np.argsort(-distances, kind="stable")[: len(empty)]
            centres[empty[: len(farthest)]] = sample[farthest]
        total = float(distances.sum(dtype=np.float64))
        if previous - total <= STOP * total:
            break
        previous = total
    return centres
