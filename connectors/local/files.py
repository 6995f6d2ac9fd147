"""Files that hold personal data: folders readable by their owner only (0700), files too (0600)."""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as owner-only folders (an existing parent is left as it is)."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is narrowed by the umask, never widened: be explicit
    if path.is_dir() and path.stat().st_mode & 0o777 != PRIVATE_DIR and os.access(path, os.W_OK):
        os.chmod(path, PRIVATE_DIR)
    return path


def write_private(path: Path, data: bytes, temp: Path | None = None, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` as an owner-only file, atomically (temp file in the folder, then rename).

    ``temp``: the temp file's own path, for a target that only one writer ever writes at a time (it is opened
    truncated, so what a killed write left there is overwritten); by default a fresh unique one. ``durable``:
    the data reaches the disk (fsync) before the rename; without it, only the kill of a process is covered."""
    private_dir(path.parent)
    if temp is None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    else:
        tmp = str(temp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sync_folders(folders: set[Path], files: list[Path]) -> None:
    """Make ``files`` and the entries of ``folders`` durable: one ``syncfs`` per file system where Linux offers
    it (a journal commit for the whole batch instead of one per file), else an fsync of each file and folder."""
    libc = _libc()
    if libc is not None:
        for folder in folders:
            fd = os.open(folder, os.O_RDONLY)
            try:
                if libc.syncfs(fd) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            finally:
                os.close(fd)
        return
    for path in [*files, *folders]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _libc() -> Any:
    """The C library when it has ``syncfs`` (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "syncfs") else None
    except OSError:
        return None


class StagedFiles:
    """Files written now and put in place together, durably, by :meth:`commit` (issue #12).

    A batch of side effects writes each file under its hidden temp name (``.<name>.tmp``, as
    :func:`write_private` with a ``temp``: a killed run's is overwritten by the next write), with no sync.
    ``commit`` then makes all their data durable in one sync, renames each into place, writes the markers
    (files whose existence says "these are in place"), and syncs again, so that a caller may record the batch
    done once it returns. Before ``commit`` nothing is in place: a kill, or a power cut, leaves no file under its
    final name (a rerun writes it again) and never a final file without its content. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[Path, bytes]] = {}  # final path → (temp path, data)
        self._markers: dict[Path, bytes] = {}
        self._folders: set[Path] = set()  # made private once per batch, not once per file

    def write(self, path: Path, data: bytes) -> None:
        """Write ``data`` under ``path``'s temp name (owner-only), to be put in place by :meth:`commit`."""
        if path.parent not in self._folders:
            private_dir(path.parent)
            self._folders.add(path.parent)
        temp = path.with_name(f".{path.name}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        with self._lock:
            self._files[path] = (temp, data)

    def mark(self, path: Path, data: bytes) -> None:
        """Write this marker after every file staged before it is in place (its content is not synced: only
        its existence is ever read)."""
        with self._lock:
            self._markers[path] = data

    def staged(self, path: Path) -> bytes | None:
        """The data staged for ``path`` and not yet committed, if any."""
        with self._lock:
            found = self._files.get(path)
        return found[1] if found is not None else None

    def commit(self) -> None:
        """Sync the staged files, put them in place, write the markers, sync again. On an error the files not
        yet in place stay staged for the next ``commit`` (their markers too)."""
        with self._lock:
            files, self._files = dict(self._files), {}
            markers, self._markers = dict(self._markers), {}
        if not files and not markers:
            return
        try:
            folders = {p.parent for p in [*files, *markers]}
            _sync_folders(folders, [temp for temp, _ in files.values()])
            for path, (temp, _) in list(files.items()):
                os.replace(temp, path)
                del files[path]
            for path, data in list(markers.items()):
                # written in place: only its existence is read, and it appears after every file it speaks for
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                del markers[path]
            _sync_folders(folders, [])
        except BaseException:
            with self._lock:
                self._files = {**files, **self._files}
                self._markers = {**markers, **self._markers}
            raise
