"""Reading and writing .vq files through paths, binary files, pipes and devices.

A reader reads the 36-byte header first, then exactly the size the header announces and one
byte more to tell a file that runs on; it never reads "to the end". So ``/dev/zero`` or a
6 GB sparse file costs 36 bytes before its ``FormatError``, and the memory a stream costs is
bounded both by its header (which the pixel limit bounds, spec §6) and by what actually
arrived. A path is opened and closed here; a file object the caller passes is read from
where it stands and left open.

An image file from a stream (``vqcodec encode -``) is bounded the same way, as far as
Pillow lets it be: see ``read_image_stream``.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
import warnings
from collections.abc import Callable, Iterator
from typing import Protocol

from PIL import Image

from . import container
from .errors import FormatError, VQError

# A stream of unknown size (a pipe, a socket, a BytesIO) is read in steps that start at
# _CHUNK and then double: a header that announces 90 MB over a stream that holds 100 bytes
# costs about _CHUNK, not 90 MB.
_CHUNK = 1 << 20

Data = bytes | bytearray | memoryview


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


PathLike = str | os.PathLike[str]
Source = Data | PathLike | Readable
Destination = PathLike | Writable


def byte_view(data: Data) -> memoryview:
    """``data`` as a flat view of bytes; a strided view (``view[::2]``) is copied once."""
    view = memoryview(data)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B")


def is_path(target: object) -> bool:
    return isinstance(target, (str, os.PathLike))


def read_container(source: Source, max_pixels: int | None = None) -> memoryview:
    """The bytes of one .vq file, read bounded by its header.

    ``source`` is the file's bytes, a path, or a binary file object. Raises ``FormatError``
    for a header that breaks the spec (the pixel limit included) and for a file that ends
    before the size its header announces or runs on after it; the rest of the checks are
    ``container.parse``'s.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return byte_view(source)
    with _opened(source) as stream:
        head = _read_stream(stream, container.HEADER_BYTES)
        header = container.parse_header(memoryview(head), max_pixels)
        expected = header.file_bytes
        left = _bytes_left(stream)
        if left is not None:  # a regular file: its size settles the length before any read
            _check_length(container.HEADER_BYTES + left, expected)
        data = _read_stream(stream, expected, head, trusted=left is not None)
        _check_length(len(data), expected)
        if _read_some(stream, 1):
            raise FormatError(
                "file",
                f"trailing data: more bytes follow the trailer (the header announces {expected} "
                "bytes)",
            )
    return memoryview(data)


# What an image file may hold per pixel its header announces: more than any format Pillow
# reads stores for the modes vqcodec takes (16-bit RGBA raw is 8 bytes, ASCII PPM about 18),
# plus room for metadata (EXIF, ICC profiles, XMP, embedded previews).
_IMAGE_BYTES_PER_PIXEL = 32
_IMAGE_METADATA_BYTES = 64 << 20
# Pillow's errors for data it cannot read as an image (as images.open_image lists them).
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


def read_image_stream(
    stream: Readable, max_pixels: int | None = None, *, given: str = "on stdin"
) -> bytes:
    """All the bytes of one image file from a stream that cannot seek (stdin) or that is
    read once from its start (a URL, ``given="by a URL"``, as the refusal below says), for
    Pillow, which needs to seek.

    Bounded by the image's own header, as ``read_container`` is: Pillow reads the size from
    the first MiB (or, for a TIFF whose directory comes later, from the first 64 MiB), an
    image over the pixel limit (``max_pixels`` as for ``vqcodec.encode``) is refused right
    there, and a stream that runs past 32 bytes a pixel plus 64 MiB is cut off. A stream
    with no header Pillow can read in its first 64 MiB is refused. Raises ``VQError``.
    """
    data = _read_stream(stream, _CHUNK)
    size = _image_size(data)
    if size is None and len(data) == _CHUNK:  # more to come, and the header may be further on
        data = _read_stream(stream, _IMAGE_METADATA_BYTES, data)
        size = _image_size(data)
    if size is None:
        if _read_some(stream, 1):
            raise VQError(
                f"no image header Pillow can read in the first {len(data):,} bytes (give the "
                f"image as a file rather than {given} if it is one)"
            )
        return bytes(data)  # the whole stream: open_image says what is wrong with it
    from .images import check_pixels  # images imports this module

    width, height = size
    check_pixels(width, height, max_pixels)
    most = width * height * _IMAGE_BYTES_PER_PIXEL + _IMAGE_METADATA_BYTES
    data = _read_stream(stream, most + 1, data)
    if len(data) > most:
        raise VQError(
            f"more than {most:,} bytes, more than any file of the {width}x{height} image its "
            "header announces"
        )
    return bytes(data)


def _image_size(head: bytes | bytearray) -> tuple[int, int] | None:
    """(width, height) as Pillow reads them from the start of an image file, or None."""
    from .images import _without_pillow_limit  # images imports this module

    try:
        # Pillow's own limit off, as open_image has it: it would hide a large image's size.
        # Its warnings too: a part of a file is often "corrupt" to it (a TIFF's cut EXIF).
        with warnings.catch_warnings(), _without_pillow_limit():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(head)) as image:
                return image.size
    except _PILLOW_ERRORS:
        return None


def write_file(target: Writable, data: bytes) -> None:
    """Write all of ``data`` to the caller's binary file object (left open)."""
    view = memoryview(data)
    while view:
        written = target.write(view)
        if not isinstance(written, int):  # many file-like objects return None: all taken
            return
        if written <= 0:
            raise OSError(f"{type(target).__name__}.write took no bytes")
        view = view[written:]


def check_destination(target: object) -> None:
    if not is_path(target) and not callable(getattr(target, "write", None)):
        raise TypeError(
            f"the destination must be a path or a binary file object, not {type(target).__name__}"
        )


@contextlib.contextmanager
def _opened(source: object) -> Iterator[Readable]:
    if is_path(source):
        # Unbuffered: the reads below ask for exact sizes; a FIFO or a device opens as a file.
        with open(source, "rb", buffering=0) as stream:  # type: ignore[arg-type]
            yield stream
    elif callable(getattr(source, "read", None)):
        yield source  # type: ignore[misc]
    else:
        # An int would be a file descriptor to open(): refused, so that info(3) cannot read
        # (and close) whatever descriptor 3 happens to be.
        raise TypeError(
            f"the source must be bytes, a path or a binary file object, not {type(source).__name__}"
        )


def _bytes_left(stream: Readable) -> int | None:
    """Bytes from the stream's position to its end if it is a regular file, else None."""
    try:
        status = os.fstat(stream.fileno())  # type: ignore[attr-defined]
        if not stat.S_ISREG(status.st_mode):
            return None
        return status.st_size - stream.tell()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # no descriptor (BytesIO, sockets' files)
        return None


def _check_length(length: int, expected: int) -> None:
    """Spec §6, check 6, in container.parse's words."""
    if length < expected:
        raise FormatError("file", f"truncated: {length} bytes, the header announces {expected}")
    if length > expected:
        raise FormatError(
            "file",
            f"trailing data: {length - expected} bytes after the trailer "
            f"(the header announces {expected} bytes)",
        )


def _read_stream(
    stream: Readable, size: int, head: bytes = b"", *, trusted: bool = False
) -> bytes | bytearray:
    """``head`` followed by the stream's next bytes, ``size`` in all, or fewer at its end.

    ``trusted``: the stream is a file known to hold them, so one buffer of ``size`` is
    filled in place. Otherwise the reads grow with what arrives (see ``_CHUNK``).
    """
    if trusted and hasattr(stream, "readinto"):
        buffer = bytearray(size)
        buffer[: len(head)] = head
        got = len(head)
        with memoryview(buffer) as view:
            while got < size:
                count = stream.readinto(view[got:])
                if not count:
                    break
                got += count
        del buffer[got:]
        return buffer
    chunks, got = [head], len(head)
    while got < size:
        chunk = _read_some(stream, min(size - got, max(_CHUNK, got)))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_some(stream: Readable, size: int) -> bytes:
    chunk = stream.read(size)
    if chunk is None:
        raise BlockingIOError("the stream is non-blocking and has no data ready")
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"the file must be opened in binary mode ('rb'); its read() gave {type(chunk).__name__}"
        )
    return chunk


RegionReader = tuple[container.Header, bytes, Callable[[int, int], bytes]]


@contextlib.contextmanager
def region_reader(source: Source, max_pixels: int | None = None) -> Iterator[RegionReader | None]:
    """For a .vq file at a path (a regular file) that is tiled, or packed (labels at fixed
    bit offsets): its checked header, its codebook section, and ``fetch(offset, size)``,
    which reads payload bytes when asked (positional reads: threads may share it). The
    file's length is checked against its header; nothing else is read. None for anything
    else (an untiled entropy-coded file, a stream, bytes): read it whole.
    """
    # Only a regular file: a FIFO or a pipe cannot be read twice, and whole reads take it.
    try:
        regular = is_path(source) and stat.S_ISREG(os.stat(source).st_mode)  # type: ignore[arg-type]
    except OSError:
        regular = False  # the whole read reports it
    if not regular or not hasattr(os, "pread"):
        yield None
        return
    with open(source, "rb", buffering=0) as stream:  # type: ignore[arg-type]
        head = _read_stream(stream, container.HEADER_BYTES)
        header = container.parse_header(memoryview(head), max_pixels)
        left = _bytes_left(stream)
        random_access = header.tiled or header.label_coding == container.LabelCoding.PACKED
        if not random_access or left is None:
            yield None
            return
        _check_length(container.HEADER_BYTES + left, header.file_bytes)
        section = bytes(_read_stream(stream, header.codebook_bytes, trusted=True))
        base, descriptor = container.HEADER_BYTES + header.codebook_bytes, stream.fileno()

        def fetch(offset: int, size: int) -> bytes:
            data = os.pread(descriptor, size, base + offset)
            if len(data) != size:  # the file shrank since its length was checked
                raise FormatError("file", "truncated while it was read")
            return data

        if len(section) != header.codebook_bytes:
            raise FormatError("file", "truncated while it was read")
        yield header, section, fetch
