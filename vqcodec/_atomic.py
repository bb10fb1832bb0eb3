"""Atomic file output: a temp file in the destination folder, then ``os.replace``.

A reader of the destination sees either the old file or the whole new one, never a part;
any error or exception on the way (including the KeyboardInterrupt/SystemExit the CLI raises
for SIGINT, SIGTERM and SIGHUP) removes the temp file and leaves the old output as it was.
Only a kill that cannot be caught (SIGKILL, power loss) can leave a hidden
``.NAME.XXXX.tmp`` behind, and even then the destination is untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from typing import BinaryIO


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``path`` when the block ends without error.

    The new file gets the old one's permissions, or the umask's default for a new file
    (``tempfile.mkstemp`` would make it private, 0600, which nobody asked for).
    """
    target = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(target))
    temp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_output(path) as handle:
        handle.write(data)
