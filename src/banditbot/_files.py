"""Files written whole: a part file beside the target, renamed over it at the end; and a
new database removed again when the command that created it was refused."""

from __future__ import annotations

import os
import re
import tempfile
import time
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
    takes no new file, a full disk) names ``path``, the file the user asked for. A part
    folder that a killed run left (``kill -9``) is removed by the next write of ``path``
    once it is a day old (:func:`_clear_stale`)."""
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    if target.exists() and not target.is_file():
        yield target
        return
    prefix = f".{target.name}.part-"  # (a name of its own: see _clear_stale)
    _clear_stale(target.parent, target.name, prefix)
    try:
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=prefix) as tmp:
            part = Path(tmp) / target.name
            yield part
            os.replace(part, target)
    except OSError as exc:  # an error names the file the caller asked for, not the part
        if not _is_part(exc.filename, target.parent, prefix):
            raise
        raise OSError(exc.errno, exc.strerror, os.fspath(path)) from None


#: a part folder nothing was written in for this long was left by a run that was killed
STALE_SECONDS = 24 * 3600


def _clear_stale(folder: Path, name: str, prefix: str) -> None:
    """Remove the part folders of ``name`` that runs killed before they could clean up left
    in ``folder`` (``kill -9``, a power cut): hidden folders named as
    :func:`replacing` names them, holding nothing but its part files, none written for
    :data:`STALE_SECONDS` (a live writer's part file is newer). Anything else is left."""
    own = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}")
    parts = {name, f"{name}.full"}
    try:
        entries = [e for e in os.scandir(folder) if own.fullmatch(e.name)]
    except OSError:
        return
    now = time.time()
    for entry in entries:
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            inside = list(os.scandir(entry.path))
            if any(f.name not in parts or not f.is_file(follow_symlinks=False)
                   for f in inside):
                continue
            newest = max([entry.stat(follow_symlinks=False).st_mtime,
                          *(f.stat(follow_symlinks=False).st_mtime for f in inside)])
            if now - newest < STALE_SECONDS:
                continue
            for f in inside:
                os.unlink(f.path)
            os.rmdir(entry.path)
        except OSError:  # (another run cleaning up the same folder, a permission)
            continue


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
