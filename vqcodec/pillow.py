"""A Pillow plugin for .vq files: ``import vqcodec.pillow``, then use Pillow as usual.

>>> import vqcodec.pillow
>>> from PIL import Image
>>> with Image.open("photo.vq") as image:  # found by its magic, whatever the name
...     image.thumbnail((64, 64))
>>> image.save("small.vq", bits=6)

Importing this module registers the format (``register()``, idempotent, does the same), the
way Pillow's own plugins register when imported. ``import vqcodec`` does not: adding a format
to Pillow's process-wide registry changes what every ``Image.open`` in the program does, so
it is a step a user takes on purpose. Pillow has no entry-point discovery for plugins, so a
process started with ``spawn`` (multiprocessing on Windows and macOS) must import this module
too; importing it at the top of the module that holds the worker's code is enough.

**Open.** ``Image.open`` reads the 36-byte header only and runs the header's checks (spec §6,
1-5): size, mode and ``info`` (``bits``, ``coding``, ``codebook_entries``) are known before any
pixel is decoded. ``load()`` reads the rest and decodes it with vqcodec's decoder; ``verify()``
checks the file's length and CRCs (spec §6, 6-7) without decoding the labels. The decoder
reads the file itself (a ``pulls_fd`` decoder, as Pillow's QOI plugin has), so
``ImageFile.Parser``'s incremental feeding does not apply to .vq files.

**Mode.** The image opens in the file's own mode: ``L`` for gray, ``RGB``, ``RGBA`` (alpha as
stored, straight), so that ``np.asarray(Image.open(f))`` equals ``vqcodec.read(f)``, and so
that ``thumbnail()``, ``resize()`` and filters work as users expect: Pillow resamples a ``P``
image with nearest-neighbour only, whatever filter is asked for. A .vq file is a palette
image all the same, and the palette form is there on request, through Pillow's own ``draft``
(the call JPEG uses to load in another mode): ``image.draft("P", None)`` before loading gives
mode ``P`` with the codebook as the palette (an ``RGBA`` palette for RGBA files) and the labels
as pixel values, exact and a quarter of the memory of RGB; saved as PNG or GIF it stays a palette
image.

**Errors.** A file without the magic is not ours: Pillow tries its other formats and raises
``PIL.UnidentifiedImageError`` as for any unknown file. A file with the magic is a .vq file,
so anything else wrong with it raises ``vqcodec.FormatError`` (a ``ValueError``) naming the
field or section, from ``Image.open`` for the header and from ``load()`` for the body
(truncation, trailing data, CRC, labels), rather than Pillow's catch-all "cannot identify"
or "image file is truncated". Code that skips broken images of any format should catch
``(OSError, ValueError)``; several of Pillow's own plugins raise ``ValueError`` too.
``ImageFile.LOAD_TRUNCATED_IMAGES`` has no effect: a truncated .vq file has no usable part.

**Pixel limit.** Through Pillow, Pillow's limit applies, as for every format:
``Image.open`` warns (``DecompressionBombWarning``) above ``Image.MAX_IMAGE_PIXELS`` and
raises ``DecompressionBombError`` above twice that, from the header, before decoding; setting
it to None lifts it. vqcodec's own limit (``vqcodec.container.MAX_IMAGE_PIXELS``, the same
default) is for vqcodec's functions and is not applied a second time here. Saving keeps
``vqcodec.encode``'s rule (``max_pixels=`` changes it): no file a default reader would refuse.

**Save.** ``image.save("x.vq")`` or ``image.save(stream, format="VQ")`` takes every keyword
argument of ``vqcodec.encode`` (``bits``, ``coding``, ``seed``, ``max_pixels``, ...), with
encode's defaults; other keywords are ignored, as Pillow's plugins ignore options they do
not know. The image is taken as ``vqcodec.encode`` takes a PIL image (spec §10: ``1``,
``P``, ``LA``, 16-bit gray, ... converted); what it refuses raises ``vqcodec.VQError``, and
a bad option ``ValueError`` or ``TypeError``. ``Image.save`` opens and truncates the
destination before the image is encoded; ``vqcodec.write`` is the atomic way to replace a
file.

The format is registered as ``VQ``, extension ``.vq``, MIME type ``image/x-vq`` (not
registered with IANA; the ``x-`` form is what unregistered image types such as
``image/x-portable-pixmap`` use).
"""

from __future__ import annotations

import inspect
from typing import IO, Any

import numpy as np
from PIL import Image, ImageFile, ImagePalette

from . import _io, container
from .codec import check_structure, decode, decode_parts, encode, find_codebook
from .errors import FormatError

FORMAT = "VQ"
EXTENSION = ".vq"
MIME_TYPE = "image/x-vq"

# The header's channels field (spec §2) -> the Pillow mode an image opens in.
MODES = {1: "L", 3: "RGB", 4: "RGBA"}

# Every keyword of vqcodec.encode is a save option with encode's own default, so that a
# keyword encode gains is a save option too, and the two never disagree on a default.
_SAVE_OPTIONS = tuple(
    name
    for name, parameter in inspect.signature(encode).parameters.items()
    if parameter.default is not inspect.Parameter.empty
)


def _accept(prefix: bytes) -> bool:
    """Whether a file's first bytes are the .vq magic (spec §2); Pillow passes 16."""
    return prefix[: len(container.MAGIC)] == container.MAGIC


def _tile(size: tuple[int, int]) -> Any:
    # The whole file is one tile, decoded from offset 0 (the decoder reads the header again
    # so that its checks and the body's run together). Pillow 11 made tiles a named tuple;
    # Pillow 10 takes a plain one.
    fields = ("vq", (0, 0, *size), 0, ())
    tile_type = getattr(ImageFile, "_Tile", None)
    return tile_type(*fields) if tile_type is not None else fields


class VqImageFile(ImageFile.ImageFile):
    """A .vq file opened by ``Image.open``: header read and checked, pixels not yet decoded."""

    format = FORMAT
    format_description = "vqcodec vector-quantized image"

    def _open(self) -> None:
        assert self.fp is not None
        head = self.fp.read(container.HEADER_BYTES)
        if not _accept(head):
            raise SyntaxError("not a .vq file")  # Pillow's "not my format": try the others
        # No pixel limit of vqcodec's own: Image.open applies Pillow's to self.size next.
        header = container.parse_header(memoryview(head), max_pixels=0)
        self._size = (header.width, header.height)
        self._mode = MODES[header.channels]
        self._channels = header.channels
        self._codebook_bytes = header.codebook_bytes
        self._blocks = header.block != (1, 1)
        # A palette needs the colours in the file: not blocks, not a shared codebook's hash.
        self._no_palette = self._blocks or header.external
        self.info.update(
            bits=header.bits,
            coding=header.coding,
            codebook_entries=header.codebook_entries,
        )
        if self._blocks:
            self.info["block"] = header.block
        self.tile = [_tile(self._size)]

    def draft(
        self, mode: str | None, size: tuple[int, int] | None
    ) -> tuple[str, tuple[int, int, int, int]] | None:
        """Before loading, ``draft("P", None)`` switches to the palette form (see the module
        docstring); any other request changes nothing. Size requests are ignored: labels
        cannot be decoded at a reduced scale, so ``thumbnail`` resamples the full image.
        A block file has no palette form (its codewords are blocks, not colours), nor has a
        file whose codebook is a shared codebook file (it holds the book's hash)."""
        if mode != "P" or self.mode == "P" or not self.tile or self._no_palette:
            return None
        assert self.fp is not None
        self.fp.seek(container.HEADER_BYTES)
        codebook = self.fp.read(self._codebook_bytes)
        if len(codebook) < self._codebook_bytes:
            raise FormatError(
                "file",
                f"truncated: the codebook needs {self._codebook_bytes} bytes, "
                f"{len(codebook)} follow the header",
            )
        entries = np.frombuffer(codebook, np.uint8).reshape(-1, self._channels)
        if self._channels == 1:  # a gray codebook is a palette of grays
            entries = np.repeat(entries, 3, axis=1)
        palette_mode = "RGBA" if self._channels == 4 else "RGB"
        self.palette = ImagePalette.ImagePalette(palette_mode, entries.tobytes())
        self.palette.dirty = 1  # Image.load hands a dirty palette to the decoded image
        self._mode = "P"
        return self.mode, (0, 0, *self.size)

    def verify(self) -> None:
        """Check the whole file's structure, length and CRCs (spec §6, 1-7); labels are not
        decoded. As with every Pillow format, reopen the file to use the image afterwards."""
        assert self.fp is not None
        self.fp.seek(0)
        parsed = container.parse(_io.read_container(self.fp, max_pixels=0), max_pixels=0)
        check_structure(parsed)
        super().verify()


class VqDecoder(ImageFile.PyDecoder):
    """vqcodec's decoder behind Pillow's decoder interface: it reads the whole file itself."""

    _pulls_fd = True

    def decode(self, buffer: Any) -> tuple[int, int]:
        assert self.fd is not None
        # max_pixels=0: Image.open has already applied Pillow's limit to this size.
        data = _io.read_container(self.fd, max_pixels=0)
        if self.mode == "P":
            labels = decode_parts(data, max_pixels=0)[2]
            self.set_as_raw(labels.tobytes(), "P")
        else:
            # A file that names a shared codebook (spec §12) finds it beside itself.
            book = find_codebook(data, getattr(self.fd, "name", None))
            self.set_as_raw(decode(data, max_pixels=0, codebook=book).tobytes(), self.mode)
        return -1, 0  # the whole image, no error


def _save(image: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    options = {name: image.encoderinfo[name] for name in _SAVE_OPTIONS if name in image.encoderinfo}
    # Encoded in full before the first byte is written: a refused image or option leaves
    # nothing behind (Image.save removes a destination file it created).
    _io.write_file(fp, encode(image, **options))


def register() -> None:
    """Teach Pillow the VQ format: open (by magic), save, ``.vq``, ``image/x-vq``.

    Idempotent; importing ``vqcodec.pillow`` has already called it.
    """
    # Older Pillows append to Image.ID on every register_open call, and every entry there
    # is one more format Image.open tries.
    if FORMAT not in Image.ID:
        Image.register_open(FORMAT, VqImageFile, _accept)
    Image.register_decoder("vq", VqDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME_TYPE)


register()
