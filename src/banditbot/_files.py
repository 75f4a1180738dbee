"""Files written whole: a part file beside the target, renamed over it at the end; and a
new database removed again when the command that created it was refused."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["remove_database", "replacing", "write_whole"]


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A file to write in place of ``path``: it replaces ``path`` in one rename when the
    block ends without an error, and is removed otherwise — a reader never sees half a
    file, and a failed run leaves the previous file as it was, not one file of this run
    beside another of the last. The part file lives in a hidden folder of its own beside
    the target (two writers of one path never share it). A symbolic link's target is the
    file replaced (the link stays); a path that is not a regular file (``/dev/stdout``, a
    pipe) is written directly. An error about the part file or its folder (a folder that
    takes no new file, a full disk) names ``path``, the file the user asked for."""
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    if target.exists() and not target.is_file():
        yield target
        return
    prefix = f".{target.name}."
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=prefix) as tmp:
            part = Path(tmp) / target.name
            yield part
            os.replace(part, target)
    except OSError as exc:  # an error names the file the caller asked for, not the part
        if not _is_part(exc.filename, target.parent, prefix):
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None


def _is_part(name: object, folder: Path, prefix: str) -> bool:
    """Whether an error's file name is :func:`replacing`'s hidden folder or a file in it."""
    if not isinstance(name, str | bytes | os.PathLike):
        return False
    return os.path.abspath(os.fsdecode(name)).startswith(
        os.path.join(os.path.abspath(folder), prefix))


def write_whole(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see :func:`replacing`); an error
    names ``path``, not the part file."""
    with replacing(path) as part:
        part.write_bytes(data)


def remove_database(path: Path) -> None:
    """Remove a SQLite database and its ``-wal`` and ``-shm`` files (those that exist): what
    a refused write command does with the database it created, so bad input leaves no
    empty database behind."""
    for part in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        part.unlink(missing_ok=True)
