"""fsspec URLs (``s3://bucket/photos/``, ``gcs://...``, ``file:///abs/dir``, ``memory://...``)
as the inputs and the output folder of a batch (``vqcodec.batch``), and as training images.

Only a string that starts with a protocol (``PROTO://``, or fsspec's chain
``PROTO::PROTO://``) is a URL: a plain path never comes here, and keeps the local rules of
``_atomic`` and ``batch``. fsspec is an extra (``pip install 'vqcodec[dask]'``), imported
when a URL is met; a protocol's own package (s3fs, gcsfs, ...) is fsspec's to ask for.

Every failure is an ``OSError`` whose ``filename`` is the URL as the user wrote it, so the
CLI says ``URL: what is wrong`` as it does for a path; a remote file system's own exceptions
(HTTP errors, ...) become one too.

Reading is bounded as a stream is (``_io``): an image by the size its header announces, a
.vq file by its header.

Writing never leaves half a file and never replaces one without ``overwrite``:

- on this machine's file system (``file://``), the path is written by ``_atomic``, exactly
  as a plain path is (temp file beside it, rename, symlink and device rules);
- on an object store (s3, gcs, azure, oss), one put of the whole bytes, which those stores
  make atomic; the no-overwrite check comes just before it (a put cannot refuse to replace
  an object that another writer made in between);
- on any other file system (sftp, hdfs, memory, ...), a hidden temp name beside the output,
  then a move; the temp is removed on any failure.

Folders are walked and globs matched here with the rules of the local walk and of Python's
``glob`` (names sorted, each folder's files before its subfolders, hidden names skipped,
``**`` spans folders, the output folder left out), so that a tree under a URL gives the same
jobs, in the same order and with the same output names, as the same tree on a local disk.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import io
import os
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from PIL import Image

from . import _atomic, _io
from .errors import VQError
from .images import open_image

# PROTO:// or fsspec's chain PROTO::PROTO://; a path such as "notes::2023/a.png" is no URL.
_PROTOCOL = r"[A-Za-z][A-Za-z0-9+.-]*"
_URL = re.compile(rf"{_PROTOCOL}(?:::{_PROTOCOL})*://")
_GLOB_MAGIC = re.compile(r"[*?[]")
# Where a put of the whole bytes is atomic (and a move is a copy and a delete).
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})
# File systems in this process's memory: no other process (a -j worker, a Dask worker) sees them.
_IN_PROCESS = frozenset({"memory"})
INSTALL = "pip install 'vqcodec[dask]'"


def is_url(text: object) -> bool:
    """Whether ``text`` names a file by a URL (``PROTO://...``, ``PROTO::PROTO://...``)."""
    return isinstance(text, str) and _URL.match(text) is not None


def in_process(name: str) -> bool:
    """Whether ``name`` is a URL of a file system that lives in this process's memory."""
    if not is_url(name):
        return False
    chain = name.partition("://")[0].split("::")
    return any(protocol.lower() in _IN_PROCESS for protocol in chain)


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path on it; an OSError naming the URL when
    fsspec, or the package of the URL's protocol, is missing, or fsspec knows no such
    protocol."""
    if "::" in url:  # the inner path comes first there: our joins and globs would break it
        raise OSError(None, "chained URLs (with ::) are not supported; give one PROTO://", url)
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise OSError(
            None, f"a URL needs fsspec: {INSTALL} (s3://, gcs://, ... need s3fs, gcsfs, ...)", url
        ) from None
    try:
        return url_to_fs(url)
    except ImportError as error:  # the protocol's own package: fsspec's message names it
        raise OSError(None, f"{error}", url) from None
    except ValueError as error:
        if "protocol not known" in str(error).lower():
            protocol = url.split(":", 1)[0]
            raise OSError(None, f"fsspec knows no protocol {protocol}://", url) from None
        raise OSError(None, f"not a URL fsspec can open ({error})", url) from None


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def absolute(url: str) -> str:
    """``url`` as another process finds it: a ``file://`` URL of a relative path made
    absolute (fsspec would resolve it against each worker's own folder), others as they
    are."""
    scheme, _, path = url.partition("://")
    if scheme.lower() in ("file", "local") and not os.path.isabs(path):
        return f"{scheme}://{os.path.abspath(path)}"
    return url


def local_path(url: str) -> str | None:
    """The path of ``url`` if it is on this machine's file system (``file://``), else None."""
    fs, path = filesystem(url)
    return path if _is_local(fs) else None


def _protocols(fs: Any) -> set[str]:
    protocol = fs.protocol
    return {protocol} if isinstance(protocol, str) else set(protocol)


def _key(fs: Any, path: str) -> str:
    """What tells two files apart: the real path on this machine, else the full URL."""
    return os.path.realpath(path) if _is_local(fs) else fs.unstrip_protocol(path)


def key(url: str) -> str:
    """``url``'s identity, comparable with ``os.path.realpath`` of a plain path."""
    return _key(*filesystem(url))


def join(base: str, relative: str) -> str:
    """``relative`` (a path with / or os.sep) under the URL or key ``base``."""
    if not is_url(base):
        return os.path.join(base, relative)
    relative = relative.replace(os.sep, "/")
    return base + relative if base.endswith("/") else f"{base}/{relative}"


def _parent(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[0]


# --- errors ----------------------------------------------------------------------------------


def _renamed(error: BaseException, url: str) -> OSError:
    """``error`` as an OSError naming ``url``: FileNotFoundError for a missing file (fsspec
    raises it with the bare path), the file system's own reason otherwise."""
    if isinstance(error, OSError) and error.filename == url:
        return error
    if isinstance(error, OSError):
        # Some file systems (memory://) raise the subclass with the bare path alone.
        kinds = {FileNotFoundError: errno.ENOENT, FileExistsError: errno.EEXIST,
                 NotADirectoryError: errno.ENOTDIR, IsADirectoryError: errno.EISDIR,
                 PermissionError: errno.EACCES}  # fmt: skip
        code = error.errno or kinds.get(type(error))
        reason = error.strerror or (os.strerror(code) if code else str(error))
        return OSError(code, reason or type(error).__name__, url)  # the subclass of its errno
    return OSError(None, f"{type(error).__name__}: {error}", url)


@contextlib.contextmanager
def naming(url: str) -> Iterator[None]:
    """Errors of the file system in the block become OSErrors naming ``url``; vqcodec's own
    (an image over the limit, a damaged .vq file) pass as they are."""
    try:
        yield
    except VQError:
        raise
    except Exception as error:  # remote file systems raise their own kinds (HTTP, ...)
        raise _renamed(error, url) from None


@contextlib.contextmanager
def _local_errors(url: str, path: str) -> Iterator[None]:
    """The local writer's errors name ``path``: they name ``url`` instead."""
    try:
        yield
    except OSError as error:
        if error.filename == path:
            error.filename = url
        raise


def _info(fs: Any, path: str, url: str) -> dict[str, Any] | None:
    """fsspec's info of ``path`` (following a symlink), or None if nothing is there."""
    with naming(url):
        try:
            return fs.info(path)
        except FileNotFoundError:
            return None


# --- reading ---------------------------------------------------------------------------------


def read_image(url: str, max_pixels: int | None = None) -> tuple[Image.Image, int]:
    """The image at ``url`` as ``images.open_image`` opens a file, and its size in bytes."""
    fs, path = filesystem(url)
    with naming(url), fs.open(path, "rb") as handle:
        data = _io.read_image_stream(handle, max_pixels, given="by a URL")
    return open_image(io.BytesIO(data), max_pixels), len(data)


def read_container(url: str, max_pixels: int | None = None) -> memoryview:
    """The bytes of the .vq file at ``url``, read as ``_io.read_container`` reads a stream."""
    fs, path = filesystem(url)
    with naming(url), fs.open(path, "rb") as handle:
        return _io.read_container(handle, max_pixels)


def size(url: str) -> int | None:
    """The size of the file at ``url``; None if there is no file there."""
    fs, path = filesystem(url)
    info = _info(fs, path, url)
    return info.get("size") if info is not None and info.get("type") == "file" else None


def holds(url: str, data: bytes) -> bool:
    """Whether the file at ``url`` holds exactly ``data``."""
    try:
        if size(url) != len(data):
            return False
        fs, path = filesystem(url)
        with naming(url):
            return fs.cat_file(path) == data
    except OSError:
        return False


def beside(url: str, digest: bytes) -> Any:
    """The codebook file in ``url``'s folder whose SHA-256 is ``digest``, if there is one
    (files ending in .vqb, in name order), as ``books.beside`` finds one beside a path."""
    from . import books, container

    folder = _parent(url)
    fs, path = filesystem(folder)
    try:
        with naming(folder):
            entries = fs.ls(path, detail=True)
    except OSError:
        return None
    names = sorted(
        entry["name"]
        for entry in entries
        if entry["name"].endswith(".vqb")
        and entry.get("type") == "file"
        and (entry.get("size") or 0) <= books._LARGEST_BOOK
    )
    for name in names:
        try:
            with naming(folder):
                data = fs.cat_file(name)
        except OSError:
            continue
        if container.digest(data) == digest:
            return books.Codebook(data)
    return None


# --- writing ---------------------------------------------------------------------------------


def check_destination(url: str, *, overwrite: bool) -> None:
    """Raise the error writing to ``url`` would end in, as ``_atomic.check_destination``
    does for a path: FileExistsError for an existing file when not ``overwrite``,
    IsADirectoryError for a folder."""
    fs, path = filesystem(url)
    if _is_local(fs):
        with _local_errors(url, path):
            _atomic.check_destination(path, overwrite=overwrite)
        return
    info = _info(fs, path, url)
    if info is None:
        return
    if info.get("type") == "directory":
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), url)
    if not overwrite:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), url)


def write(url: str, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``url`` whole or not at all (see the module's docstring)."""
    fs, path = filesystem(url)
    if _is_local(fs):
        with _local_errors(url, path):
            _atomic.write_bytes(path, data, overwrite=overwrite)
        return
    check_destination(url, overwrite=overwrite)
    if _protocols(fs) & _OBJECT_STORES:
        with naming(url):
            fs.pipe_file(path, data)
        return
    folder, _, name = path.rpartition("/")
    temp = f"{folder}/.{name}.{secrets.token_hex(6)}.tmp"
    try:
        with naming(url):
            fs.pipe_file(temp, data)
        if not overwrite:
            check_destination(url, overwrite=False)  # made meanwhile: kept
        with naming(url):
            fs.mv(temp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm_file(temp)
        raise


def make_folder(url: str) -> None:
    """Create the folder ``url`` if missing, not its parents (as ``--out-dir`` does for a
    path). On an object store a folder is only a prefix: nothing is made."""
    fs, path = filesystem(url)
    info = _info(fs, path, url)
    if info is not None:
        if info.get("type") != "directory":
            raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", url)
        return
    try:
        with naming(url):
            fs.mkdir(path, create_parents=False)
    except OSError as error:  # as cli._make_out_dir says it
        raise OSError(error.errno, f"cannot create this folder: {error.strerror}", url) from None


def make_parent(url: str) -> None:
    """Create the folders above the file ``url`` as needed (the mirrored tree of a batch)."""
    fs, path = filesystem(url)
    parent = path.rstrip("/").rpartition("/")[0]
    if not parent:
        return
    try:
        with naming(_parent(url)):
            fs.makedirs(parent, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        folder = _parent(url)
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", folder) from None


# --- walking and globs -----------------------------------------------------------------------


class _Tree:
    """The folders under ``root`` on ``fs``, each listed once when first needed, as the
    local walk sees them: names sorted, hidden names skipped, the output folder (``out``, a
    key) skipped; on this machine's file system a symlinked folder is skipped and a symlinked
    file taken. Paths are relative to ``root``, with /."""

    def __init__(self, fs: Any, root: str, shown: str, out: str, problems: list[str]) -> None:
        self.fs, self.root, self.shown, self.out, self.problems = fs, root, shown, out, problems
        self.listed: dict[str, tuple[list[str], list[str]]] = {}
        self.hidden: dict[str, tuple[list[str], list[str]]] = {}  # what listing leaves out

    def _path(self, relative: str) -> str:
        return f"{self.root.rstrip('/')}/{relative}" if relative else self.root

    def listing(self, relative: str) -> tuple[list[str], list[str]]:
        """(files, folders) directly in the folder ``relative``."""
        if relative not in self.listed:
            self.listed[relative], self.hidden[relative] = self._list(relative)
        return self.listed[relative]

    def _list(self, relative: str) -> tuple[tuple[list[str], list[str]], ...]:
        """(files, folders) and the hidden (files, folders) of the folder ``relative``."""
        shown = join(self.shown, relative) if relative else self.shown
        try:
            with naming(shown):
                entries = self.fs.ls(self._path(relative), detail=True)
        except OSError as error:
            self.problems.append(f"{shown}: cannot list this folder: {error.strerror}")
            return ([], []), ([], [])
        seen: tuple[tuple[list[str], list[str]], ...] = (([], []), ([], []))
        for entry in entries:
            name = entry["name"].rstrip("/").rpartition("/")[2]
            if not name:
                continue
            files, folders = seen[name.startswith(".")]
            inner = f"{relative}/{name}" if relative else name
            kind = self._kind(entry, shown)
            if kind == "file":
                files.append(inner)
            elif kind == "directory" and _key(self.fs, self._path(inner)) != self.out:
                folders.append(inner)
        return tuple((sorted(files), sorted(folders)) for files, folders in seen)

    def _kind(self, entry: dict[str, Any], shown: str) -> str | None:
        """ "file", "directory", or None for what a walk does not take (a symlinked folder,
        a FIFO, a device)."""
        if not entry.get("islink"):
            return entry.get("type")
        target = _info(self.fs, entry["name"], shown)  # followed
        kind = None if target is None else target.get("type")
        return "file" if kind == "file" else None

    def walk(self, relative: str) -> Iterator[str]:
        """The files under the folder ``relative``: depth first, each folder's files before
        its subfolders (a stack: a deep tree must not hit the recursion limit)."""
        stack = [relative]
        while stack:
            files, folders = self.listing(stack.pop())
            yield from files
            stack.extend(reversed(folders))

    def everything(self, pattern: list[str]) -> Iterator[tuple[str, bool]]:
        """(path, is a folder) of the folders and files under the root that a glob
        ``pattern`` (split at /) could match, the root as "": a folder is listed only while
        paths below it can still match, as Python's glob lists only the levels a pattern
        needs. Hidden names are taken where the pattern's part for them starts with a dot."""
        stack = [""]
        while stack:
            folder = stack.pop()
            yield folder, True
            depth = len(_parts(folder))
            if not _could_lead(pattern, _parts(folder)):
                continue
            files, folders = self.listing(folder)
            wants_hidden = "**" not in pattern[: depth + 1] and depth < len(pattern)
            if wants_hidden and pattern[depth].startswith("."):
                hidden_files, hidden_folders = self.hidden[folder]
                files, folders = sorted(files + hidden_files), sorted(folders + hidden_folders)
            yield from ((name, False) for name in files)
            stack.extend(reversed(folders))


def _could_lead(pattern: list[str], parts: list[str]) -> bool:
    """Whether a path below the folder ``parts`` could match the glob ``pattern``."""
    if not pattern:
        return False
    head, rest = pattern[0], pattern[1:]
    if head == "**" or not parts:
        return True
    return fnmatch.fnmatchcase(parts[0], head) and _could_lead(rest, parts[1:])


Found = tuple[str, str, str]  # (input as named, path relative to the output folder, key)


def expand(
    argument: str, wanted: Callable[[str], bool], out: str, problems: list[str]
) -> Iterator[Found]:
    """``batch._expand`` for a URL: a folder walked, a glob matched, or a file named alone
    (a missing one is reported by its job). ``out`` is the output folder's key."""
    try:
        fs, path = filesystem(argument)
        info = _info(fs, path, argument)
    except OSError as error:
        problems.append(f"{argument}: {error.strerror}")
        return
    if info is not None and info.get("type") == "directory":
        tree = _Tree(fs, path, argument, out, problems)
        base_key = _key(fs, path)
        for relative in tree.walk(""):
            if wanted(relative):
                yield join(argument, relative), relative, join(base_key, relative)
    elif info is None and _GLOB_MAGIC.search(path):
        yield from _glob(argument, wanted, out, problems)
    else:
        name = path.rstrip("/").rpartition("/")[2]
        yield argument, name, _key(fs, path)


def _glob(
    argument: str, wanted: Callable[[str], bool], out: str, problems: list[str]
) -> Iterator[Found]:
    """A glob's matches, taken as ``batch._expand`` takes a local glob's: sorted, a folder
    matched walked, a file matched taken if its extension is wanted."""
    scheme, marker, rest = argument.rpartition("://")
    parts = rest.split("/")
    fixed = next((index for index, part in enumerate(parts) if _GLOB_MAGIC.search(part)), 0)
    base = scheme + marker + "/".join(parts[:fixed])
    pattern = parts[fixed:]
    folders_only = pattern[-1] == ""  # 'photos/*/' matches folders alone, as glob does
    if folders_only:
        pattern = pattern[:-1]
    fs, path = filesystem(base)
    info = _info(fs, path, base)
    matches: list[tuple[str, bool]] = []
    tree = _Tree(fs, path, base, out, problems)
    if info is not None and info.get("type") == "directory":
        found = [
            (relative, folder)
            for relative, folder in tree.everything(pattern)
            if (folder or not folders_only) and _matches(pattern, _parts(relative))
        ]
        # In the order of Python's glob's names sorted: 'sub-b/' before 'sub/' with a slash.
        matches = sorted(found, key=lambda match: match[0] + ("/" if folders_only else ""))
    if not matches:
        problems.append(f"{argument}: no file matches this pattern")
    base_key = _key(fs, path)
    for relative, folder in matches:
        for inner in tree.walk(relative) if folder else [relative]:
            key = join(base_key, inner)
            if wanted(inner) and not _under(key, out):  # a walk skips the output folder
                yield join(base, inner), inner, key


def _under(key: str, folder: str) -> bool:
    """Whether the key ``key`` is the key ``folder`` or lies under it."""
    return key == folder or key.startswith(folder.rstrip("/") + "/")


def _parts(relative: str) -> list[str]:
    return relative.split("/") if relative else []


def _matches(pattern: list[str], parts: list[str]) -> bool:
    """Whether the path ``parts`` matches the glob ``pattern``, both split at /: ``**``
    spans any number of folders, other parts match one name each (fnmatch, case sensitive,
    as Python's glob on POSIX)."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, parts[start:]) for start in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _matches(rest, parts[1:])
