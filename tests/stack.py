"""The production profile on this machine: a Prefect server (PostgreSQL or SQLite, basic auth), the program
set up by ``mentorflow setup-prefect``, and process workers; used by tests/test_production.py and
benchmarks/latency.py. Every process is ours and is stopped by id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """Server, setup and workers, each a subprocess with its own environment (no ~/.prefect touched)."""

    home: Path
    program_env: dict[str, str]  # MENTORFLOW_* for the workers and setup (store, connectors, rules)
    auth: str = "lead:a-long-random-password"
    prefect_database_url: str | None = None  # postgresql+asyncpg://… (else SQLite in home)
    workers: int = 2
    worker_hidden: tuple[str, ...] = ()  # settings the workers must read from Secret blocks, not their environment
    port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MENTORFLOW_"))}
        prefect = {
            "PREFECT_HOME": str(self.home / "prefect-home"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_API_AUTH_STRING": self.auth,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
        return {**base, **prefect, **self.program_env, **extra}

    def start(self, *, setup_args: tuple[str, ...] = ()) -> Stack:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        server_env = self.env(PREFECT_SERVER_API_AUTH_STRING=self.auth)
        if self.prefect_database_url:
            server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = self.prefect_database_url
        self._spawn(
            "server",
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-ui",
            ],
            server_env,
        )
        self._wait_healthy()
        setup = subprocess.run(
            [sys.executable, "-m", "mentorflow", "setup-prefect", "--no-prompt", *setup_args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if setup.returncode != 0:
            raise RuntimeError(f"setup-prefect failed:\n{setup.stdout[-3000:]}\n{setup.stderr[-3000:]}")
        self.setup_output = setup.stdout
        for i in range(self.workers):
            self._spawn(
                f"worker-{i}",
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    "mentorflow",
                    "--name",
                    f"worker-{i}",
                    "--type",
                    "process",
                ],
                self.worker_env(),
            )
        return self

    # The REST API as the lead's tools use it (basic auth), for what the tests and the benchmark need.
    def api(self, method: str, path: str, body: object = None) -> object:
        response = httpx.request(
            method, self.api_url + path, json=body, auth=tuple(self.auth.split(":", 1)), timeout=30
        )  # type: ignore[arg-type]
        response.raise_for_status()
        return response.json() if response.content else None

    def deployment(self, name: str) -> dict[str, object]:
        return self.api("GET", f"/deployments/name/{name}")  # type: ignore[return-value]

    def pause_schedules(self) -> None:
        """Every deployment's schedules off: only the runs a test starts (and the triggers they cause) run."""
        for dep in self.api("POST", "/deployments/filter", {}):  # type: ignore[union-attr]
            for schedule in dep["schedules"]:
                self.api("PATCH", f"/deployments/{dep['id']}/schedules/{schedule['id']}", {"active": False})

    def run_deployment(self, name: str, parameters: dict[str, object]) -> str:
        dep = self.deployment(name)
        run = self.api("POST", f"/deployments/{dep['id']}/create_flow_run", {"parameters": parameters})
        return str(run["id"])  # type: ignore[index]

    def wait_for_workers(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            workers = self.api("POST", "/work_pools/mentorflow/workers/filter", {})
            if sum(w["status"] == "ONLINE" for w in workers) >= count:  # type: ignore[union-attr]
                return
            time.sleep(1)
        raise TimeoutError(f"fewer than {count} workers online")

    def flow_runs(self) -> list[dict[str, object]]:
        runs = self.api("POST", "/flow_runs/filter", {"sort": "EXPECTED_START_TIME_ASC"})
        return [{"name": r["name"], "tags": r["tags"], "state": r["state_name"]} for r in runs]  # type: ignore[union-attr]

    def worker_env(self) -> dict[str, str]:
        from mentorflow.prefect_setup import WORKER_ENV

        env = self.env(**WORKER_ENV)  # the production profile's worker settings (docs/production.md)
        return {k: v for k, v in env.items() if k not in self.worker_hidden}

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        log = (self.home / "logs" / f"{name}.log").open("wb")
        # own session: stopping the group also stops the flow-run processes a worker started
        self.processes.append(
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )

    def _wait_healthy(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[0].poll() is not None:
                raise RuntimeError("the Prefect server exited:\n" + self.log("server")[-3000:])
            try:
                if httpx.get(self.api_url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError("the Prefect server did not become healthy:\n" + self.log("server")[-3000:])

    def log(self, name: str) -> str:
        path = self.home / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for proc in reversed(self.processes):
            self._signal(proc, signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout=10)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # the group this stack started, by its id

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
