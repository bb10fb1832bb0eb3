"""Every input in tests/corpus/ (fuzzer finds, and any crash ever found) keeps the decoder's
contract: a valid image or a FormatError naming the field or section at fault."""

import pathlib

import pytest

from vqcodec import container

from .hostile import decode_or_format_error

CORPUS = sorted((pathlib.Path(__file__).resolve().parent / "corpus").glob("*.vq"))


def test_the_corpus_is_there():
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.name)
def test_corpus_input(path):
    data = path.read_bytes()
    decode_or_format_error(data)
    decode_or_format_error(container.seal(data))
