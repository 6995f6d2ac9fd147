"""The simulator's own Prefect set-up, without a server."""

from __future__ import annotations

import os
from pathlib import Path

from mentorflow.simulate.run import prefect_quiet


def test_the_prefect_home_outlives_each_seed_of_a_process() -> None:
    """A process runs several seeds against the one ephemeral server it started in its Prefect home: removing the
    home after the first seed deleted the server's database under it, and the later seeds of the full simulation
    failed with "unable to open database file" (500s, failed runs, false violations)."""
    with prefect_quiet():
        first = os.environ["PREFECT_HOME"]
    assert Path(first).is_dir(), "the server started in it may still be serving"
    with prefect_quiet():
        assert os.environ["PREFECT_HOME"] == first, "one home, one server, for every seed of the process"
    assert os.environ.get("PREFECT_HOME") != first, "the process's own settings come back after each seed"
