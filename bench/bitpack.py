"""Pack and unpack labels at every width 1..8: vqcodec's numpy packer against bitarray.

    python bench/bitpack.py [--pixels 1000000] [--repeat 5]

bitarray is timed the way its API suits fixed-width codes: ``bitarray.encode`` with a table of
``bits``-bit codes and ``decode`` back (the prefix-code API; every fixed-width code is one),
both producing the exact bytes of the packed coding. Median of --repeat runs per cell.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np

from vqcodec import bitpack


def median_seconds(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from bitarray import bitarray, decodetree
    from bitarray.util import int2ba

    rng = np.random.default_rng(0)
    print(f"{args.pixels:,} labels, median of {args.repeat} runs, milliseconds")
    print("bits  numpy pack  bitarray pack  ratio  numpy unpack  bitarray unpack  ratio")
    for bits in range(1, 9):
        labels = rng.integers(0, 1 << bits, args.pixels, dtype=np.uint8)
        codes = {value: int2ba(value, bits, endian="big") for value in range(1 << bits)}
        tree = decodetree(codes)
        packed = bitpack.pack(labels, bits)

        def ba_pack(labels=labels, codes=codes):
            stream = bitarray(endian="big")
            stream.encode(codes, labels.tolist())
            return stream.tobytes()

        def ba_unpack(packed=packed, tree=tree, bits=bits):
            stream = bitarray(endian="big")
            stream.frombytes(packed)
            del stream[args.pixels * bits :]  # drop the padding bits
            return np.fromiter(stream.decode(tree), np.uint8, count=args.pixels)

        assert ba_pack() == packed
        assert (ba_unpack() == labels).all()
        np_pack = median_seconds(partial(bitpack.pack, labels, bits), args.repeat)
        np_unpack = median_seconds(partial(bitpack.unpack, packed, args.pixels, bits), args.repeat)
        ba_p = median_seconds(ba_pack, args.repeat)
        ba_u = median_seconds(ba_unpack, args.repeat)
        print(
            f"{bits:>4}  {np_pack * 1e3:>10.2f}  {ba_p * 1e3:>13.2f}  {ba_p / np_pack:>5.0f}x"
            f"  {np_unpack * 1e3:>12.2f}  {ba_u * 1e3:>15.2f}  {ba_u / np_unpack:>5.0f}x"
        )


if __name__ == "__main__":
    main()
