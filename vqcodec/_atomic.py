"""Outputs that cannot be torn or destroy anything.

A regular file is written to a temp file in the destination's folder, then moved into place:
a reader of the destination sees either the old file or the whole new one, never a part. Any
error or exception on the way (including the KeyboardInterrupt/SystemExit the CLI raises for
SIGINT, SIGTERM and SIGHUP) removes the temp file and leaves the old output as it was. Only a
kill that cannot be caught (SIGKILL, power loss) can leave a hidden ``.NAME.XXXX.tmp``
behind, and even then the destination is untouched.

- Without ``overwrite``, the last step itself refuses to replace a file (a hard link, which
  fails if the name exists), so a file that another program created meanwhile is kept: the
  check before the work is only a courtesy, this is the guarantee.
- A symlink is followed: its target is replaced atomically and the link kept.
- A character device or a FIFO (``/dev/null``, ``/dev/stdout``, a named pipe) is written
  through, never replaced by a regular file. Other kinds (folders, block devices, sockets)
  are refused.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO

# Errors of os.link that mean "this file system has no hard links", not "the name exists".
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}
_RENAME_NOREPLACE = 1  # linux/fs.h
_AT_FDCWD = -100


def check_destination(path: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Raise the error writing to ``path`` would end in, before any work is done.

    ``FileExistsError`` for an existing file when not ``overwrite``; ``IsADirectoryError``
    for a folder; ``OSError`` for a block device or socket. A device or FIFO is fine.
    """
    _kind(os.fspath(path), overwrite)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[BinaryIO]:
    """Yield a binary file whose content becomes ``path`` when the block ends without error.

    The new file gets the old one's permissions, or the umask's default for a new file
    (``tempfile.mkstemp`` would make it private, 0600, which nobody asked for). Errors name
    ``path``, never the temp file.
    """
    shown = os.fspath(path)
    old = _kind(shown, overwrite)
    if old is not None and not stat.S_ISREG(old.st_mode):  # a device or a FIFO
        with open(shown, "wb") as handle:
            yield handle
        return
    target = os.path.realpath(shown)  # a symlink: replace its target, keep the link
    folder, name = os.path.split(target)
    temp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        _rename(error, shown, temp, target)
        raise
    try:
        with os.fdopen(fd, "wb") as handle:
            if old is not None:
                os.chmod(temp, stat.S_IMODE(old.st_mode))
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(temp, target)
        else:
            _move_without_replacing(temp, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if isinstance(error, OSError):
            _rename(error, shown, temp, target)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    # Keyword only when it differs from the default: tests wrap atomic_output(path) to
    # interrupt a write, and the default call is the one the library makes.
    options = {} if overwrite else {"overwrite": False}
    with atomic_output(path, **options) as handle:
        handle.write(data)


def _kind(path: str, overwrite: bool) -> os.stat_result | None:
    """The status of what ``path`` names now (None if nothing), or the error writing to it
    would give."""
    if path.endswith(("/", os.sep)):  # realpath would drop the slash and write a file
        raise IsADirectoryError(errno.EISDIR, "names a folder, not a file", path)
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    mode = status.st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    if stat.S_ISREG(mode):
        if not overwrite:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
        return status
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return status
    raise OSError(
        errno.EINVAL, "not a file, a character device or a FIFO; refusing to write to it", path
    )


def _move_without_replacing(temp: str, target: str) -> None:
    """Move ``temp`` to ``target`` in one step that fails with FileExistsError if ``target``
    exists by then (it may have appeared since the check before the work)."""
    try:
        os.link(temp, target)
    except OSError as error:
        if error.errno not in _NO_LINKS:
            raise
    else:
        os.unlink(temp)
        return
    if _rename_noreplace(temp, target):
        return
    # Last resort: claim the name (O_EXCL fails if it exists), then rename over our own claim.
    # A reader may see an empty file for a moment, but no other program's file is replaced.
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        raise


def _rename_noreplace(temp: str, target: str) -> bool:
    """``renameat2(RENAME_NOREPLACE)`` (Linux 3.15, glibc 2.28); False where the system or
    the file system lacks it."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = (
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    )
    source, destination = os.fsencode(temp), os.fsencode(target)
    if renameat2(_AT_FDCWD, source, _AT_FDCWD, destination, _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), temp, None, target)


def _rename(error: OSError, shown: str, temp: str, target: str) -> None:
    """Make ``error`` name the path the caller gave, not the temp file or resolved target.

    A system error that names no file (EFBIG, ENOSPC, EIO from a write or fsync) comes from
    writing this output, so it gets this output's name too.
    """
    if error.filename in (temp, target) or error.filename2 in (temp, target):
        error.filename, error.filename2 = shown, None
    elif error.filename is None and error.errno is not None:
        error.filename = shown
