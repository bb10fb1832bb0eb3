"""Structure-aware fuzzing of the encoder (atheris): fuzzed shapes, channel counts, bits and
pixels must round-trip under the laws of spec §7 (size law, codewords only, lossless when the
image has no more colours than codewords), and the entropy codings (entropy, entropy2) must
decode to the same array as packed in a file no larger.

    pip install '.[fuzz]'
    python fuzz/fuzz_encode.py -max_total_time=3600      # a long local run
    python fuzz/fuzz_encode.py -runs=2000                # CI's short run
"""

import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    import vqcodec

ENTROPY_CODINGS = ("entropy", "entropy2")


def test_one_input(data: bytes) -> None:
    fuzz = atheris.FuzzedDataProvider(data)
    height = fuzz.ConsumeIntInRange(1, 24)
    width = fuzz.ConsumeIntInRange(1, 24)
    channels = fuzz.PickValueInList([1, 3, 4])
    bits = fuzz.ConsumeIntInRange(1, 8)
    raw = fuzz.ConsumeBytes(height * width * channels).ljust(height * width * channels, b"\0")
    image = np.frombuffer(raw, np.uint8).reshape(height, width, channels)
    encoded = vqcodec.encode(image, bits, coding="packed")
    decoded = vqcodec.decode(encoded).reshape(height, width, channels)
    meta = vqcodec.info(encoded)
    payload = (height * width * bits + 7) // 8
    assert len(encoded) == 36 + meta["codebook_entries"] * channels + payload + 4
    for coding in ENTROPY_CODINGS:
        coded = vqcodec.encode(image, bits, coding=coding)
        assert len(coded) <= len(encoded), coding
        assert (vqcodec.decode(coded).reshape(height, width, channels) == decoded).all(), coding
    distinct = np.unique(image.reshape(-1, channels), axis=0)
    if len(distinct) <= 2**bits:
        assert (decoded == image).all()
    codebook = np.unique(decoded.reshape(-1, channels), axis=0)
    assert len(codebook) <= meta["codebook_entries"] <= 2**bits


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
