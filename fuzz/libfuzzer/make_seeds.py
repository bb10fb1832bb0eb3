"""Seed corpora for the libFuzzer harnesses, from .vq files (fuzz/README.md).

    python fuzz/libfuzzer/make_seeds.py OUT spec/examples/*.vq tests/corpus/*.vq [--sample]

writes OUT/entropy (fuzz_entropy_decode), OUT/packed (fuzz_packed), OUT/roundtrip
(fuzz_entropy_roundtrip), OUT/entropy2 (fuzz_entropy2_decode) and OUT/roundtrip2
(fuzz_entropy2_roundtrip). Each seed is the harness's 6-byte header (fuzz/libfuzzer/harness.h:
bits, channels, width - 1, height - 1, entries - 1) followed by the file's payload, so the
fuzzer starts from real coded data: entropy-coded payloads go to OUT/entropy, entropy2 ones
(label_coding 2) to OUT/entropy2, packed ones to OUT/packed, and the labels of packed files,
one a byte, to OUT/roundtrip and OUT/roundtrip2; OUT/roundtrip2 also gets them as runs
(fuzz_entropy2_roundtrip's layout 1) and a few flat maps with sparse labels (layout 3).
Block files (spec §4.4) go to OUT/blocks (fuzz_blocks, its own 8-byte header) and, when
entropy-coded, their label grid's payload to OUT/entropy or OUT/entropy2.
Files that are not valid are converted as far as their header goes (they seed odd sizes and
counts); files without the magic, or wider or taller than 65536, are skipped.

--sample also encodes crops of the bundled sample image (vqcodec/data/astronaut.png) with
vqcodec, gray and colour, packed, entropy- and entropy2-coded at several bits (entropy2 when
this vqcodec has it), for real coded data at
more sizes than the examples have; it needs vqcodec, numpy and Pillow importable.
Only the standard library otherwise.
"""

import argparse
import hashlib
import pathlib
import struct
import sys

MAGIC = b"\x89VQ\n"
HEADER = struct.Struct("<4sBBBBIIHBBB3sQI")  # spec §2: 36 bytes
CHANNEL_CODES = {1: 0, 3: 1, 4: 2}
MODE = 0x20  # harness.h: byte 0, bit 5
LAYOUT_RUNS, LAYOUT_SPARSE = 0x40, 0xC0  # fuzz_entropy2_roundtrip.c: byte 0, bits 6-7
MAX_DECISIONS = 1 << 16  # harness.h: the entropy harnesses cut larger images
ROOT = pathlib.Path(__file__).resolve().parents[2]


def harness_header(bits: int, channels: int, width: int, height: int, entries: int) -> bytes:
    """The 6 bytes the harnesses read: see fuzz/libfuzzer/harness.h."""
    first = ((bits - 1) & 7) | CHANNEL_CODES.get(channels, 3) << 3
    return struct.pack("<BHHB", first, width - 1, height - 1, (entries - 1) & 0xFF)


def blocks_header(
    bits: int, channels: int, block: tuple[int, int], width: int, height: int, entries: int
) -> bytes:
    """The 8 bytes fuzz_blocks reads (see fuzz/libfuzzer/fuzz_blocks.c)."""
    first = (bits - 1) | CHANNEL_CODES.get(channels, 3) << 4
    shape = (block[0] - 1) | (block[1] - 1) << 3
    return struct.pack("<BBHHH", first, shape, width - 1, height - 1, (entries - 1) & 0xFFFF)


def unpack_labels(payload: bytes, count: int, bits: int) -> bytes:
    """Spec §4.1: bits bits a label, most significant bit first (as far as payload goes)."""
    value = int.from_bytes(payload, "big")
    total = len(payload) * 8
    count = min(count, total // bits)
    return bytes((value >> (total - (i + 1) * bits)) & ((1 << bits) - 1) for i in range(count))


def seeds_of(data: bytes) -> dict[str, bytes]:
    """The seeds one .vq file gives, by harness."""
    if len(data) < HEADER.size or data[:4] != MAGIC:
        return {}
    fields = HEADER.unpack_from(data)
    channels, bits, width, height, entries, coding, block_width, block_height = fields[3:11]
    payload_bytes = fields[12]
    if not (1 <= width <= 65536 and 1 <= height <= 65536 and 1 <= bits <= 16):
        return {}
    if not (1 <= block_width <= 8 and 1 <= block_height <= 8):
        return {}
    start = HEADER.size + entries * channels * block_width * block_height
    payload = data[start : min(start + payload_bytes, max(start, len(data) - 4))]
    if (block_width, block_height) != (1, 1) or bits > 8:
        seeds = {
            "blocks": blocks_header(
                bits, channels, (block_width, block_height), width, height, entries
            )
            + payload
        }
        # The label grid is what the entropy codings code: columns x rows labels.
        columns, rows = -(-width // block_width), -(-height // block_height)
        if coding in (1, 2) and bits <= 8 and columns <= 65536 and rows <= 65536:
            kind = "entropy" if coding == 1 else "entropy2"
            seeds[kind] = harness_header(bits, channels, columns, rows, entries) + payload
        return seeds
    header = harness_header(bits, channels, width, height, entries)
    if coding in (1, 2):
        kind = "entropy" if coding == 1 else "entropy2"
        seeds = {kind: header + payload}
        # The same payload under the bound check's mode: a huge image, a short payload.
        huge = bytearray(harness_header(bits, channels, width, 65536, entries))
        huge[0] |= MODE
        seeds[kind + "-huge"] = bytes(huge) + payload
        return seeds
    if coding == 0:
        labels = unpack_labels(payload, width * height, bits)
        runs = bytearray(header)
        runs[0] |= LAYOUT_RUNS
        return {
            "packed": header + payload,
            "roundtrip": header + labels,
            "roundtrip2": header + labels,
            "roundtrip2-runs": bytes(runs) + run_pairs(labels),
        }
    return {}


def run_pairs(labels: bytes) -> bytes:
    """Labels as fuzz_entropy2_roundtrip's layout 1: (label, length code) pairs."""
    pairs = bytearray()
    i = 0
    while i < len(labels):
        j = i
        while j < len(labels) and labels[j] == labels[i] and j - i < 128:
            j += 1
        pairs += bytes((labels[i], j - i - 1))
        i = j
    return bytes(pairs)


def sparse_seeds() -> list[bytes]:
    """fuzz_entropy2_roundtrip's layout 3: flat maps up to its cut, a few labels set."""
    seeds = []
    for bits, width, height in ((1, 512, 512), (4, 4096, 64), (8, 64, 4096), (8, 65536, 4)):
        header = bytearray(harness_header(bits, 1, width, height, 1 << bits))
        header[0] |= LAYOUT_SPARSE
        seeds.append(bytes(header) + b"\x05")
        seeds.append(bytes(header) + b"\x05" + bytes((255, 6, 40, 5, 3, 1, 200, 7, 0, 5)))
    return seeds


def sample_files() -> list[bytes]:
    """Crops of the bundled sample, encoded by vqcodec, packed and entropy-coded."""
    import numpy as np
    from PIL import Image

    import vqcodec

    image = Image.open(ROOT / "vqcodec" / "data" / "astronaut.png")
    rgb = np.asarray(image.convert("RGB"))
    gray = np.asarray(image.convert("L"))
    rgba = np.dstack([rgb, gray[..., None] // 2 + 128])  # some alpha variation
    codings = ["entropy", "packed"]
    if "entropy2" in vqcodec.container.CODING_NAMES:
        codings.append("entropy2")
    files = []
    crops = [(0, 0, 24, 16), (40, 60, 64, 48), (64, 64, 128, 128)]
    for y, x, h, w in crops:
        for pixels, all_bits in ((gray, (1, 2, 3, 4, 5, 6, 7, 8)), (rgb, (2, 4, 8)), (rgba, (3,))):
            for bits in all_bits:
                rows = min(h, MAX_DECISIONS // (4 + bits) // w)  # whole under the cut
                crop = np.ascontiguousarray(pixels[y : y + rows, x : x + w])
                for coding in codings:
                    files.append(vqcodec.encode(crop, bits, coding=coding))
        for block, bits in (((2, 2), 8), ((4, 4), 12), ((3, 2), 5), ((8, 8), 16)):
            files.append(
                vqcodec.encode(np.ascontiguousarray(rgb[y : y + h, x : x + w]), bits, block=block)
            )
    flat = np.full((64, 64), 7, np.uint8)  # long runs: many pending 0xFF bytes, carries
    files += [vqcodec.encode(flat, 1, coding="entropy"), vqcodec.encode(flat, 8)]
    if "entropy2" in codings:  # the run mode, whole rows and spans
        files += [vqcodec.encode(flat, 1, coding="entropy2")]
        stripes = np.repeat(np.arange(64, dtype=np.uint8) // 9, 64).reshape(64, 64)
        files += [vqcodec.encode(np.ascontiguousarray(stripes.T), 3, coding="entropy2")]
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    parser.add_argument("--sample", action="store_true", help="also encode the bundled sample")
    args = parser.parse_intermixed_args()
    inputs = [path.read_bytes() for path in args.files]
    if args.sample:
        inputs += sample_files()
    counts = {}
    for name in ("entropy", "packed", "roundtrip", "entropy2", "roundtrip2", "blocks"):
        (args.out / name).mkdir(parents=True, exist_ok=True)
    # Issue 14's crafted file: 9459 x 9459 gray, a 4-byte payload FF FF FF FF.
    crafted = bytearray(harness_header(1, 1, 9459, 9459, 2)) + b"\xff" * 4
    crafted[0] |= MODE
    extra = {"entropy": [bytes(crafted)], "roundtrip2": sparse_seeds()}
    for data in inputs:
        for kind, seed in seeds_of(data).items():
            extra.setdefault(kind.split("-")[0], []).append(seed)
    for kind, seeds in extra.items():
        for seed in seeds:
            name = hashlib.sha1(seed).hexdigest()[:16]
            (args.out / kind / name).write_bytes(seed)
            counts[kind] = counts.get(kind, 0) + 1
    print(", ".join(f"{n} {kind} seeds" for kind, n in sorted(counts.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
