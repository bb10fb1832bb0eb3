"""Coverage-guided fuzzing of the decoder (atheris): any bytes give an image or a FormatError.

    pip install '.[fuzz]'
    mkdir -p /tmp/vq-corpus && cp spec/examples/*.vq spec/examples/invalid/*.vq /tmp/vq-corpus
    python fuzz/fuzz_decode.py /tmp/vq-corpus -max_total_time=3600      # a long local run
    python fuzz/fuzz_decode.py /tmp/vq-corpus -runs=30000               # CI's short run

Any other exception, or a decoded image that disagrees with the header, is a crash: libFuzzer
writes the input to ./crash-*; add it to tests/corpus/ (see its README) so the tests keep it.
"""

import pathlib
import sys

import atheris

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from tests.hostile import decode_or_format_error
    from vqcodec import container


def check(data: bytes) -> None:
    decode_or_format_error(data)


def test_one_input(data: bytes) -> None:
    check(data)
    # Random bytes almost never carry valid CRC-32s; repaired, they reach every later check.
    check(container.seal(data))


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
