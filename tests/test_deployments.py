"""prefect.yaml: every entrypoint imports to a flow, schedules are in the program's zone, offsets written."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_entrypoint_imports_to_a_flow(deployment: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect import Flow

    path, name = deployment["entrypoint"].split(":")
    spec = importlib.util.spec_from_file_location(f"entry_{name}", ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(getattr(module, name), Flow)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_a_worker_can_validate_the_parameters(deployment: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded by entrypoint, the flow parses its parameters as a run's JSON gives them (ISO date-times).

    (That a *served* run can do so too, in its own process, is proven in test_approval's deployed test.)
    """
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(ROOT)
    flow = load_flow_from_entrypoint(deployment["entrypoint"])
    parameters = flow.validate_parameters({"as_of": "2026-11-22T09:00:00+02:00"})
    assert parameters["as_of"] == datetime.fromisoformat("2026-11-22T09:00:00+02:00")


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_schedules_are_in_jerusalem_time_with_explicit_offsets(deployment: dict) -> None:
    for schedule in deployment.get("schedules", []):
        assert schedule["timezone"] == "Asia/Jerusalem"
        if "anchor_date" in schedule:
            # an anchor without an offset would be read as UTC
            assert datetime.fromisoformat(schedule["anchor_date"]).utcoffset() is not None
        if "cron" in schedule:
            days = schedule["cron"].split()[4]
            assert "5" not in days and "6" not in days and days != "*", "no scheduled runs on Friday or Saturday"
    assert deployment.get("concurrency_limit") == 1


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_every_run_is_tagged_for_the_leads_automations(deployment: dict) -> None:
    """The automations of `mentorflow setup-prefect` watch runs tagged `mentorflow`; the stage tag filters."""
    assert deployment["tags"][0] == "mentorflow" and len(deployment["tags"]) == 2


def test_the_watchs_own_intake_runs_are_tagged_as_the_intake_deployments() -> None:
    """The watch runs intake in its process (a run of its own): the same tags, so the same automations and filters."""
    from flows.watch import RUN_TAGS

    intake = next(d for d in DEPLOYMENTS if d["name"] == "intake")
    assert list(RUN_TAGS) == intake["tags"]


def test_no_secret_in_prefect_yaml() -> None:
    text = (ROOT / "prefect.yaml").read_text(encoding="utf-8").lower()
    for word in ("api_key:", "sg.", "password", "private_key"):
        assert word not in text


@pytest.mark.usefixtures("prefect_server")
def test_prefect_deploy_registers_every_deployment_with_its_schedules(tmp_path: Path) -> None:
    """`prefect deploy --all` (what the README tells the lead to run) against the session's server."""
    import os
    import subprocess
    import sys

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if k != "MENTORFLOW_HOME"}  # the README needs no such variable
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    prefect = [sys.executable, "-m", "prefect"]
    subprocess.run(
        [*prefect, "work-pool", "create", "mentorflow", "--type", "process", "--overwrite"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    deploy = subprocess.run(
        [*prefect, "--no-prompt", "deploy", "--all"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr[-2000:]
    with get_client(sync_client=True) as client:
        deployments = {d.name: d for d in client.read_deployments()}
    for expected in DEPLOYMENTS:
        got = deployments[expected["name"]]
        assert got.entrypoint == expected["entrypoint"]
        limit = got.global_concurrency_limit
        assert got.concurrency_limit == 1 or (limit is not None and limit.limit == 1)
        assert len(got.schedules) == len(expected.get("schedules", []))
        for schedule in got.schedules:
            assert schedule.schedule.timezone == "Asia/Jerusalem"
        # the worker runs the flows from the clone that was deployed (no environment variable to know)
        assert got.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
        assert {"mentorflow", *expected.get("tags", [])} <= set(got.tags)


def test_the_workers_settings_are_the_same_in_the_docs_the_readme_and_the_test_stack(tmp_path: Path) -> None:
    """The worker poll interval the latency figures were measured with is the one a lead is told to use."""
    from mentorflow.prefect_setup import WORKER_COMMAND, WORKER_ENV
    from tests.stack import Stack

    production = (ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stack = Stack(home=tmp_path, program_env={}).worker_env()
    for key, value in WORKER_ENV.items():
        assert f"\n{key}={value} " in production, "in worker.env"
        assert f"{key}={value} .venv/bin/prefect worker start" in readme
        assert stack[key] == value
    assert WORKER_COMMAND.endswith("prefect worker start --pool mentorflow")
