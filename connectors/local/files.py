"""Files that hold personal data: folders readable by their owner only (0700), files too (0600)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
