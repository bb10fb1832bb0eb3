"""Many files at once: ``vqcodec encode DIR... -o OUTDIR`` (and ``decode``), on every core.

The CLI hands its inputs here when they make a batch: a folder or a quoted glob among them,
or ``-j``/``--resume`` given (``cli._settle_batch``). A batch needs an output folder. Three
steps:

**Plan** (``make_plan``): the inputs become jobs, each an input file and the output it makes,
in a fixed order: the arguments as given, each folder walked depth first with names sorted.

- A folder is walked for the files Pillow reads, by extension (``.vq`` files, for decode).
  Hidden names (``.x``) are skipped, and so are symlinked folders (a loop, or a tree that
  leaves the folder) and the output folder when it lies inside; a symlinked file is read.
- A glob, quoted so that the shell leaves it to us (``'photos/**/*.jpg'``: a million names
  would not fit on a command line), is expanded by Python's ``glob`` (``**`` spans
  folders, ``*`` matches no hidden name) and its matches taken as a folder's files are.
- Outputs mirror the tree: ``photos/2023/a.png``, given as ``photos`` or as
  ``'photos/**/*.png'``, becomes ``OUTDIR/2023/a.vq``; a file named alone becomes
  ``OUTDIR/a.vq``, as without a batch. Subfolders are made as outputs need them.
- Two inputs making one output (``a.jpg`` and ``a.png`` in one folder): the first in that
  order is done and the other reported. A file reached twice for one output (a folder
  named twice) is done once; a file named alone and inside a named folder makes two
  outputs (``OUTDIR/a.vq`` and ``OUTDIR/sub/a.vq``). A glob's matches inside the output
  folder are skipped, as a walk skips it. An output that would be an input of the run, or
  the manifest, is refused.

**Run** (``run_batch``): ``-j N`` worker processes (default: every core the process may
use; ``-j 1`` works in this process). Workers start from a forkserver, not by forking
this process: the fork server imports vqcodec once, single-threaded, and forks each worker
from that clean state, so a worker inherits no thread (numpy's, the executor's own) or
lock that a plain ``fork`` of a threaded process could copy mid-use, and starts in
milliseconds rather than re-importing numpy as ``spawn`` does (where there is no forkserver,
Windows, spawn it is). The C core holds no global state; the bytes of every output are
those of a one-process run, whatever ``-j``.

Stopping: Ctrl-C, SIGTERM or SIGHUP stop the batch at once: this process terminates its
workers (SIGTERM), waits for them, and ends as the CLI does (exit 128 + N). A worker dies
of SIGTERM at once while it computes (nothing of its output exists yet); while it writes,
it removes its temp file first (``_write``), so no output is ever half-written. Workers
ignore the terminal's Ctrl-C themselves, leaving the decision to this process, and end
with it if it is killed outright (``_watch``).

**Record**: the manifest ``OUTDIR/vqcodec-manifest.jsonl``, one JSON object a line and one
line per input (``FIELDS``). Each record is appended as its file finishes, flushed and
fsynced, after the output itself is complete: a batch killed at any moment leaves a
manifest whose lines are all true, plus perhaps a torn last line. At the end the manifest
is rewritten sorted by (input, output), atomically, so that its bytes do not depend on the
order the workers finished in (``seconds`` aside, which are measured).

``--resume`` reads that manifest (a torn last line is cut off) and skips every input it
lists as ``ok`` whose input still has the size recorded and whose output is still a file of
the size recorded, and every input it lists as ``skipped`` whose input has the size
recorded; errors are tried again. An output present but not recorded (the run was stopped
after writing it and before recording it) is kept if it holds exactly the bytes this run
makes, which the determinism of encoding makes a safe test; any other existing file is
still refused without ``--force``. So a batch stopped at random moments and resumed ends
with the same outputs and manifest as one that was never stopped. Resume with the same
command: the options are not recorded, and records of inputs not in this run are kept.
Without ``--resume``, an existing manifest is refused unless ``--force`` starts afresh.

**URLs** (``_urls``): any input, and the output folder, may be an fsspec URL
(``s3://bucket/photos/``, ``'gcs://bucket/**/*.png'``, ``file:///abs/dir``, ``memory://``),
given fsspec (the ``dask`` extra) and its protocol's package (s3fs, gcsfs, ...); a URL
makes a batch. A URL folder or glob plans the jobs a local one does, in the same order and
with the same output names (hidden names and the output folder skipped), except that a URL
glob never enters a symlinked folder. Workers, processes or Dask's, get URLs and open them
themselves, so a cluster needs no shared file system. Outputs are written whole or not at
all, and not over a file without ``--force`` (see ``_urls``). The manifest of an output
folder on this machine's file system (a path, or a ``file://`` URL) is appended to as above.
Elsewhere, where an object store cannot append, the records are kept in this process and
the whole manifest, sorted, is written to OUTDIR/vqcodec-manifest.jsonl when the batch
starts, every half minute or so, when it is stopped and at its end (``Snapshots``);
``--resume`` reads it from there. A batch killed outright loses the records written since
the last of these, never their outputs: ``--resume`` does those files again, finds each one's
exact bytes in place and keeps them, and ends as an uninterrupted run. ``memory://`` lives in
this process: a batch on it runs here whatever ``-j`` says, and ``--scheduler`` refuses it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import glob
import io
import json
import math
import os
import re
import select
import shutil
import signal
import stat
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from PIL import Image

from . import _io, _urls, books, cli, codec
from ._atomic import atomic_output, check_destination, write_bytes
from .errors import VQError
from .images import open_image, output_format, to_array

MANIFEST_NAME = "vqcodec-manifest.jsonl"
# Every record has these keys, in this order. bytes_out, bits, coding and psnr describe the
# .vq (encode) or image (decode) made; for "skipped" (--skip-if-larger) the .vq that was not
# written. psnr: dB against the input, null when lossless (as in `vqcodec compare --json`)
# and for decode. error: the reason, for "error" only. An error record carries no sizes,
# so that it reads the same whether the error came before the work or after it.
FIELDS = (
    "input",
    "output",
    "status",
    "bytes_in",
    "bytes_out",
    "bits",
    "coding",
    "psnr",
    "seconds",
    "error",
)
OK, SKIPPED, ERROR = "ok", "skipped", "error"
_MEASURED = ("bytes_in", "bytes_out", "bits", "coding", "psnr")

_GLOB_MAGIC = re.compile(r"[*?[]")
_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
# Jobs handed to the pool beyond one per worker keep every worker busy between results;
# more would only be more to redo when a worker dies (see _run_in_pool).
_QUEUED_PER_WORKER = 2
DASK_CONNECT_SECONDS = 10  # how long --scheduler waits for its scheduler


@dataclasses.dataclass(frozen=True)
class Job:
    """One input file and the output it makes, both as messages name them."""

    input: str
    output: str


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every job of a batch shares; pickled to each worker."""

    command: str  # "encode" or "decode"
    force: bool = False
    adopt: bool = False  # --resume: an existing output holding our exact bytes is kept
    max_pixels: int | None = None
    encode_options: dict[str, Any] = dataclasses.field(default_factory=dict)  # codec.encode's
    skip_if_larger: bool = False
    format: str | None = None  # decode
    quality: int | None = None  # decode
    codebook: Any = None  # decode: the --codebook given (a vqcodec.Codebook), else looked up


@dataclasses.dataclass
class Plan:
    jobs: list[Job]
    refused: list[dict[str, Any]]  # records of jobs refused while planning (output clashes)
    problems: list[str]  # "PATH: what" of arguments that gave no job (an empty glob, ...)


# An outcome: the record, the exit status it means (cli's codes), and a traceback if a bug.
Outcome = tuple[dict[str, Any], int, str | None]
Work = Callable[[Job, Settings], Outcome]


# --- the CLI's side --------------------------------------------------------------------------


def usage_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the CLI's batch (cli._settle_batch found one), as a usage error."""
    what = "a batch (a folder, glob or URL input, -j or --resume)"
    if cli.STDIO in args.inputs:
        return f"- (stdin) is one stream, not files: {what} takes files"
    if args.out_dir is None:
        return f"{what} writes into a folder: give --out-dir DIR or -o DIR/"
    return None


def run(args: argparse.Namespace, added: str) -> int:
    """Run the CLI's batch; ``added`` is what replaces each input's extension (.vq, or
    .vq.png for decode) unless --suffix says. Returns the exit status."""
    jobs = args.jobs
    in_memory = [name for name in (*args.inputs, args.out_dir) if _urls.in_process(name)]
    if in_memory:  # memory:// is this process's alone: no worker would see it
        if args.scheduler is not None:
            raise cli.UserError(in_memory[0], "is in this process's memory: no Dask worker sees it")
        jobs = 1
    cli._make_out_dir(args.out_dir)
    settings = Settings(
        command=args.command,
        force=args.force,
        # On a cluster a job may run twice (a worker lost after it wrote its output and
        # before it reported): the second run finds the exact bytes and keeps them.
        adopt=args.resume or args.scheduler is not None,
        max_pixels=args.max_pixels,
        encode_options=(
            {
                "bits": args.bits,
                "coding": args.coding,
                "seed": args.seed,
                "target_psnr": args.target_psnr,
                "max_bytes": args.max_bytes,
                "dither": args.dither,
                "block": args.block,
                "codebook": args.book,
                "tile": args.tile,
                "threads": 1,  # the batch's worker processes already use every core
            }
            if args.command == "encode"
            else {}
        ),
        skip_if_larger=getattr(args, "skip_if_larger", False),
        format=getattr(args, "format", None),
        quality=getattr(args, "quality", None),
        codebook=args.book if args.command == "decode" else None,
    )
    extensions = {".vq"} if args.command == "decode" else image_extensions()
    plan = make_plan(
        args.inputs, args.out_dir, added if args.suffix is None else args.suffix, extensions
    )
    return run_batch(plan, settings, args.out_dir, jobs=jobs, resume=args.resume,
                     quiet=args.quiet, scheduler=args.scheduler)  # fmt: skip


def default_jobs() -> int:
    """The cores this process may use (its affinity mask, where the system has one)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def image_extensions() -> set[str]:
    """Extensions of the formats Pillow opens (lower case, with the dot), .vq aside: what a
    folder is walked for by encode."""
    Image.init()
    return {
        extension
        for extension, name in Image.registered_extensions().items()
        if name in Image.OPEN and extension != ".vq"
    }


# --- plan ------------------------------------------------------------------------------------


def make_plan(inputs: Sequence[str], out_dir: str, added: str, extensions: set[str]) -> Plan:
    """The jobs for ``inputs`` writing into ``out_dir`` (see the module's docstring)."""
    real_out = _key(out_dir)
    manifest_key = _urls.join(real_out, MANIFEST_NAME)
    problems: list[str] = []
    found: list[tuple[str, str, str]] = []  # (input, its path relative to the output folder, key)
    for argument in inputs:
        found.extend(_expand(argument, extensions, real_out, problems))
    input_keys = {key for _, _, key in found}
    jobs: list[Job] = []
    refused: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    makers: dict[str, str] = {}  # output key -> the input that makes it
    for path, relative, key in found:
        folder, name = os.path.split(relative)
        output_relative = os.path.join(folder, os.path.splitext(name)[0] + added)
        output = _urls.join(out_dir, output_relative)
        output_key = _urls.join(real_out, output_relative)
        if (key, output_key) in seen:  # the same file named twice: done once
            continue
        seen.add((key, output_key))
        if output_key == manifest_key:
            problem = "is the manifest of this batch; refusing to write over it"
        elif output_key in input_keys:
            problem = "is an input of this run; refusing to write over it"
        elif output_key in makers:
            earlier = makers[output_key]
            problem = f"is the output of {earlier} too, the first named; not replacing it"
        else:
            makers[output_key] = path
            jobs.append(Job(path, output))
            continue
        record = _record(Job(path, output))
        record.update(status=ERROR, seconds=0.0, error=f"{output}: {problem}")
        refused.append(record)
    return Plan(jobs, refused, problems)


def _has_magic(path: str) -> bool:
    return _GLOB_MAGIC.search(path) is not None


def _key(location: str) -> str:
    """What tells files apart: a path's real path, a URL's (``_urls.key``)."""
    return _urls.key(location) if _urls.is_url(location) else os.path.realpath(location)


def _expand(
    argument: str, extensions: set[str], real_out: str, problems: list[str]
) -> Iterator[tuple[str, str, str]]:
    """(input, relative output path before its extension changes, identity key) for one
    argument. The key is the input's real path, for telling inputs and outputs apart."""
    if _urls.is_url(argument):
        wanted = lambda name: _wanted(name, extensions)  # noqa: E731
        yield from _urls.expand(argument, wanted, real_out, problems)
    elif os.path.isdir(argument):  # a symlink named as an argument is followed, as find -H does
        real = os.path.realpath(argument)
        for path, relative in _walk(argument, "", extensions, real_out, problems):
            yield path, relative, os.path.join(real, relative)
    elif not os.path.lexists(argument) and _has_magic(argument):
        base = argument
        while _has_magic(base):
            base = os.path.dirname(base)
        real = os.path.realpath(base or os.curdir)
        matches = sorted(glob.glob(argument, recursive=True))
        if not matches:
            problems.append(f"{argument}: no file matches this pattern")
        for match in matches:
            relative = os.path.relpath(match, base or os.curdir)
            if relative == os.curdir:  # the base itself ('photos/**' matches photos/)
                relative = ""
            if _inside(os.path.realpath(match), real_out):
                continue  # this batch's outputs (or an earlier one's), as a walk skips them
            if os.path.isdir(match):
                for path, inner in _walk(match, relative, extensions, real_out, problems):
                    yield path, inner, os.path.join(real, inner)
            elif _wanted(match, extensions) and os.path.isfile(match):
                yield match, relative, os.path.join(real, relative)
    else:  # a file named alone goes to OUTDIR/NAME (a missing one is reported by its job)
        yield argument, os.path.basename(argument), os.path.realpath(argument)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _wanted(name: str, extensions: set[str]) -> bool:
    return os.path.splitext(name)[1].lower() in extensions


def _walk(
    folder: str, prefix: str, extensions: set[str], real_out: str, problems: list[str]
) -> Iterator[tuple[str, str]]:
    """(path, path relative to ``folder`` under ``prefix``) of the files to take: depth first,
    each folder's files before its subfolders, names sorted. A stack, not recursion: a deep
    tree must not hit Python's recursion limit."""
    stack = [(folder, prefix)]
    while stack:
        current, relative = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            problems.append(f"{current}: cannot list this folder: {error.strerror or error}")
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            inner = os.path.join(relative, entry.name) if relative else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if os.path.realpath(entry.path) != real_out:
                        subfolders.append((entry.path, inner))
                elif _wanted(entry.name, extensions) and entry.is_file():
                    yield entry.path, inner  # a FIFO or device named x.png is not taken
            except OSError:  # vanished meanwhile
                continue
        stack.extend(reversed(subfolders))


# --- run -------------------------------------------------------------------------------------


def run_batch(
    plan: Plan,
    settings: Settings,
    out_dir: str,
    *,
    jobs: int | None = None,
    resume: bool = False,
    quiet: bool = False,
    stream: TextIO | None = None,
    work: Work | None = None,
    scheduler: str | None = None,
) -> int:
    """Do ``plan``'s jobs with ``jobs`` processes (None or 0: ``default_jobs()``), or on the
    Dask cluster whose scheduler is at ``scheduler``, recording each in the manifest,
    reporting errors, progress and a summary on ``stream`` (stderr). Returns the exit
    status: the most serious outcome's, as cli._each has it."""
    stream = sys.stderr if stream is None else stream
    work = _work if work is None else work
    workers = jobs or default_jobs()
    manifest = _urls.join(out_dir, MANIFEST_NAME)
    # A URL on this machine's file system (file://) has its manifest appended as a path's is.
    local = _urls.local_path(manifest) if _urls.is_url(manifest) else manifest
    started = time.monotonic()
    if local is None:
        earlier = _read_remote_manifest(manifest, resume=resume, force=settings.force)
    else:
        earlier = _read_manifest(local, resume=resume, force=settings.force)
    tally = Tally(total=len(plan.jobs) + len(plan.refused))
    for problem in plan.problems:
        cli._say(f"vqcodec: error: {problem}", stream)
        tally.status = _worse(tally.status, cli.EXIT_ERROR)
    todo = []
    for job in plan.jobs:
        record = earlier.get((job.input, job.output))
        if record is not None and _done_before(record, job):
            tally.add(record, cli.EXIT_SKIPPED if record["status"] == SKIPPED else cli.EXIT_OK)
            tally.before += 1
        else:
            todo.append(job)
    progress = Progress(stream, tally, enabled=not quiet and _is_terminal(stream))
    if local is not None:
        # A batch killed outright while it rewrote the manifest left that write's temp file.
        pattern = os.path.join(glob.escape(os.path.dirname(local)), f".{MANIFEST_NAME}.*.tmp")
        for stale in glob.glob(pattern):
            with contextlib.suppress(OSError):
                os.unlink(stale)
    # Connected before the manifest is opened: a wrong address leaves nothing behind.
    client = _dask_client(scheduler) if scheduler is not None and todo else None
    journal_of = (
        Journal(local, fresh=not resume)
        if local is not None
        else Snapshots(manifest, earlier, fresh=not resume)
    )

    with contextlib.ExitStack() as stack, journal_of as journal:
        if client is not None:
            stack.enter_context(client)

        def finish(outcome: Outcome) -> None:
            record, status, trace = outcome
            journal.append(record)
            tally.add(record, status)
            if record["status"] == ERROR:
                progress.clear()
                cli._say(f"vqcodec: error: {record['error']}", stream)
                if trace:
                    stream.write(trace)
            progress.draw()

        try:
            for record in plan.refused:
                finish((record, cli.EXIT_ERROR, None))
            if client is not None:
                _run_on_dask(todo, settings, client, work, finish, progress.draw)
            elif workers <= 1 or len(todo) <= 1:
                for job in todo:
                    finish(work(job, settings))
            else:
                _run_in_pool(todo, settings, workers, work, finish, progress.draw)
        except BaseException as stop:
            progress.clear()
            if isinstance(stop, (KeyboardInterrupt, cli.Stopped)) and not quiet:
                cli._say(
                    f"vqcodec: {tally.finished:,} of {tally.total:,} files done; the same "
                    "command with --resume goes on",
                    stream,
                )
            raise
    if local is not None:
        _sort_manifest(local)
    progress.clear()
    if not quiet:
        cli._say(tally.summary(time.monotonic() - started, manifest), stream)
    return tally.status


def _run_in_pool(
    jobs: list[Job],
    settings: Settings,
    workers: int,
    work: Work,
    finish: Callable[[Outcome], None],
    tick: Callable[[], None],
) -> None:
    """``jobs`` on a pool of ``workers`` processes, ``finish`` called as each ends.

    A worker that dies (the kernel's OOM killer, a kill -9, a crash in C) breaks the whole
    pool, and every job handed to it fails without saying which one killed it. Those are
    put back at the front of the queue for a new pool, which runs them one at a time: the
    one that kills a worker alone is recorded as an error, and the rest go on.
    """
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    queue = deque(enumerate(jobs))
    suspects: set[int] = set()
    retried = dataclasses.replace(settings, adopt=True)
    while queue:
        executor = _executor(min(workers, len(queue)))
        in_flight: dict[Any, tuple[int, Job]] = {}
        broken: list[tuple[int, Job]] = []
        try:
            while queue or in_flight:
                # A suspect runs alone, so that a death is its own; nothing more goes to a
                # broken pool.
                alone = any(index in suspects for index, _ in in_flight.values())
                limit = 1 if alone or (queue and queue[0][0] in suspects) else (
                    workers * _QUEUED_PER_WORKER
                )  # fmt: skip
                while queue and not broken and len(in_flight) < limit:
                    index, job = queue.popleft()
                    # A job run again after a pool broke may have written its output
                    # before: it keeps those bytes if they are the ones it makes.
                    again = retried if index in suspects else settings
                    try:
                        in_flight[executor.submit(work, job, again)] = (index, job)
                    except BrokenProcessPool:
                        broken.append((index, job))
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=Progress.INTERVAL, return_when=FIRST_COMPLETED)
                for future in done:
                    index, job = in_flight.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken.append((index, job))
                        continue
                    finish(outcome)
                tick()
        except BaseException:
            _stop(executor)
            raise
        executor.shutdown(wait=True)
        for index, job in sorted(broken, reverse=True):
            if index in suspects:
                finish(_died(job))
            else:
                suspects.add(index)
                queue.appendleft((index, job))


def _dask_client(address: str) -> Any:
    """A distributed.Client of the scheduler at ``address``, or a UserError saying why not."""
    try:
        from distributed import Client
    except ImportError:
        raise cli.UserError(
            address, "--scheduler needs Dask: pip install 'vqcodec[dask]'"
        ) from None
    try:
        return Client(address, timeout=DASK_CONNECT_SECONDS)
    except (OSError, ValueError) as error:
        raise cli.UserError(address, f"no Dask scheduler there ({error})") from None


def _run_on_dask(
    jobs: list[Job],
    settings: Settings,
    client: Any,
    work: Work,
    finish: Callable[[Outcome], None],
    tick: Callable[[], None],
) -> None:
    """``jobs`` on a Dask distributed cluster, ``finish`` called here as each ends, so the
    manifest, progress and errors are this process's as with -j.

    Inputs and outputs are paths every worker must see (a shared file system), or URLs
    each worker opens itself. A worker
    lost mid-batch is the scheduler's to handle: it runs that worker's jobs again elsewhere
    (``distributed.scheduler.allowed-failures`` times), and a job whose output was already
    complete finds its exact bytes and keeps them (``Settings.adopt``), so each output is
    written once. A job that kills every worker it runs on is recorded as an error; any
    other failure of the cluster (a lost scheduler) stops the batch, as Ctrl-C does.
    """
    from distributed import KilledWorker, as_completed

    # Workers have their own working folder: they get absolute paths, and the records are
    # given back the paths as this run named them.
    # One graph of every job (client.map): a submit a job costs the scheduler a graph update
    # each, which on 2 cores took CPU from the workers.
    theres = [Job(_there(job.input), _there(job.output)) for job in jobs]
    keys = [f"vqcodec-{index}-{there.output}" for index, there in enumerate(theres)]
    mapped = client.map(
        _on_dask_worker, [work] * len(jobs), theres, [settings] * len(jobs), key=keys
    )
    futures = dict(zip(mapped, zip(jobs, theres, strict=True), strict=True))
    try:
        for future in as_completed(futures):
            job, there = futures[future]
            try:
                record, status, trace = future.result()
            except KilledWorker:
                record, status, trace = _died(there)
            record.update(input=job.input, output=job.output)
            error = record["error"]
            for named, absolute in ((job.output, there.output), (job.input, there.input)):
                if error and error.startswith(absolute + ":"):  # cli._describe's "PATH: what"
                    error = named + error[len(absolute) :]
            record["error"] = error
            finish((record, status, trace))
            tick()
    except BaseException:
        client.cancel(list(futures))
        raise


def _there(name: str) -> str:
    """``name`` as a worker elsewhere finds it: a path or a file:// URL made absolute."""
    return _urls.absolute(name) if _urls.is_url(name) else os.path.abspath(name)


def _vectors_on_dask_worker(source: str, block: tuple[int, int], max_pixels: int | None) -> Any:
    """``books.image_vectors`` on a Dask worker, with ``_malloc_kept`` as for a job."""
    with _malloc_kept():
        return books.image_vectors(source, block, max_pixels)


def _on_dask_worker(work: Work, job: Job, settings: Settings) -> Outcome:
    """``work(job, settings)`` on a Dask worker, with glibc's malloc keeping what it frees
    while the job runs (``_malloc_kept``)."""
    with _malloc_kept():
        return work(job, settings)


# glibc's mallopt parameters (malloc.h) and the environment variables that set them.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MALLOC_DEFAULT = 128 * 1024  # both thresholds' static default
_MALLOC_ENV = {
    _M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_",
    _M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_",
}
_malloc_lock = threading.Lock()
_malloc_jobs = 0


@contextlib.contextmanager
def _malloc_kept() -> Iterator[None]:
    """While any job of this process runs: glibc's malloc neither gives freed memory back
    to the system nor maps each large block afresh; after the last one, the thresholds
    the environment set, and the freed memory given back.

    Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536 (so that they return memory),
    which also fixes the mmap threshold at 128 KiB: every array of an image is then mapped
    fresh and its pages faulted in, and freed and unmapped, again and again. On the bench
    machine that made each job 1.4-1.8x slower than in a -j worker (4x the page faults).
    Where the thresholds are glibc's own dynamic ones (no such variable) nothing is done:
    they already keep the memory a job reuses. Not glibc: nothing is done. What is put back
    is the environment's setting (decimal values; glibc's default otherwise), not whatever
    else the worker may have set with mallopt: glibc cannot be asked for its thresholds.
    """
    global _malloc_jobs
    libc = _glibc() if any(os.environ.get(name) for name in _MALLOC_ENV.values()) else None
    if libc is None:
        yield
        return
    with _malloc_lock:
        _malloc_jobs += 1
        if _malloc_jobs == 1:
            libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
            libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest on 64-bit
    try:
        yield
    finally:
        with _malloc_lock:
            _malloc_jobs -= 1
            if _malloc_jobs == 0:
                for param, name in _MALLOC_ENV.items():
                    value = os.environ.get(name, "")
                    libc.mallopt(param, int(value) if value.isdigit() else _MALLOC_DEFAULT)
                libc.malloc_trim(0)


@functools.cache
def _glibc() -> Any:
    """The C library if it is glibc (it has mallopt and malloc_trim), else None."""
    import ctypes

    if not sys.platform.startswith("linux"):  # glibc is Linux's (CDLL(None) fails on Windows)
        return None
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # glibc's alone
            return None
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def _executor(workers: int) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        # The server imports this module (numpy, Pillow, the C core) once, before any fork.
        context.set_forkserver_preload([__name__])
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
    )


def _stop(executor: Any) -> None:
    """Stop the pool's workers now and wait for them: no orphan is left, and each has removed
    the temp file of an output it was writing (see ``_write``). A second Ctrl-C meanwhile
    does not cut this short."""
    with _signals_deferred():
        # Python 3.14 has executor.terminate_workers(); before it, the processes are only
        # reachable through this attribute, which every version since 3.2 has.
        processes = list((getattr(executor, "_processes", None) or {}).values())
        for process in processes:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                process.terminate()
        executor.shutdown(wait=True, cancel_futures=True)
        for process in processes:
            with contextlib.suppress(OSError, ValueError, AssertionError, AttributeError):
                process.join()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Stop signals do nothing in the block (the process is stopping anyway)."""
    try:
        previous = {
            signum: signal.signal(signum, lambda *_: None)
            for signum in (signal.SIGINT, *_STOP_SIGNALS)
        }
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _died(job: Job) -> Outcome:
    record = _record(job)
    record.update(
        status=ERROR,
        seconds=0.0,
        error=f"{job.input}: the worker process died on it (out of memory, or killed)",
    )
    return record, cli.EXIT_ERROR, None


# --- train on workers -----------------------------------------------------------------------


@contextlib.contextmanager
def training_loader(
    sources: Sequence[str],
    block: tuple[int, int],
    max_pixels: int | None,
    *,
    jobs: int | None = None,
    scheduler: str | None = None,
) -> Iterator[books.Loader]:
    """Where ``vqcodec train`` reads and cuts its images (``books.train_with``): on the Dask
    cluster at ``scheduler``, on ``jobs`` worker processes (0: every core), or, with
    neither (or -j 1), in this process. Stopped (Ctrl-C, an error), the workers are stopped
    and the cluster's work on this run cancelled."""
    in_memory = [source for source in sources if _urls.in_process(source)]
    if scheduler is not None:
        if in_memory:
            raise cli.UserError(in_memory[0], "is in this process's memory: no Dask worker sees it")
        with _dask_client(scheduler) as client:
            yield DaskLoader(client, block, max_pixels)
        return
    workers = (jobs or default_jobs()) if jobs is not None else 1
    if workers <= 1 or len(sources) <= 1 or in_memory:
        yield books.Here(block, max_pixels)
        return
    executor = _executor(min(workers, len(sources)))
    try:
        yield PoolLoader(executor, block, max_pixels, workers)
    except BaseException:
        _stop(executor)
        raise
    executor.shutdown(wait=True)


class PoolLoader:
    """A ``books.Loader`` on worker processes: each image is read and cut in a worker, and
    its vectors come back whole to be sampled here."""

    def __init__(self, executor: Any, block: tuple[int, int], max_pixels: int | None, workers: int):
        self.executor, self.block, self.max_pixels = executor, block, max_pixels
        # Every worker busy while the first in line is sampled; each image waiting holds its
        # whole vectors here (as many bytes as its pixels), so no more than that.
        self.ahead = workers + 1

    def load(self, source: str) -> Any:
        return self.executor.submit(books.image_vectors, source, self.block, self.max_pixels)

    def shape(self, handle: Any) -> tuple[int, int]:
        return books.vectors_shape(_pool_result(handle))

    def take(self, handle: Any, chosen: Any) -> Any:
        return books.take(_pool_result(handle), chosen)

    def gather(self, handles: list[Any]) -> list[Any]:
        from concurrent.futures import Future

        return [_pool_result(part) if isinstance(part, Future) else part for part in handles]


def _pool_result(future: Any) -> Any:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:  # named by the caller, as its image's errors are
        raise OSError(None, "the worker process died on it (out of memory, or killed)") from None


class DaskLoader:
    """A ``books.Loader`` on a Dask cluster: each image is read and cut by a worker (given
    its URL, or its absolute path on a shared file system) and its vectors stay there; only
    their count comes here, and the rows drawn for the sample go back to be taken there."""

    def __init__(self, client: Any, block: tuple[int, int], max_pixels: int | None) -> None:
        self.client, self.block, self.max_pixels = client, block, max_pixels
        self.ahead = max(2, 2 * sum(client.nthreads().values()))

    def load(self, source: str) -> tuple[Any, Any]:
        vectors = self.client.submit(
            _vectors_on_dask_worker, _there(source), self.block, self.max_pixels, pure=False
        )
        return vectors, self.client.submit(books.vectors_shape, vectors, pure=False)

    def shape(self, handle: tuple[Any, Any]) -> tuple[int, int]:
        return _dask_result(handle[1].result)

    def take(self, handle: tuple[Any, Any], chosen: Any) -> tuple[Any, Any]:
        return self.client.submit(books.take, handle[0], chosen, pure=False), None

    def gather(self, handles: list[tuple[Any, Any]]) -> list[Any]:
        return _dask_result(lambda: self.client.gather([vectors for vectors, _ in handles]))


def _dask_result(get: Callable[[], Any]) -> Any:
    from distributed import KilledWorker

    try:
        return get()
    except KilledWorker:  # named by the caller, as its image's errors are
        raise OSError(None, "the Dask workers died on it (out of memory, or killed)") from None


# --- in a worker -----------------------------------------------------------------------------

_in_worker = False  # this process is a pool worker (set by _start_worker)
_writing = False  # a worker is inside _write's atomic write


def _start_worker(parent: int) -> None:
    """A pool worker's start: stop signals kill it at once (``_write`` makes an exception
    while it writes), Ctrl-C is the parent's to act on, and it ends when the batch's
    process ends, however that ends (``_watch``)."""
    global _in_worker
    _in_worker = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit: EFBIG, reported (as cli does)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    threading.Thread(target=_watch, args=(parent,), name="vqcodec-watch", daemon=True).start()


def _watch(parent: int) -> None:
    """Send this worker SIGTERM when process ``parent`` (the batch's) ends.

    Needed when the batch is killed outright (SIGKILL, the OOM killer): a worker waiting for
    its next job would wait for ever, because it holds both ends of the pool's queue itself,
    and so do its siblings; nor does a parent-death signal help, since a worker's parent is
    the fork server, which lives as long as its workers do. A pidfd (Linux 5.3) turns
    readable when ``parent`` exits; elsewhere the parent is polled twice a second.
    """
    try:
        select.select([os.pidfd_open(parent)], [], [])  # type: ignore[attr-defined]
    except ProcessLookupError:  # gone already
        pass
    except (AttributeError, OSError):  # no pidfds here
        parent_now = os.getppid()  # the batch's process itself, without a fork server
        while os.getppid() == parent_now and _alive(parent):
            time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's (a pid reused: too rare to mind)
        pass
    return True


def _work(job: Job, settings: Settings) -> Outcome:
    """Do one job and describe it: never raises but for a stop (BaseException)."""
    started = time.perf_counter()
    record = _record(job)
    trace = None
    try:
        if settings.command == "encode":
            status = _encode(job, settings, record)
        else:
            status = _decode(job, settings, record)
    except codec.TargetError as error:
        status = cli.EXIT_TARGET
        record.update(dict.fromkeys(_MEASURED), status=ERROR, error=cli._describe(error, job.input))
    except cli.USER_ERRORS as error:
        status = cli.EXIT_ERROR
        record.update(dict.fromkeys(_MEASURED), status=ERROR, error=cli._describe(error, job.input))
    except Exception as error:  # a bug: this file fails, with its traceback, the rest go on
        status, trace = cli.EXIT_ERROR, traceback.format_exc()
        record.update(
            dict.fromkeys(_MEASURED),
            status=ERROR,
            error=f"{job.input}: internal error ({type(error).__name__}: {error}); "
            "this is a bug, please report it",
        )
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record, status, trace


def _record(job: Job) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(FIELDS)
    record.update(input=job.input, output=job.output)
    return record


def _encode(job: Job, settings: Settings, record: dict[str, Any]) -> int:
    _check_output(job, settings)
    if _urls.is_url(job.input):
        image, bytes_in = _urls.read_image(job.input, settings.max_pixels)
    else:
        bytes_in = os.stat(job.input).st_size
        image = open_image(job.input, settings.max_pixels)
    pixels = to_array(image, settings.max_pixels)
    del image  # as cli does: Pillow's copy goes before the encoder's work
    try:
        data = codec.encode(pixels, max_pixels=settings.max_pixels, **settings.encode_options)
    except ValueError as error:
        if settings.encode_options.get("codebook") is None:
            raise
        raise cli.UserError(job.input, str(error)) from None  # an image the book cannot take
    book = settings.encode_options.get("codebook")
    header, codebook, labels = codec.decode_parts(data, max_pixels=0, codebook=book)
    psnr = codec.decoded_psnr(pixels, header, codebook, labels)
    record.update(
        bytes_in=bytes_in,
        bytes_out=len(data),
        bits=header.bits,
        coding=header.coding,
        psnr=None if psnr == math.inf else round(psnr, 4),
    )
    if settings.skip_if_larger and len(data) >= bytes_in:
        record["status"] = SKIPPED
        return cli.EXIT_SKIPPED
    _write(job, data, settings)
    record["status"] = OK
    return cli.EXIT_OK


def _decode(job: Job, settings: Settings, record: dict[str, Any]) -> int:
    _check_output(job, settings)
    try:
        fmt = settings.format or output_format(job.output)
    except VQError as error:
        raise cli.UserError(job.output, f"{error}; or give --format NAME") from None
    read = _urls.read_container if _urls.is_url(job.input) else _io.read_container
    data = read(job.input, settings.max_pixels)
    book = settings.codebook or codec.find_codebook(data, job.input)
    header, codebook, labels = codec.decode_parts(
        data, max_pixels=settings.max_pixels, codebook=book
    )
    rendered = io.BytesIO()
    try:
        codec.save_parts(rendered, header, codebook, labels, format=fmt, quality=settings.quality)
    except VQError as error:  # what this format cannot hold (alpha in a JPEG, ...)
        raise cli.UserError(job.output, str(error)) from None
    out = rendered.getvalue()
    record.update(bytes_in=len(data), bytes_out=len(out), bits=header.bits, coding=header.coding)
    _write(job, out, settings)
    record["status"] = OK
    return cli.EXIT_OK


def _check_output(job: Job, settings: Settings) -> None:
    """Refuse before the work what the write would refuse (cli._check_output's rules for one
    job; the plan has refused clashes between jobs). With --resume an existing output is
    let through, to be compared with what this run makes."""
    overwrite = settings.force or settings.adopt
    try:
        if _urls.is_url(job.output):
            _urls.check_destination(job.output, overwrite=overwrite)
        else:
            check_destination(job.output, overwrite=overwrite)
    except FileExistsError:
        raise cli.UserError(job.output, "exists; use --force to overwrite") from None
    if _same_file(job.input, job.output):
        raise cli.UserError(job.output, "is an input of this run; refusing to write over it")


def _same_file(input: str, output: str) -> bool:
    """Whether ``output`` exists and is ``input`` (cli._same_file, for URLs too)."""
    if not (_urls.is_url(input) or _urls.is_url(output)):
        return os.path.exists(output) and cli._same_file(input, output)
    return _size(output) is not None and _key(input) == _key(output)


def _size(name: str) -> int | None:
    """The size of the file ``name`` (a path or URL) names, None if it names no file."""
    if _urls.is_url(name):
        return _urls.size(name)
    try:
        status = os.stat(name)
    except OSError:
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


def _write(job: Job, data: bytes, settings: Settings) -> None:
    if _urls.is_url(job.output):
        _urls.make_parent(job.output)
    else:
        folder = os.path.dirname(job.output)
        try:
            os.makedirs(folder, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise cli.UserError(folder, "exists and is not a folder") from None
    if settings.adopt and _size(job.output) is not None:
        if _holds(job.output, data):  # written by the stopped run, not yet recorded
            return
        if not settings.force:
            raise cli.UserError(job.output, "exists; use --force to overwrite")
    try:
        _write_now(job, data, settings)
    except FileExistsError:
        # Made meanwhile by another run of this job (a worker of a batch killed a moment
        # ago, still finishing): kept when it holds these very bytes, as above.
        if settings.adopt and _holds(job.output, data):
            return
        raise


def _write_now(job: Job, data: bytes, settings: Settings) -> None:
    write = _urls.write if _urls.is_url(job.output) else write_bytes
    if not _in_worker:  # in the CLI's own process, its signal handlers do this
        write(job.output, data, overwrite=settings.force)
        return
    global _writing
    previous = {signum: signal.signal(signum, _stop_worker) for signum in _STOP_SIGNALS}
    _writing = True
    try:
        write(job.output, data, overwrite=settings.force)
    except cli.Stopped as stop:  # the temp file is gone (_atomic); so is this worker
        os._exit(128 + stop.signum)
    finally:
        _writing = False
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_worker(signum: int, frame: object) -> None:
    if _writing:
        raise cli.Stopped(signum)
    os._exit(128 + signum)


def _holds(path: str, data: bytes) -> bool:
    if _urls.is_url(path):
        return _urls.holds(path, data)
    try:
        if os.path.getsize(path) != len(data):
            return False
        with open(path, "rb") as handle:
            return handle.read() == data
    except OSError:
        return False


# --- record ----------------------------------------------------------------------------------


class Journal:
    """The manifest while the batch runs: records appended as files finish, each flushed to
    disk before the next, so that a kill leaves only whole records but perhaps the last."""

    def __init__(self, path: str, *, fresh: bool) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0)
        self.fd = os.open(path, flags, 0o666)

    def append(self, record: dict[str, Any]) -> None:
        line = memoryview((json.dumps(record, allow_nan=False) + "\n").encode())
        while line:  # one write() as a rule; a short write leaves a torn line, cut on resume
            line = line[os.write(self.fd, line) :]
        os.fsync(self.fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        os.close(self.fd)


class Snapshots:
    """The manifest of a batch whose output folder is a URL off this machine (s3://, ...).

    An object store cannot append, so the records are kept here and the whole manifest,
    sorted as at the end of a local batch, is written over OUTDIR/vqcodec-manifest.jsonl in
    one atomic write: when a fresh batch starts (an earlier batch's manifest is gone at
    once, as a local one is truncated), every ``CHECKPOINT_SECONDS`` while it runs (or ten
    times as long as the last write took, so that writing stays a small part of the run),
    when it is stopped, and at its end. A batch killed outright (SIGKILL) loses the records
    since the last write, not their outputs: --resume does those files again, finds their
    exact bytes in place and keeps them (``Settings.adopt``), and ends as an uninterrupted
    run would.
    """

    CHECKPOINT_SECONDS = 30.0
    SPENT_FACTOR = 10  # the least time between writes, in times the last write took

    def __init__(self, url: str, earlier: dict[tuple[str, str], dict], *, fresh: bool) -> None:
        self.url = url
        self.fresh = fresh
        self.records = {} if fresh else dict(earlier)
        self.due = math.inf

    def append(self, record: dict[str, Any]) -> None:
        self.records[record["input"], record["output"]] = record
        if time.monotonic() >= self.due:
            self.write()

    def write(self) -> None:
        started = time.monotonic()
        records = (self.records[key] for key in sorted(self.records))
        lines = "".join(json.dumps(record, allow_nan=False) + "\n" for record in records)
        _urls.write(self.url, lines.encode(), overwrite=True)
        spent = time.monotonic() - started
        self.due = time.monotonic() + max(self.CHECKPOINT_SECONDS, self.SPENT_FACTOR * spent)

    def __enter__(self) -> Snapshots:
        if self.fresh:
            self.write()
        else:
            self.due = time.monotonic() + self.CHECKPOINT_SECONDS
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.write()
            return
        with contextlib.suppress(Exception):  # stopping: what is recorded so far, if it can
            self.write()


def _read_manifest(path: str, *, resume: bool, force: bool) -> dict[tuple[str, str], dict]:
    """The records of an earlier run, by (input, output), the last of each; a torn last line
    is cut off the file. Without ``resume``, an existing manifest is refused unless
    ``force``, and nothing is read."""
    if not resume:
        if os.path.lexists(path) and not force:
            raise _manifest_exists(path)
        return {}
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return {}
    records, whole = _parse_manifest(data, path)
    if whole < len(data):  # stopped in the middle of writing that line: cut it, the rest checked
        os.truncate(path, whole)
    return records


def _read_remote_manifest(url: str, *, resume: bool, force: bool) -> dict[tuple[str, str], dict]:
    """``_read_manifest`` for a manifest at a URL (written whole: nothing to cut)."""
    if not resume:
        if _urls.size(url) is not None and not force:
            raise _manifest_exists(url)
        return {}
    try:
        fs, path = _urls.filesystem(url)
        with _urls.naming(url):
            data = fs.cat_file(path)
    except FileNotFoundError:
        return {}
    return _parse_manifest(data, url)[0]


def _manifest_exists(name: str) -> cli.UserError:
    return cli.UserError(
        name,
        "exists (an earlier batch's manifest): --resume goes on with that batch, "
        "--force starts it again",
    )


def _parse_manifest(data: bytes, name: str) -> tuple[dict[tuple[str, str], dict], int]:
    """The records in a manifest's bytes, and the length of its whole lines (a torn last
    line is left out)."""
    whole = data[: data.rfind(b"\n") + 1]
    torn = data[len(whole) :]
    if torn and not torn.startswith(b'{"input": '[: len(torn)]):
        raise cli.UserError(name, "is not a vqcodec manifest (its last line is not a record)")
    records: dict[tuple[str, str], dict] = {}
    for number, line in enumerate(whole.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            key = (record["input"], record["output"])
            if not all(isinstance(part, str) for part in key) or record["status"] not in (
                OK,
                SKIPPED,
                ERROR,
            ):
                raise ValueError
        except (ValueError, TypeError, KeyError):
            raise cli.UserError(
                name, f"line {number} is not a vqcodec manifest record; not resuming from it"
            ) from None
        records[key] = record
    return records, len(whole)


def _done_before(record: dict[str, Any], job: Job) -> bool:
    """Whether --resume may skip ``job``: recorded as done, its input still of the size
    recorded, and (unless skipped) its output still a file of the size recorded."""
    if record.get("status") not in (OK, SKIPPED):
        return False
    try:
        if _input_size(job.input) != record.get("bytes_in"):
            return False
        return record["status"] == SKIPPED or _size(job.output) == record.get("bytes_out")
    except OSError:
        return False


def _input_size(name: str) -> int | None:
    return _urls.size(name) if _urls.is_url(name) else os.stat(name).st_size


def _sort_manifest(path: str) -> None:
    """Rewrite the manifest sorted by (input, output), one record each (the last: --resume
    appends a new record for a file it does again), atomically."""
    with open(path, "rb") as handle:
        lines = handle.read().splitlines()
    latest: dict[tuple[str, str], bytes] = {}
    for line in lines:
        if line.strip():
            record = json.loads(line)
            latest[record["input"], record["output"]] = line
    with atomic_output(path) as handle:
        handle.write(b"".join(latest[key] + b"\n" for key in sorted(latest)))


@dataclasses.dataclass
class Tally:
    """Counts for the progress line, the summary and the exit status."""

    total: int
    ok: int = 0
    skipped: int = 0
    failed: int = 0
    before: int = 0  # of ok and skipped: done by an earlier run (--resume)
    bytes_in: int = 0  # of the ok files
    bytes_out: int = 0
    status: int = cli.EXIT_OK

    @property
    def finished(self) -> int:
        return self.ok + self.skipped + self.failed

    def add(self, record: dict[str, Any], status: int) -> None:
        if record["status"] == OK:
            self.ok += 1
            self.bytes_in += record["bytes_in"]
            self.bytes_out += record["bytes_out"]
        elif record["status"] == SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1
        self.status = _worse(self.status, status)

    def summary(self, seconds: float, manifest: str) -> str:
        before = f"; {self.before:,} of them by an earlier run (--resume)" if self.before else ""
        ratio = f" ({self.bytes_out / self.bytes_in:.1%})" if self.bytes_in else ""
        return (
            f"vqcodec: {self.total:,} files: {self.ok:,} done, {self.skipped:,} skipped, "
            f"{self.failed:,} failed{before}; {self.bytes_in:,} -> {self.bytes_out:,} bytes"
            f"{ratio}; {seconds:.1f} s; manifest {manifest}"
        )


def _worse(status: int, other: int) -> int:
    return max(status, other, key=cli._SEVERITY.index)


class Progress:
    """One line on a terminal, redrawn in place at most 10 times a second: files finished
    of all, failures, time so far and the time left at this run's pace so far."""

    INTERVAL = 0.1

    def __init__(self, stream: TextIO, tally: Tally, *, enabled: bool) -> None:
        self.stream, self.tally, self.enabled = stream, tally, enabled
        self.started = time.monotonic()
        self.first = tally.finished  # done before this run: no part of its pace
        self.last = -math.inf
        self.shown = False

    def draw(self) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < self.INTERVAL:
            return
        self.last = now
        tally, elapsed = self.tally, now - self.started
        done, fresh = tally.finished, tally.finished - self.first
        left = "--:--" if fresh == 0 else _clock(elapsed / fresh * (tally.total - done))
        percent = 100 * done // tally.total if tally.total else 100
        text = (
            f"vqcodec: {done:,}/{tally.total:,} files ({percent}%), {tally.failed:,} failed, "
            f"{_clock(elapsed)} elapsed, ETA {left}"
        )
        width = _columns(self.stream) - 1
        self.stream.write("\r" + text[:width] + "\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
            self.last = -math.inf  # the next draw shows at once what the line held


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def _columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` is (stdout may be a pipe meanwhile)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return shutil.get_terminal_size().columns


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
