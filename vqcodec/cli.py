"""The ``vqcodec`` command: encode, decode, info, compare.

Exit codes: 0 success; 1 bad input (an unreadable image, a file that breaks the spec, an
output that exists); 2 usage (argparse); 128 + N when stopped by signal N (SIGINT, SIGTERM,
SIGHUP), after removing any half-written output; 141 (128 + SIGPIPE) when the reader of
stdout went away (``vqcodec info *.vq | head -1``), quietly, as Unix tools do. Errors are one
line on stderr each, ``vqcodec: error: FILE: what is wrong``; a traceback means a bug. Given
several inputs, each is done in turn: a bad one is reported and the others still run, and the
exit code is 1.

Outputs never destroy anything by accident: an existing file is replaced only with
``--force`` (and atomically, see ``_atomic``), an input of the same run never, and a device
or FIFO is written through rather than replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from . import __version__, codec, compare, container
from ._atomic import atomic_output, check_destination, write_bytes
from .errors import VQError
from .images import open_image, to_array
from .quantize import check_dither

EXIT_OK, EXIT_ERROR = 0, 1  # usage errors exit 2, from argparse
# A closed pipe on stdout: the status a shell shows for a tool killed by SIGPIPE.
EXIT_PIPE = 128 + getattr(signal, "SIGPIPE", 13)


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
    args = parser.parse_args(argv)
    if len(args.inputs) > 1 and getattr(args, "output", None):
        parser.error(
            "-o/--output takes a single input; without it each output is named after its input"
        )
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


def _each(inputs: list[str], work: Callable[[str], None]) -> int:
    """Run ``work`` on every input; a bad input is reported and the rest still run."""
    status = EXIT_OK
    for path in inputs:
        try:
            work(path)
        except BrokenPipeError:
            raise  # stdout is gone: no use going on with the others (see main)
        except USER_ERRORS as error:
            _report(error, path)
            status = EXIT_ERROR
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
        prog="vqcodec", description="K-means vector-quantization image codec (.vq files)."
    )
    parser.add_argument("--version", action="version", version=f"vqcodec {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    encode = commands.add_parser("encode", help="image (any format Pillow reads) -> .vq")
    encode.add_argument("inputs", nargs="+", metavar="INPUT", help="input image(s)")
    encode.add_argument(
        "-o", "--output", help="output .vq file (default: INPUT with .vq); " + _OUTPUT_RULES
    )
    encode.add_argument(
        "-b", "--bits", type=_bits, default=4, help="bits per label, 1..8 (default 4)"
    )
    encode.add_argument(
        "-c",
        "--coding",
        choices=sorted(container.CODING_NAMES),
        default="entropy",
        help="label coding: entropy (context-coded, the default; packed where it would not be "
        "smaller) or packed (exactly BITS bits a label: a size known in advance)",
    )
    encode.add_argument(
        "--seed", type=_seed, default=0, help="k-means seed for colour, >= 0 (default 0)"
    )
    encode.add_argument(
        "--dither",
        nargs="?",
        type=_dither,
        const=1.0,
        default=0.0,
        metavar="STRENGTH",
        help="Floyd-Steinberg error diffusion, no banding on gradients (noisier, larger "
        "files); STRENGTH 0..1, 1 if left out (put the flag after the inputs, or write "
        "--dither=STRENGTH)",
    )
    encode.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT")
    encode.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    _add_max_pixels(encode, "an input image larger than that is refused before it is decoded")
    encode.set_defaults(run=_encode)

    decode = commands.add_parser("decode", help=".vq -> image (format from OUTPUT's extension)")
    decode.add_argument("inputs", nargs="+", metavar="INPUT", help="input .vq file(s)")
    decode.add_argument(
        "-o",
        "--output",
        help="output image (default: INPUT's name with .vq.png, so that photo.vq never "
        "becomes the photo.png it came from); " + _OUTPUT_RULES,
    )
    decode.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT")
    _add_max_pixels(decode, "a larger file is refused from its header")
    decode.set_defaults(run=_decode)

    info = commands.add_parser("info", help="header fields and section sizes of a .vq file")
    info.add_argument("inputs", nargs="+", metavar="FILE", help=".vq file(s)")
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
        help="write a rate-distortion figure: PSNR against bits per pixel for vq packed and "
        "entropy, JPEG, WebP, PNG8 and (if installed) libimagequant",
    )
    compare_cmd.add_argument("--json", action="store_true", help="print JSON instead of a table")
    compare_cmd.add_argument(
        "--seed", type=_seed, default=0, help="k-means seed for colour, >= 0 (default 0)"
    )
    compare_cmd.add_argument("-f", "--force", action="store_true", help="overwrite FIG")
    compare_cmd.set_defaults(run=_compare)
    return parser


_OUTPUT_RULES = (
    "an existing file is replaced only with --force, atomically; a symlink is followed (its "
    "target is replaced, the link kept); a device or FIFO such as /dev/null is written "
    "through; an input of the same run is never overwritten, even with --force"
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
    return _each(args.inputs, lambda source: _encode_one(args, source))


def _encode_one(args: argparse.Namespace, source: str) -> None:
    output = args.output or _with_suffix(source, ".vq")
    _check_output(output, args.inputs, args.force)
    image = open_image(source, args.max_pixels)  # the limit is checked before decoding
    data = codec.encode(
        image,
        args.bits,
        coding=args.coding,
        seed=args.seed,
        max_pixels=args.max_pixels,
        dither=args.dither,
    )
    write_bytes(output, data, overwrite=args.force)
    if not args.quiet:
        # Our own fresh bytes: the header is enough, no need to CRC the whole file again.
        meta = codec.header_fields(container.parse_header(memoryview(data), args.max_pixels))
        coding = meta["coding"]
        if coding != args.coding:
            coding += f" ({args.coding} would not be smaller)"
        _say(
            f"{source} -> {output}: {meta['width']}x{meta['height']}, "
            f"{meta['channels']} channel(s), bits {meta['bits']}, "
            f"{meta['codebook_entries']} codewords, {coding}, {len(data)} bytes "
            f"({meta['bits_per_pixel']:.3f} bits/pixel)"
        )


def _decode(args: argparse.Namespace) -> int:
    return _each(args.inputs, lambda source: _decode_one(args, source))


def _decode_one(args: argparse.Namespace, source: str) -> None:
    output = args.output or _with_suffix(source, ".vq.png")
    _check_output(output, args.inputs, args.force)
    extension = os.path.splitext(output)[1].lower()
    fmt = Image.registered_extensions().get(extension)
    if fmt is None or fmt not in Image.SAVE:
        raise UserError(output, f"cannot tell an image format Pillow writes from {extension!r}")
    image = codec.read(source, max_pixels=args.max_pixels)
    try:
        with atomic_output(output, overwrite=args.force) as handle:
            Image.fromarray(image).save(handle, fmt)
    except (OSError, ValueError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the system's error, naming OUTPUT (see _atomic)
        raise UserError(output, f"cannot write it as {fmt}: {error}") from None


def _info(args: argparse.Namespace) -> int:
    """One file: its fields (or a JSON object). Several: each under its name (or a JSON
    array of objects with a "file" key, holding the files that could be read)."""
    several = len(args.inputs) > 1
    found: list[dict[str, Any]] = []

    def show(path: str) -> None:
        meta = codec.info(path, max_pixels=args.max_pixels)
        if args.json:
            found.append({"file": path, **meta} if several else meta)
            return
        if several:
            _say(f"{path}:")
        width = max(map(len, meta))
        for key, value in meta.items():
            shown = f"{value:.4f}" if isinstance(value, float) else value
            print(f"{'  ' if several else ''}{key:<{width}}  {shown}")

    status = _each(args.inputs, show)
    if args.json and (found or several):
        print(json.dumps(found if several else found[0], indent=2))
    return status


def _compare(args: argparse.Namespace) -> int:
    for option, figure in (("--plot", args.plot), ("--rd", args.rd)):
        if figure:
            _check_output(figure, [args.input] if args.input else [], args.force)
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise UserError(f"{option} needs matplotlib: pip install 'vqcodec[plot]'") from None
    if args.input is None:
        name, source = f"{compare.SAMPLE_NAME} (bundled sample)", compare.sample_image()
    else:
        name, source = args.input, open_image(args.input)
    image = to_array(source)
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
        curves = compare.rate_distortion(image, summary["rows"])
        compare.plot_rate_distortion(args.rd, curves, os.path.basename(name))
        if not args.json:
            _say(f"rate-distortion figure written to {args.rd}")
    return EXIT_OK


_TABLE_HEAD = (
    "bits  codewords   vq bytes   rate  tutorial  entropy bytes  entropy b/px   PSNR dB"
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
        f"{row['bits']:>4}  {row['codebook_entries']:>9}  {row['vq_bytes']:>9,}  "
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


def _with_suffix(path: str, suffix: str) -> str:
    return os.path.splitext(path)[0] + suffix


def _check_output(output: str, inputs: Sequence[str], force: bool) -> None:
    """Refuse, before any work, an output that would overwrite an input of this run (even
    with --force: ``encode a.png a.vq -f`` must not lose a.vq to a.png's encoding), or an
    existing file without --force. The write itself refuses again, atomically (_atomic)."""
    for source in inputs:
        if _same_file(source, output):
            raise UserError(output, "is an input of this run; refusing to write over it")
    try:
        check_destination(output, overwrite=force)
    except FileExistsError:
        raise UserError(output, "exists; use --force to overwrite") from None


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
