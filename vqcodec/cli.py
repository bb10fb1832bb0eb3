"""The ``vqcodec`` command: encode, decode, info, compare.

Exit codes: 0 success; 1 bad input (an unreadable image, a file that breaks the spec, an
output that exists); 2 usage (argparse); 98 when ``--skip-if-larger`` wrote nothing and 99
when no bits meet ``--target-psnr`` or ``--max-bytes`` (pngquant's codes for its
``--skip-if-larger`` and ``--quality``); 128 + N when stopped by signal N (SIGINT, SIGTERM,
SIGHUP), after removing any half-written output; 141 (128 + SIGPIPE) when the reader of
stdout went away (``vqcodec info *.vq | head -1``), quietly, as Unix tools do. Errors are one
line on stderr each, ``vqcodec: error: FILE: what is wrong``; a traceback means a bug. Given
several inputs, each is done in turn: a bad one is reported and the others still run, and the
exit code is the most serious outcome's: 1, then 99, then 98.

Pipes: the input ``-`` is stdin, and its result goes to stdout unless ``-o`` says otherwise
(as pngquant does); ``-o -`` is stdout. Binary data never goes to a terminal, and while
stdout carries it, every message goes to stderr.

Outputs never destroy anything by accident: an existing file is replaced only with
``--force`` (and atomically, see ``_atomic``), an input of the same run never, and a device
or FIFO is written through rather than replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from . import __version__, _io, books, codec, compare, container
from ._atomic import check_destination, write_bytes
from .errors import VQError
from .images import open_image, output_format, save_pixels, to_array
from .quantize import check_dither

EXIT_OK, EXIT_ERROR = 0, 1  # usage errors exit 2, from argparse
EXIT_SKIPPED = 98  # --skip-if-larger wrote nothing (pngquant's TOO_LARGE_FILE)
EXIT_TARGET = 99  # no bits meet --target-psnr / --max-bytes (pngquant's TOO_LOW_QUALITY)
# Several inputs: the exit code is the most serious outcome's, the last in this order.
_SEVERITY = (EXIT_OK, EXIT_SKIPPED, EXIT_TARGET, EXIT_ERROR)
# A closed pipe on stdout: the status a shell shows for a tool killed by SIGPIPE.
EXIT_PIPE = 128 + getattr(signal, "SIGPIPE", 13)

STDIO = "-"  # as an input, stdin; as an output, stdout
STDIN_NAME, STDOUT_NAME = "<stdin>", "<stdout>"  # how messages name them


class UserError(Exception):
    """A problem the user can fix, with the file it concerns; printed as one line, exit 1."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class Stopped(BaseException):
    """Raised by the signal handler so that cleanup (``finally``, atomic outputs) runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# Errors that are the input's or the environment's fault, not vqcodec's: one line, exit 1.
USER_ERRORS = (UserError, VQError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    words = sys.argv[1:] if argv is None else list(argv)
    detached = _detached_dither_value(words)
    if detached is not None:
        parser.error(f"a strength is written --dither={detached} (--dither alone: full)")
    args = parser.parse_args(_bare_dither(words))
    problem = _settle_names(args)
    if problem:
        parser.error(problem)
    with _signals_stop_cleanly():
        try:
            status = int(args.run(args) or EXIT_OK)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            return status
        except BrokenPipeError:
            _silence_stdout()
            return EXIT_PIPE
        except USER_ERRORS as error:
            _report(error, getattr(args, "input", None))
            return EXIT_ERROR
        except (KeyboardInterrupt, Stopped) as stop:
            signum = stop.signum if isinstance(stop, Stopped) else signal.SIGINT
            print(f"vqcodec: stopped by {signal.Signals(signum).name}", file=sys.stderr)
            return 128 + signum


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's flush at exit does not report the
    closed pipe once more (the recipe in the docs of Python's signal module)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # stdout is no real file (tests, embedding)
        pass


@contextlib.contextmanager
def _signals_stop_cleanly():
    """SIGTERM and SIGHUP raise ``Stopped``, as SIGINT raises KeyboardInterrupt, so that a
    half-written output is removed; SIGXFSZ is ignored, so that a file-size limit makes the
    write fail with EFBIG (reported, cleaned up) instead of killing the process."""
    if sys.platform == "win32":  # no SIGHUP or SIGXFSZ there
        yield
        return
    try:
        previous = {
            signum: signal.signal(signum, _raise_stopped)
            for signum in (signal.SIGTERM, signal.SIGHUP)
        }
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


def _each(inputs: list[str], work: Callable[[str], int | None]) -> int:
    """Run ``work`` on every input; a bad input is reported and the rest still run. The
    status is the most serious outcome's (``_SEVERITY``)."""
    status = EXIT_OK
    for path in inputs:
        try:
            outcome = work(path) or EXIT_OK
        except BrokenPipeError:
            raise  # stdout is gone: no use going on with the others (see main)
        except codec.TargetError as error:
            _report(error, _shown(path))
            outcome = EXIT_TARGET
        except USER_ERRORS as error:
            _report(error, _shown(path))
            outcome = EXIT_ERROR
        status = max(status, outcome, key=_SEVERITY.index)
    return status


def _report(error: BaseException, path: str | None = None) -> None:
    _say(f"vqcodec: error: {_describe(error, path)}", sys.stderr)


def _say(text: str, stream: Any = None) -> None:
    """Print a line that may hold file names, whatever they hold (see ``_printable``)."""
    stream = sys.stdout if stream is None else stream
    print(_printable(text, stream), file=stream)


def _printable(text: str, stream: Any) -> str:
    """``text`` in a form ``stream`` can encode. A file name's bytes that are not valid in
    the file system's encoding arrive as surrogate escapes (PEP 383) and are shown as
    ``\\xff``; other characters the stream cannot encode (``PYTHONIOENCODING=ascii``) as
    backslash escapes. Printing them raw would fail after the work was done."""
    system = sys.getfilesystemencoding()
    with contextlib.suppress(UnicodeError):  # a lone surrogate that is no escaped byte
        text = text.encode(system, "surrogateescape").decode(system, "backslashreplace")
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vqcodec",
        description="K-means vector-quantization image codec (.vq files).",
        epilog=_EXIT_HELP,
    )
    parser.add_argument("--version", action="version", version=f"vqcodec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # allow_abbrev=False: "--dith x.png" must not be taken for --dither with a value.
    encode = commands.add_parser(
        "encode",
        help="image (any format Pillow reads) -> .vq",
        epilog=_EXIT_HELP,
        allow_abbrev=False,
    )
    encode.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="input image(s); - reads one from stdin. " + _BATCH_HELP.format(files="images"),
    )
    _add_outputs(encode, "INPUT's name with .vq for its extension", ".vq")
    encode.add_argument(
        "-b",
        "--bits",
        type=_label_bits,
        help="bits per label, 1..8 (default 4), or 1..16 with --block; with --target-psnr or "
        "--max-bytes, the most the search may choose (default 8, or 10 with --block)",
    )
    encode.add_argument(
        "--codebook",
        metavar="BOOK",
        help="label blocks with the shared codebook BOOK (a .vqb from vqcodec train): the "
        ".vq names it instead of holding it, and takes its block and bits",
    )
    encode.add_argument(
        "--tile",
        type=_tile,
        metavar="N",
        help="code the labels in tiles of N x N labels (a power of two, 64..4096; 256 is a "
        "good size): every core codes and decodes them, and decode --crop reads only the "
        "tiles it needs",
    )
    encode.add_argument(
        "--block",
        type=_block,
        default=(1, 1),
        metavar="WxH",
        help="quantize blocks of W x H pixels (each 1..8, e.g. 4x4) as vectors: one label a "
        "block, so rates below 1 bit a pixel (default 1x1: pixels)",
    )
    target = encode.add_mutually_exclusive_group()
    target.add_argument(
        "--target-psnr",
        type=_decibels,
        metavar="DB",
        help="choose the fewest bits whose decoded image reaches DB dB of PSNR against the "
        "input (inf: lossless); the bits chosen are said on stderr; exit 99 if none can",
    )
    target.add_argument(
        "--max-bytes",
        type=_positive,
        metavar="N",
        help="choose the most bits whose .vq fits in N bytes; the bits chosen are said on "
        "stderr; exit 99 if none can",
    )
    encode.add_argument(
        "--skip-if-larger",
        action="store_true",
        help="write nothing when the .vq would not be smaller than the input file (said on "
        "stderr; exit 98 when any input was skipped), as pngquant's option does",
    )
    encode.add_argument(
        "-c",
        "--coding",
        choices=sorted(container.CODING_NAMES),
        default="entropy2",
        help="label coding: entropy2 (context-coded, the default; packed where it would not "
        "be smaller), entropy (the first context coding: about as small, slower to decode) or "
        "packed (exactly BITS bits a label: a size known in advance)",
    )
    encode.add_argument(
        "--seed", type=_seed, default=0, help="k-means seed for colour, >= 0 (default 0)"
    )
    encode.add_argument(
        "--dither",
        type=_dither,
        default=0.0,
        metavar="[=STRENGTH]",
        help="Floyd-Steinberg error diffusion, no banding on gradients (noisier, larger "
        "files): --dither alone is full strength, --dither=STRENGTH (0..1) less",
    )
    encode.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT")
    encode.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (exit codes tell)"
    )
    _add_max_pixels(encode, "an input image larger than that is refused before it is decoded")
    _add_batch_options(encode)
    encode.set_defaults(run=_encode)

    decode = commands.add_parser(
        "decode", help=".vq -> image (format from OUTPUT's extension)", epilog=_EXIT_HELP
    )
    decode.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="input .vq file(s); - reads one from stdin. " + _BATCH_HELP.format(files=".vq files"),
    )
    _add_outputs(
        decode,
        "INPUT's name with .vq.png for its extension (.vq.EXT with --format), so that photo.vq "
        "never becomes the photo.png it came from",
        ".vq.png, or .vq.EXT with --format",
    )
    decode.add_argument(
        "--format",
        type=_image_format,
        metavar="NAME",
        help="output format: png, webp, jpeg, gif, tiff, ... (default: OUTPUT's extension; "
        "needed to write to stdout). PNG, GIF and TIFF are palette images, WebP is lossless",
    )
    decode.add_argument(
        "--quality",
        type=_quality,
        metavar="Q",
        help="0..100, for a lossy output: JPEG (default 90), or WebP, which it makes lossy",
    )
    decode.add_argument(
        "--crop",
        type=_crop,
        metavar="X,Y,W,H",
        help="decode only the W x H pixels at X,Y (of a tiled or packed file: only the tiles "
        "or labels they touch)",
    )
    decode.add_argument(
        "--codebook",
        metavar="BOOK",
        help="the shared codebook (.vqb) of files that name one (default: the .vqb beside "
        "each file whose SHA-256 they name)",
    )
    decode.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT")
    decode.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors (exit codes tell)"
    )
    _add_max_pixels(decode, "a larger file is refused from its header")
    _add_batch_options(decode)
    decode.set_defaults(run=_decode)

    train = commands.add_parser(
        "train",
        help="images -> a shared codebook of blocks (.vqb) for encode --codebook",
        epilog=_EXIT_HELP,
        allow_abbrev=False,
    )
    train.add_argument(
        "inputs",
        nargs="+",
        metavar="SRC",
        help="training images: files, folders (walked for images), quoted globs or fsspec "
        "URLs (s3://bucket/photos/, as for encode); all gray, all RGB or all RGBA",
    )
    train.add_argument("-o", "--output", required=True, metavar="BOOK", help="the .vqb to write")
    train.add_argument(
        "--block", type=_block, default=(4, 4), metavar="WxH", help="block shape (default 4x4)"
    )
    train.add_argument(
        "-b",
        "--bits",
        type=_label_bits,
        default=8,
        help=f"bits a label: at most 2**BITS codewords, 1..{container.MAX_BLOCK_BITS} (default 8)",
    )
    train.add_argument("--seed", type=_seed, default=0, help="training seed, >= 0 (default 0)")
    train.add_argument("-f", "--force", action="store_true", help="overwrite BOOK")
    train.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    _add_max_pixels(train, "a larger image is refused before it is decoded")
    train.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        metavar="N",
        help="read and cut the images in N worker processes (0: every core; default: this "
        "process alone); the training itself runs here, and the book is the same",
    )
    train.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="read and cut the images on the workers of the Dask cluster at ADDRESS "
        "(tcp://host:8786; pip install 'vqcodec[dask]'), which must see them (a shared file "
        "system, or URLs); only each image's sample comes back, the training runs here, and "
        "the book is the same",
    )
    train.set_defaults(run=_train)

    info = commands.add_parser("info", help="header fields and section sizes of a .vq file")
    info.add_argument("inputs", nargs="+", metavar="FILE", help=".vq file(s); - reads stdin")
    info.add_argument("--json", action="store_true", help="print JSON")
    _add_max_pixels(info, "a larger file is refused from its header")
    info.set_defaults(run=_info)

    compare_cmd = commands.add_parser(
        "compare", help="sizes and PSNR at several bits beside PNG, PNG8, WebP and JPEG"
    )
    compare_cmd.add_argument("input", nargs="?", help="input image (default: the bundled sample)")
    compare_cmd.set_defaults(inputs=[])
    compare_cmd.add_argument(
        "-b", "--bits", type=_bits_list, default=[1, 2, 4, 8], help="list such as 1,2,4,8 or 1-8"
    )
    compare_cmd.add_argument("--plot", metavar="FIG", help="write a figure of the decoded images")
    compare_cmd.add_argument(
        "--rd",
        metavar="FIG",
        help="write a rate-distortion figure: PSNR against bits per pixel for vq packed, "
        "entropy and blocks, JPEG, WebP, PNG8 and (if installed) libimagequant",
    )
    compare_cmd.add_argument(
        "--codebook",
        metavar="BOOK",
        help="with --rd, also the shared codebook BOOK (.vqb, from vqcodec train) as a point",
    )
    compare_cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    compare_cmd.add_argument(
        "--seed", type=_seed, default=0, help="k-means seed for colour, >= 0 (default 0)"
    )
    compare_cmd.add_argument("-f", "--force", action="store_true", help="overwrite FIG")
    compare_cmd.set_defaults(run=_compare)
    return parser


_EXIT_HELP = (
    "Exit status: 0 success; 1 a bad input or output (one line each on stderr: vqcodec: error: "
    "FILE: what is wrong); 2 usage; 98 --skip-if-larger skipped an input; 99 no bits meet "
    "--target-psnr or --max-bytes; 128+N stopped by signal N (141: a closed pipe). With "
    "several inputs, the most serious: 1, then 99, then 98."
)

_OUTPUT_RULES = (
    "An existing file is replaced only with --force, atomically; a symlink is followed (its "
    "target is replaced, the link kept); a device or FIFO such as /dev/null is written "
    "through; an input of the same run, or an output it already wrote, is never "
    "overwritten, even with --force"
)


def _add_outputs(command: argparse.ArgumentParser, default: str, suffix: str) -> None:
    command.add_argument(
        "-o",
        "--output",
        help=f"output file, or - for stdout (default: {default}; stdout for the input -); "
        "a folder (DIR/, or an existing folder) works as --out-dir. " + _OUTPUT_RULES,
    )
    command.add_argument(
        "--out-dir",
        metavar="DIR",
        help="write each output into DIR under its default name; DIR is created if missing "
        "(not its parents, so that a typo does not grow a tree of folders)",
    )
    command.add_argument(
        "--suffix",
        help=f"what replaces each input's extension in its default output name (default "
        f"{suffix}); one that starts with - is written --suffix=-fs8.png",
    )


_BATCH_HELP = (
    "A folder (walked for {files}; hidden names and symlinked folders skipped) or a quoted "
    "glob ('photos/**/*.jpg') makes a batch: outputs mirror the tree in --out-dir, -j "
    "processes, a progress line on a terminal, a manifest DIR/vqcodec-manifest.jsonl (JSON "
    "lines) and a summary on stderr. Inputs and DIR may be fsspec URLs (s3://bucket/photos/, "
    "'gcs://b/**/*.png', file:///abs/dir; pip install 'vqcodec[dask]' and s3fs, gcsfs, ...): "
    "a URL makes a batch; with DIR a URL off this machine (s3://, ...), the manifest is "
    "written whole into DIR when the batch starts, every 30 s or so, when it stops and at "
    "its end"
)


def _add_batch_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        metavar="N",
        help="worker processes (default, or 0: every core; 1: this process alone); makes a "
        "batch of the inputs, whatever they are",
    )
    command.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the batch on the Dask cluster whose scheduler is at ADDRESS "
        "(tcp://host:8786; pip install 'vqcodec[dask]'), with the same manifest and progress; "
        "every worker must see the inputs and the output folder (a shared file system, or "
        "URLs such as s3://, which each worker opens itself); makes a batch",
    )
    command.add_argument(
        "--resume",
        action="store_true",
        help="go on with a stopped batch: what its manifest (in the output folder, a URL's "
        "too) lists as done, whose output is still there at its recorded size, is not done "
        "again; an output not yet recorded is kept if it holds the bytes this run makes; "
        "makes a batch",
    )


def _add_max_pixels(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument(
        "--max-pixels",
        type=_max_pixels,
        metavar="N",
        help=f"the pixel limit: {what} (default {container.MAX_IMAGE_PIXELS}, Pillow's; "
        "0 for none)",
    )


# --- commands ----------------------------------------------------------------------------


def _encode(args: argparse.Namespace) -> int:
    args.book = _load_book(args.codebook)
    if args.batch:
        from . import batch  # process pools and all: only for a batch

        return batch.run(args, ".vq")
    _make_out_dir(args.out_dir)
    written: dict[str, str] = {}
    return _each(args.inputs, lambda source: _encode_one(args, source, written))


def _load_book(path: str | None) -> books.Codebook | None:
    if path is None:
        return None
    try:
        return books.Codebook.load(path)
    except (VQError, OSError) as error:
        raise UserError(
            path, str(error.strerror if isinstance(error, OSError) else error)
        ) from None


def _train(args: argparse.Namespace) -> int:
    from . import batch  # the folder walk and glob of batches

    problems: list[str] = []
    sources = [
        path
        for argument in args.inputs
        for path, _, _ in batch._expand(argument, batch.image_extensions(), "\0", problems)
    ]
    if problems:
        raise UserError(problems[0].partition(": ")[0], problems[0].partition(": ")[2])
    if args.output == STDIO:
        raise UserError(STDOUT_NAME, "a codebook is written to a file: give -o BOOK.vqb")
    _check_output(args.output, sources, args.force, {})  # never over a training image
    shown = _shown(args.output)
    reading = [""]

    def read(index: int) -> None:
        reading[0] = sources[index]

    try:
        with batch.training_loader(
            sources, args.block, args.max_pixels, jobs=args.jobs, scheduler=args.scheduler
        ) as loader:
            book = books.train_with(
                loader, sources, args.bits, args.block, seed=args.seed, on_image=read
            )
    except (VQError, OSError) as error:  # an image that cannot be read: named
        raise UserError(
            _shown(reading[0]), str(getattr(error, "strerror", None) or error)
        ) from None
    except ValueError as error:  # images of mixed kinds
        raise UserError(shown, str(error)) from None
    book.save(args.output, overwrite=args.force)
    if not args.quiet:
        _say(
            f"{shown}: {len(sources)} images -> {len(book.vectors)} codewords of "
            f"{args.block[0]}x{args.block[1]} blocks, {book.channels} channel(s), "
            f"bits {book.bits}, {len(book.data):,} bytes, sha256 {book.digest.hex()[:16]}",
            sys.stderr,
        )
    return EXIT_OK


def _encode_one(args: argparse.Namespace, source: str, written: dict[str, str]) -> int:
    output = _output_name(args, source, ".vq")
    _check_output(output, args.inputs, args.force, written)
    if source == STDIO:
        raw = _io.read_image_stream(sys.stdin.buffer, args.max_pixels)
        image, input_bytes = open_image(io.BytesIO(raw), args.max_pixels), len(raw)
    else:
        image, input_bytes = open_image(source, args.max_pixels), os.stat(source).st_size
    pixels = to_array(image, args.max_pixels)
    del image  # its pixels live on in ``pixels``: free Pillow's copy before the encoder's work
    try:
        data = codec.encode(
            pixels,
            args.bits,
            coding=args.coding,
            seed=args.seed,
            max_pixels=args.max_pixels,
            target_psnr=args.target_psnr,
            max_bytes=args.max_bytes,
            dither=args.dither,
            block=args.block,
            codebook=args.book,
            tile=args.tile,
        )
    except ValueError as error:
        if args.book is None:
            raise
        raise UserError(_shown(source), str(error)) from None  # an image the book cannot take
    if args.skip_if_larger and len(data) >= input_bytes:
        if not args.quiet:
            _say(
                f"vqcodec: {_shown(source)}: skipped: the .vq would take {len(data):,} bytes, "
                f"the input {input_bytes:,} (--skip-if-larger)",
                sys.stderr,
            )
        return EXIT_SKIPPED
    _write(output, data, args.force)
    written[_output_key(output)] = source
    if args.quiet:
        return EXIT_OK
    # Our own fresh bytes: the header is enough, no need to CRC the whole file again.
    meta = codec.header_fields(container.parse_header(memoryview(data), args.max_pixels))
    if args.target_psnr is not None or args.max_bytes is not None:
        choice = _choice(args, data, pixels, meta["bits"])
        _say(f"vqcodec: {_shown(source)}: {choice}", sys.stderr)
    coding = meta["coding"]
    if coding != args.coding:
        why = "takes labels of at most 8 bits" if meta["bits"] > 8 else "would not be smaller"
        coding += f" ({args.coding} {why})"
    _say(
        f"{_shown(source)} -> {_shown(output, STDOUT_NAME)}: {meta['width']}x{meta['height']}, "
        f"{meta['channels']} channel(s), bits {meta['bits']}, "
        f"{meta['codebook_entries']} codewords, {coding}, {len(data)} bytes "
        f"({meta['bits_per_pixel']:.3f} bits/pixel)",
        sys.stderr if output == STDIO else sys.stdout,
    )
    return EXIT_OK


def _choice(args: argparse.Namespace, data: bytes, pixels: np.ndarray, bits: int) -> str:
    """What --target-psnr or --max-bytes chose, and what it gave."""
    if args.max_bytes is not None:
        return f"bits {bits}, the most that fit in {args.max_bytes:,} bytes ({len(data):,} bytes)"
    if args.target_psnr == math.inf:
        return f"bits {bits}, the fewest that are lossless"
    reached = codec.decoded_psnr(pixels, *codec.decode_parts(data, max_pixels=0))
    shown = "lossless" if reached == math.inf else f"{reached:.2f} dB"
    return f"bits {bits}, the fewest that reach {args.target_psnr:g} dB ({shown})"


def _decode(args: argparse.Namespace) -> int:
    args.book = _load_book(args.codebook)
    if args.batch:
        from . import batch  # process pools and all: only for a batch

        return batch.run(args, _decoded_suffix(args))
    _make_out_dir(args.out_dir)
    written: dict[str, str] = {}
    return _each(args.inputs, lambda source: _decode_one(args, source, written))


def _decoded_suffix(args: argparse.Namespace) -> str:
    return ".vq" + (_extension_of(args.format) if args.format else ".png")


def _decode_one(args: argparse.Namespace, source: str, written: dict[str, str]) -> None:
    output = _output_name(args, source, _decoded_suffix(args))
    _check_output(output, args.inputs, args.force, written)
    try:
        fmt = args.format or output_format(output)
    except VQError as error:
        raise UserError(output, f"{error}; or give --format NAME") from None
    options = {"format": fmt, "quality": args.quality, "overwrite": args.force}
    # stdout gets the whole file or nothing, as a path does (the savers write it atomically)
    destination = io.BytesIO() if output == STDIO else output
    if args.crop is not None:
        pixels = _cropped(args, source)
        save: Any = lambda: save_pixels(destination, pixels, **options)  # noqa: E731
    else:
        data = _io.read_container(sys.stdin.buffer if source == STDIO else source, args.max_pixels)
        book = args.book or codec.find_codebook(data, source)
        parts = codec.decode_parts(data, max_pixels=args.max_pixels, codebook=book)
        save = lambda: codec.save_parts(destination, *parts, **options)  # noqa: E731
    try:
        save()
    except VQError as error:  # what this format cannot hold (alpha in a JPEG, ...)
        raise UserError(_shown(output, STDOUT_NAME), str(error)) from None
    if isinstance(destination, io.BytesIO):
        _write(STDIO, destination.getvalue(), args.force)
    written[_output_key(output)] = source


def _cropped(args: argparse.Namespace, source: str) -> np.ndarray:
    """The --crop region of one file, (h, w, C): of a tiled or packed file at a path, from
    the tiles or labels it touches alone."""
    try:
        if source == STDIO:
            data = _io.read_container(sys.stdin.buffer, args.max_pixels)
            pixels = codec.decode(
                data, max_pixels=args.max_pixels, codebook=args.book, region=args.crop
            )
        else:
            pixels = codec.read(
                source, max_pixels=args.max_pixels, codebook=args.book, region=args.crop
            )
    except VQError:
        raise
    except ValueError as error:  # a crop outside the image
        raise UserError(_shown(source), str(error)) from None
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _info(args: argparse.Namespace) -> int:
    """One file: its fields (or a JSON object). Several: each under its name (or a JSON
    array of objects with a "file" key, holding the files that could be read)."""
    several = len(args.inputs) > 1
    found: list[dict[str, Any]] = []

    def show(path: str) -> None:
        meta = codec.info(sys.stdin.buffer if path == STDIO else path, max_pixels=args.max_pixels)
        if args.json:
            found.append({"file": path, **meta} if several else meta)
            return
        if several:
            _say(f"{_shown(path)}:")
        width = max(map(len, meta))
        for key, value in meta.items():
            shown = f"{value:.4f}" if isinstance(value, float) else value
            print(f"{'  ' if several else ''}{key:<{width}}  {shown}")

    status = _each(args.inputs, show)
    if args.json and (found or several):
        print(json.dumps(found if several else found[0], indent=2))
    return status


def _compare(args: argparse.Namespace) -> int:
    if args.codebook is not None and not args.rd:
        raise UserError(args.codebook, "--codebook adds a point to the --rd figure: give --rd FIG")
    book = _load_book(args.codebook)
    for option, figure in (("--plot", args.plot), ("--rd", args.rd)):
        if figure:
            _check_output(figure, [args.input] if args.input else [], args.force)
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise UserError(
                    figure, f"{option} needs matplotlib: pip install 'vqcodec[plot]'"
                ) from None
    if args.input is None:
        name, source = f"{compare.SAMPLE_NAME} (bundled sample)", compare.sample_image()
    else:
        name, source = args.input, open_image(args.input)
    image = to_array(source)
    if book is not None and book.channels != image.shape[2]:
        raise UserError(
            args.codebook,
            f"its blocks have {book.channels} channel(s), the image {image.shape[2]}",
        )
    decoded: list[np.ndarray] = []

    def on_row(row: dict[str, Any], picture: np.ndarray) -> None:
        decoded.append(picture)
        if not args.json:
            print(_table_row(row), flush=True)

    if not args.json:
        height, width, channels = image.shape
        raw = height * width * channels
        _say(f"{name}: {width}x{height}, {channels} channel(s), raw {raw:,} bytes")
        print(_TABLE_HEAD)
    summary = compare.compare(image, args.bits, seed=args.seed, on_row=on_row)
    if args.json:
        print(json.dumps({"input": name, **summary}, indent=2))
    else:
        print(f"PNG of the original (lossless): {summary['png_bytes']:,} bytes")
    if args.plot:
        compare.plot(args.plot, image, decoded, summary["rows"])
        if not args.json:
            _say(f"figure written to {args.plot}")
    if args.rd:
        curves = compare.rate_distortion(image, summary["rows"], book)
        compare.plot_rate_distortion(args.rd, curves, os.path.basename(name))
        if not args.json:
            _say(f"rate-distortion figure written to {args.rd}")
    return EXIT_OK


_TABLE_HEAD = (
    "bits  codewords  packed bytes   rate  tutorial  entropy bytes  entropy b/px   PSNR dB"
    "   PNG8 bytes  WebP-LL bytes   JPEG q  JPEG bytes  JPEG PSNR"
)


def _table_row(row: dict[str, Any]) -> str:
    psnr = "inf" if row["psnr"] is None else f"{row['psnr']:.2f}"
    if row["jpeg_bytes"] is None:
        jpeg = f"{'n/a':>8}  {'n/a':>10}  {'n/a':>9}"
    else:
        quality = f"{row['jpeg_quality']}" if row["jpeg_reached"] else f">{row['jpeg_quality']}"
        jpeg_psnr = "inf" if row["jpeg_psnr"] is None else f"{row['jpeg_psnr']:.2f}"
        jpeg = f"{quality:>8}  {row['jpeg_bytes']:>10,}  {jpeg_psnr:>9}"
    return (
        f"{row['bits']:>4}  {row['codebook_entries']:>9}  {row['vq_bytes']:>12,}  "
        f"{row['compression_rate']:>5.1f}%  {row['tutorial_rate']:>7.1f}%  "
        f"{row['entropy_bytes']:>13,}  {row['entropy_bits_per_pixel']:>12.3f}  {psnr:>8}  "
        f"{row['png8_bytes']:>11,}  {row['webp_lossless_bytes']:>13,}  {jpeg}"
    )


# --- helpers -----------------------------------------------------------------------------


def _bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 8:
        raise argparse.ArgumentTypeError(f"bits must be 1..8, not {value}")
    return value


def _label_bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= container.MAX_BLOCK_BITS:
        raise argparse.ArgumentTypeError(
            f"bits must be 1..8 (1..{container.MAX_BLOCK_BITS} with --block), not {value}"
        )
    return value


def _tile(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a tile is a power of two such as 256, not {text!r}")
    try:
        return 1 << codec.check_tile(int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _crop(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or not all(part.strip().isdigit() for part in parts):
        raise argparse.ArgumentTypeError(
            f"a crop is X,Y,W,H in pixels, such as 0,0,256,256, not {text!r}"
        )
    x, y, width, height = (int(part) for part in parts)
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"a crop's width and height must be >= 1: {text!r}")
    return x, y, width, height


def _block(text: str) -> tuple[int, int]:
    width, x, height = text.lower().partition("x")
    side = container.MAX_BLOCK_SIDE
    if not (x and width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"a block is WxH, such as 4x4, not {text!r}")
    if not (1 <= int(width) <= side and 1 <= int(height) <= side):
        raise argparse.ArgumentTypeError(f"block sides must be 1..{side}, not {text}")
    return int(width), int(height)


def _bits_list(text: str) -> list[int]:
    values: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if dash:
            values.extend(range(_bits(low), _bits(high) + 1))
        else:
            values.append(_bits(low))
    if not values:
        raise argparse.ArgumentTypeError("give at least one bits value")
    return sorted(set(values))


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _seed(text: str) -> int:
    value = _whole_number(text)
    if value < 0:  # numpy's generators take no negative seed
        raise argparse.ArgumentTypeError(f"seed must be >= 0, not {value}")
    return value


def _bare_dither(argv: list[str]) -> list[str]:
    """``--dither`` alone means full strength, and a strength needs ``=`` (as pngquant's
    ``--floyd[=S]``): an optional value taken from the next word would eat an input name
    (``--dither photo.png``)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    return ["--dither=1" if word == "--dither" and i < cut else word for i, word in enumerate(argv)]


def _detached_dither_value(argv: list[str]) -> str | None:
    """The number after a bare ``--dither``, if any: meant as its strength, it would be
    taken for an input name (and the image encoded at full strength)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    for i, word in enumerate(argv[: cut - 1]):
        if word == "--dither":
            try:
                float(argv[i + 1])
            except ValueError:
                continue
            return argv[i + 1]
    return None


def _dither(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    try:
        return check_dither(value)  # NaN, negative and above 1 are refused
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _max_pixels(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 for no limit), not {value}")
    return value


def _jobs(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 (0 for every core), not {value}")
    return value


def _positive(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _quality(text: str) -> int:
    value = _whole_number(text)
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"quality must be 0..100, not {value}")
    return value


def _decibels(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:  # NaN included
        raise argparse.ArgumentTypeError(f"must be a PSNR in dB above 0, not {text}")
    return value


def _image_format(text: str) -> str:
    """A Pillow format name from a name or an extension (png, JPEG, jpg, .tif)."""
    try:
        return output_format(None, text)
    except VQError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _extension_of(fmt: str) -> str:
    """The extension a default output name gets for a Pillow format: .NAME if Pillow knows
    it (.png, .jpeg, .webp, .tiff), else the first Pillow lists for the format."""
    extensions = [ext for ext, name in Image.registered_extensions().items() if name == fmt]
    preferred = "." + fmt.lower()
    return preferred if preferred in extensions or not extensions else extensions[0]


def _settle_names(args: argparse.Namespace) -> str | None:
    """Check how inputs and outputs are named, and turn -o DIR/ into --out-dir DIR. Returns
    what is wrong, as a usage error, or None."""
    inputs = args.inputs
    if inputs.count(STDIO) > 1:
        return "- (stdin) can be read only once"
    if args.command == "train" and args.bits > container.max_bits(args.block):
        return f"bits must be 1..{container.max_bits(args.block)} for 1x1 blocks, not {args.bits}"
    if not hasattr(args, "out_dir"):  # info, compare and train name no output folders
        return None
    output = args.output
    if output not in (None, STDIO) and (output.endswith(("/", os.sep)) or os.path.isdir(output)):
        if args.out_dir is not None:
            return "give -o DIR/ or --out-dir DIR, not both"
        args.out_dir, args.output = output, None
    if STDIO in inputs and len(inputs) > 1:
        return "- (stdin) must be the only input"
    if args.output is not None:
        if args.out_dir is not None:
            return "give -o FILE or --out-dir DIR, not both"
        if len(inputs) > 1:
            return "-o FILE takes a single input; for several, -o DIR/ or --out-dir DIR"
        if args.suffix is not None:
            return "--suffix names outputs after their inputs; it has no use with -o FILE"
    elif STDIO in inputs and (args.out_dir is not None or args.suffix is not None):
        return "stdin has no name to put in --out-dir or --suffix: give -o FILE (or -o -)"
    suffix = args.suffix
    if suffix is not None and (not suffix or "/" in suffix or os.sep in suffix):
        return f"--suffix must be a non-empty name ending, with no folder in it, not {suffix!r}"
    if args.command == "encode" and args.codebook is None:  # with a book, bits are its
        most = container.max_bits(args.block)
        if args.bits is not None and args.bits > most:
            return f"bits must be 1..{most} without --block (pixels), not {args.bits}"
    if args.command == "encode":
        if args.dither and args.block != (1, 1):
            return "--dither works on pixels, not on blocks: give --dither or --block"
        if args.codebook is not None and (
            args.target_psnr is not None or args.max_bytes is not None or args.dither
        ):
            return "--codebook fixes the bits: no --target-psnr, --max-bytes or --dither"
    to_stdout = args.output == STDIO or (args.output is None and STDIO in inputs)
    if args.command == "decode" and to_stdout and args.format is None:
        return "writing to stdout needs --format NAME (png, webp, jpeg, ...)"
    cropping = args.command == "decode" and args.crop is not None
    if cropping and any(map(_is_url, inputs)):  # a URL makes a batch: say this first
        return "--crop reads a .vq file on this machine: give its path, not a URL"
    problem = _settle_batch(args)
    if problem is None and cropping and (args.batch or len(inputs) > 1):
        return "--crop decodes one file: give a single .vq file"
    return problem


def _is_url(name: str) -> bool:
    from ._urls import is_url  # imported when first needed: the CLI starts quicker

    return is_url(name)


def _settle_batch(args: argparse.Namespace) -> str | None:
    """Whether the inputs make a batch (``args.batch``): a folder, glob or URL among them, a
    URL for the output, or -j, --scheduler or --resume; then what is wrong, as for
    _settle_names."""
    from ._urls import is_url

    args.batch = args.jobs is not None or args.resume or args.scheduler is not None
    args.batch = args.batch or any(map(is_url, [*args.inputs, args.output, args.out_dir]))
    if not args.batch:
        for path in args.inputs:
            magic = any(character in path for character in "*?[")
            if os.path.isdir(path) or (magic and not os.path.lexists(path)):
                args.batch = True
                break
    if not args.batch:
        return None
    from . import batch

    return batch.usage_problem(args)


def _output_name(args: argparse.Namespace, source: str, added: str) -> str:
    """Where ``source``'s result goes: -o's name (- for stdout), stdout for stdin, else the
    input's name with ``added`` (or --suffix) for its extension, in --out-dir if given."""
    if args.output is not None:
        return args.output
    if source == STDIO:
        return STDIO
    name = os.path.splitext(source)[0] + (added if args.suffix is None else args.suffix)
    if args.out_dir is not None:
        name = os.path.join(args.out_dir, os.path.basename(name))
    return name


def _make_out_dir(folder: str | None) -> None:
    """Create --out-dir (or -o DIR/) if missing; its parent must exist."""
    if folder is None:
        return
    from . import _urls

    if _urls.is_url(folder):
        _urls.make_folder(folder)
        return
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not os.path.isdir(folder):
            raise UserError(folder, "exists and is not a folder") from None
    except OSError as error:
        raise UserError(folder, f"cannot create this folder: {error.strerror}") from None


def _shown(path: str, stdio: str = STDIN_NAME) -> str:
    return stdio if path == STDIO else path


def _output_key(output: str) -> str:
    return os.path.realpath(output)


def _check_output(
    output: str, inputs: Sequence[str], force: bool, written: dict[str, str] | None = None
) -> None:
    """Refuse, before any work, an output that would overwrite an input of this run (even
    with --force: ``encode a.png a.vq -f`` must not lose a.vq to a.png's encoding), one this
    run already wrote (``encode a/x.png b/x.png -o out/``), an existing file without
    --force, or a terminal for binary data. The write itself refuses again, atomically
    (_atomic)."""
    if output == STDIO:
        if sys.stdout.isatty():
            raise UserError(
                STDOUT_NAME,
                "is a terminal; refusing to write binary data to it (redirect it, or give -o)",
            )
        return
    for source in inputs:
        if source != STDIO and _same_file(source, output):
            raise UserError(output, "is an input of this run; refusing to write over it")
    if written and _output_key(output) in written:
        earlier = _shown(written[_output_key(output)])
        raise UserError(output, f"was written from {earlier} in this run; refusing to replace it")
    try:
        check_destination(output, overwrite=force)
    except FileExistsError:
        raise UserError(output, "exists; use --force to overwrite") from None


def _write(output: str, data: bytes, force: bool) -> None:
    if output == STDIO:
        sys.stdout.flush()  # anything printed before goes first
        _io.write_file(sys.stdout.buffer, data)
        sys.stdout.buffer.flush()
    else:
        write_bytes(output, data, overwrite=force)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _describe(error: BaseException, path: str | None) -> str:
    """``FILE: what is wrong``, FILE being the file at fault: the one an OSError or
    UserError names (an output, say), else the input being worked on."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, OSError) and error.filename is not None:
        name = os.fsdecode(error.filename)
        if isinstance(error, FileExistsError):  # created meanwhile, found by the last step
            return f"{name}: exists; use --force to overwrite"
        return f"{name}: {error.strerror or error}"
    text = str(error) or type(error).__name__
    return text if path is None else f"{path}: {text}"


if __name__ == "__main__":
    sys.exit(main())
