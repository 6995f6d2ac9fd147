"""The form watch takes new answers in itself (intake in its own process, a run of its own), once per set of
answers, and hands a set to the intake deployment only when that run did not complete."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prefect import flow

from config.settings import Settings
from domain.models import RequestStatus
from mentorflow.bootstrap import build_services, use_services

pytestmark = pytest.mark.usefixtures("prefect_server")

DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))


def intake_runs() -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        return list(client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["intake"]))))


def test_the_watch_takes_new_answers_in_itself_as_a_tagged_intake_run(data_dir: Path) -> None:
    from flows.watch import intake_watch

    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    before = len(intake_runs())
    with use_services(services):
        first = intake_watch(DAY0, hours=0, every_seconds=0)
        again = intake_watch(DAY0, hours=0, every_seconds=0)  # nothing new: no intake, no event
    assert (first.looks, first.taken_in, first.announced) == (1, 1, 0)
    assert (again.looks, again.taken_in, again.announced) == (1, 0, 0)
    with services.store.unit_of_work() as uow:
        assert uow.requests.all(RequestStatus.PENDING), "the answers are in the store"
    runs = intake_runs()
    assert len(runs) == before + 1, "one intake run for the one set of answers"
    newest = max(runs, key=lambda r: r.created)  # type: ignore[attr-defined]
    assert newest.parent_task_run_id is not None, "run inside the watch's process, not by the deployment"
    assert set(newest.tags) == {"mentorflow", "intake"}, "tagged as the deployment's runs: the lead's automations"
    assert newest.name.startswith("intake 2026-11-22")


def test_an_intake_that_did_not_complete_is_handed_to_the_deployment_once(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.watch

    @flow(name="intake")
    def broken(as_of: datetime | None = None) -> None:
        raise RuntimeError("injected")

    class Clock:
        """The watch's time: it moves only when the watch sleeps, so the number of looks does not depend on how
        long a look takes on a loaded machine (a real one let the first look use up the whole window)."""

        now = 0.0

        def monotonic(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.now += seconds

    announced: list[tuple[str, str, int]] = []
    monkeypatch.setattr(flows.watch, "intake", broken)
    monkeypatch.setattr(flows.watch, "announce", lambda event, stage, count: announced.append((event, stage, count)))
    monkeypatch.setattr(flows.watch, "time", Clock())
    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    with use_services(services):
        summary = flows.watch.intake_watch(DAY0, hours=0.5 / 3600, every_seconds=0.1)  # a few looks
    assert summary.looks >= 3
    assert (summary.taken_in, summary.announced) == (0, 1), "tried once here, then once by the deployment"
    assert [(e, s) for e, s, _ in announced] == [("mentorflow.form.answered", "watch")]
    assert announced[0][2] > 0


def test_two_intakes_over_the_same_answers_at_once_take_them_in_once(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch's own intake and a scheduled one read the same answers; the other commits first and the store's
    uniqueness refuses this one's write: the retry reads them as taken in, and the run completes."""
    from sqlalchemy.exc import IntegrityError

    from flows.intake import intake
    from store.requests import RequestRepository

    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    real = RequestRepository.save_applications
    raced: list[int] = []

    def the_other_intake_first(self: RequestRepository, apps, now):  # type: ignore[no-untyped-def]
        if not raced:
            with services.store.unit_of_work() as other:  # the other intake's transaction, committed first
                raced.append(real(other.requests, apps, now)["created"])
            raise IntegrityError("INSERT INTO requests …", {}, Exception("uq_requests_open_email"))
        return real(self, apps, now)

    monkeypatch.setattr(RequestRepository, "save_applications", the_other_intake_first)
    with use_services(services):
        summary = intake(DAY0)
    assert raced and raced[0] > 0, "the other intake took the answers in"
    assert summary.mentees.created == 0 and summary.mentees.unchanged >= raced[0], "this one found them taken in"
    with services.store.unit_of_work() as uow:
        emails = [str(r.application.email).lower() for r in uow.requests.all()]
    assert len(emails) == raced[0] and len(set(emails)) == len(emails), "one request per person"
