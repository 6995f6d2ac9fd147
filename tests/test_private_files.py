"""Files holding personal data are readable by their owner only: 0600 files in 0700 folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from config.settings import Settings
from connectors.local.files import private_dir, write_private
from mentorflow.bootstrap import build_services


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask():  # type: ignore[no-untyped-def]
    """A permissive umask, as on many desktops: owner-only must not depend on the user's umask."""
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def test_private_folders_and_files(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    folder = private_dir(shared / "a" / "b")
    assert mode(shared / "a") == mode(folder) == 0o700
    write_private(folder / "x.eml", b"data")
    assert mode(folder / "x.eml") == 0o600 and (folder / "x.eml").read_bytes() == b"data"
    assert mode(shared) == 0o755, "an existing parent is left alone"


def test_the_store_file_is_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "program"
    build_services(Settings(data_dir=data, _env_file=None))  # type: ignore[call-arg]
    assert mode(data) == 0o700
    for path in data.glob("mentorflow.db*"):
        assert mode(path) == 0o600, path.name
