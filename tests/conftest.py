"""Shared fixtures: one Prefect server per test session (own PREFECT_HOME), and services built explicitly."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests: no per-example deadline on a shared 2-core machine; CI replays a fixed set of examples.
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.register_profile("ci", deadline=None, derandomize=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test tiers: what needs the Prefect server or PostgreSQL carries its marker (``make test-fast`` skips both)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "prefect_server" in fixtures:
            item.add_marker(pytest.mark.prefect)
        if "postgres_url" in fixtures or any(v == "postgres" for v in params.values() if isinstance(v, str)):
            item.add_marker(pytest.mark.postgres)


SAMPLES = ROOT / "config" / "samples"


# Measured: the test server took over 120 s to start on 2 cores shared by several test runs (load 20-30).
STARTUP_SECONDS = int(os.environ.get("MENTORFLOW_TEST_PREFECT_STARTUP_SECONDS", "600"))


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Start Prefect's test server once, with its own home, no heartbeat thread and a bounded thread pool."""
    from benchmarks.program import prefect_server as quiet_server

    with quiet_server(tmp_path_factory.mktemp("prefect-home"), STARTUP_SECONDS):
        yield


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store file at the newest schema, made once per session by the program's own migrations: a test
    that needs an empty store copies it (running the migrations takes a few tenths of a second each time)."""
    from store.db import engine_for
    from store.uow import Store

    path = tmp_path_factory.mktemp("migrated") / "mentorflow.db"
    url = f"sqlite:///{path}"
    Store.open(url)
    engine_for(url).dispose()  # the last connection closed: the write-ahead log is folded into the file
    return path


def _empty_store(migrated: Path, path: Path) -> str:
    """A copy of the migrated store at ``path`` (owner-only, as the program makes it); its URL."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(migrated, path)
    os.chmod(path, 0o600)
    return f"sqlite:///{path}"


@pytest.fixture
def store_url(tmp_path: Path, migrated_store: Path) -> str:
    """The URL of an empty SQLite store of this test's own."""
    return _empty_store(migrated_store, tmp_path / "store.db")


@pytest.fixture
def data_dir(tmp_path: Path, migrated_store: Path) -> Path:
    """A program folder seeded with the sample roster and form exports, and an empty store."""
    _empty_store(migrated_store, tmp_path / "mentorflow.db")
    (tmp_path / "inbox").mkdir()
    shutil.copy(SAMPLES / "mentors.yaml", tmp_path / "mentors.yaml")
    for name in ("mentees-he.csv", "mentees-en.json"):
        shutil.copy(SAMPLES / name, tmp_path / "inbox" / name)
    return tmp_path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped at the end), or skip when none is configured."""
    base = os.environ.get("MENTORFLOW_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("MENTORFLOW_REQUIRE_POSTGRES"):
            pytest.fail("MENTORFLOW_REQUIRE_POSTGRES is set but MENTORFLOW_TEST_POSTGRES_URL is not")
        pytest.skip("set MENTORFLOW_TEST_POSTGRES_URL to test the store on PostgreSQL")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"mentorflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("MENTORFLOW_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {type(exc).__name__}")
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    from store.db import engine_for

    engine_for(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
