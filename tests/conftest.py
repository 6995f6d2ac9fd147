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
    home = tmp_path_factory.mktemp("prefect-home")
    os.environ["PREFECT_HOME"] = str(home)
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    quiet = {
        PREFECT_HOME: home,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS: 4,
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
    }
    with temporary_settings(quiet), prefect_test_harness(server_startup_timeout=STARTUP_SECONDS):
        yield


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A program folder seeded with the sample roster and form exports."""
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
