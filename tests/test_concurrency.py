"""Law: 8 processes encoding and decoding 200 files at once give exactly the bytes and
images of a sequential run (no shared state, no thread-count dependence)."""

import hashlib
import multiprocessing

import numpy as np

import vqcodec


def make_image(index: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(index)
    channels = (1, 3, 4)[index % 3]
    side = 8 + index % 17
    shape = (side, side + 3) if channels == 1 else (side, side + 3, channels)
    if index % 4 == 0:  # smooth: few colours, the lossless path
        image = (np.add.outer(np.arange(shape[0]), np.arange(shape[1])) * 9 % 256).astype(np.uint8)
        image = image if channels == 1 else np.repeat(image[:, :, None], channels, axis=2)
    else:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
    return image, 1 + index % 8


def encode_and_decode(index: int) -> tuple[bytes, str]:
    image, bits = make_image(index)
    data = vqcodec.encode(image, bits, seed=index)
    decoded = vqcodec.decode(data)
    return data, hashlib.sha256(decoded.tobytes()).hexdigest()


def test_eight_processes_match_a_sequential_run():
    indices = list(range(200))
    sequential = [encode_and_decode(index) for index in indices]
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        parallel = pool.map(encode_and_decode, indices, chunksize=5)
    assert parallel == sequential
