"""Nothing personal where Prefect keeps things: a failed write inside a flow run, read back via the Prefect API."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from mentorflow.bootstrap import build_services, use_services

pytestmark = pytest.mark.usefixtures("prefect_server")

SAMPLES = Path(__file__).resolve().parent.parent / "config" / "samples"
DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))


def personal_strings() -> set[str]:
    """Every email of the sample answers, and a few of the names (Hebrew and English)."""
    text = "".join((SAMPLES / name).read_text(encoding="utf-8") for name in ("mentees-he.csv", "mentees-en.json"))
    emails = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", text))
    assert len(emails) > 20
    return emails | {"שירה אברהם", "Ethan Brooks"}


async def _everything_prefect_kept(flow_run_id: object) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
        states = await client.read_flow_run_states(run.id)
        task_states = [s for t in tasks for s in await client.read_task_run_states(t.id)]
    parts = [run.name, str(run.state.message if run.state else "")]
    parts += [str(s.message) for s in [*states, *task_states]]
    parts += [t.name for t in tasks]
    parts += [log.message for log in logs]
    parts += [str(a.data) for a in artifacts]
    assert any("IntegrityError" in p or "injected" in p for p in parts), "the failure itself was recorded"
    return "\n".join(parts)


def test_a_failed_database_write_leaves_no_personal_data_in_prefect(data_dir: Path) -> None:
    from flows.intake import intake

    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    db = sqlite3.connect(data_dir / "mentorflow.db")
    db.execute(
        "CREATE TRIGGER fail_new_request BEFORE INSERT ON requests BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    db.commit()
    db.close()

    with use_services(services):
        state = intake(DAY0, return_state=True)  # type: ignore[call-overload]
    assert state.is_failed()
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, BaseException)

    kept = asyncio.run(_everything_prefect_kept(state.state_details.flow_run_id))
    texts = {"exception": f"{exc!r} {exc}", "prefect": kept}
    for where, text in texts.items():
        leaked = sorted(s for s in personal_strings() if s.casefold() in text.casefold())
        assert not leaked, f"{where} names people: {leaked[:3]}"
    assert "parameters hidden" in str(exc)


def test_every_file_the_flows_write_is_owner_only(data_dir: Path) -> None:
    """Store, outbox, invites, digests and survey answers under a permissive umask: 0600 files, 0700 folders."""
    import os
    import stat
    from datetime import timedelta

    from flows.digest import digest
    from flows.followup import followup
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match
    from mentorflow.demo import _simulate_answers
    from tasks.newsletter import approve_newsletter

    previous = os.umask(0o002)
    try:
        root = data_dir / "program"
        services = build_services(
            Settings(
                data_dir=root,
                intake_dir=data_dir / "inbox",  # type: ignore[call-arg]
                roster_path=data_dir / "mentors.yaml",
                _env_file=None,
            )
        )
        with use_services(services):
            intake(DAY0)
            match(DAY0, approval="auto")
            invite(DAY0)
            followup(DAY0 + timedelta(days=12))
            _simulate_answers(services, DAY0 + timedelta(days=12))
            followup(DAY0 + timedelta(days=14))
            assert digest(DAY0 + timedelta(days=14)).awaiting_approval
            approve_newsletter(services, [], DAY0 + timedelta(days=14, hours=1))
            assert digest(DAY0 + timedelta(days=14, hours=2)).published
    finally:
        os.umask(previous)
    for kind in ("outbox", "invites", "digests", "surveys"):
        assert any((root / kind).iterdir()), kind
    for path in [root, *root.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, f"{path.relative_to(root)}"


def test_replayed_expired_forged_and_ended_match_links_change_nothing(data_dir: Path) -> None:
    """Through the real follow-up flow and the local survey folder."""
    import csv
    from datetime import timedelta

    from domain.followup import survey_token
    from domain.models import Role
    from flows.followup import followup
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match

    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    secret = services.settings.survey_token_secret.get_secret_value()
    sent_at = DAY0 + timedelta(days=12)
    with use_services(services):
        intake(DAY0)
        match(DAY0, approval="auto")
        invite(DAY0)
        assert followup(sent_at).surveys_sent >= 4
    store = services.store
    with store.unit_of_work() as uow:
        first, other, ended = sorted({int(k.split(":")[1]) for k in uow.ledger.keys("survey:")})[:3]
        uow.matches.end(ended, "declined", "lead", sent_at)
    until = sent_at + timedelta(days=services.rules.followup.link_valid_days)

    def row(
        match_id: int, when: datetime, satisfaction: int, consent: str, key: str = secret, expires: datetime = until
    ) -> dict[str, object]:
        return {
            "token": survey_token(match_id, Role.MENTEE, key, expires),
            "timestamp": when.isoformat(),
            "satisfaction": satisfaction,
            "met": "yes",
            "still_in_touch": "yes",
            "adopted_idea": "yes",
            "free_text": "",
            "consent_quote": consent,
        }

    rows = [
        row(first, sent_at + timedelta(hours=3), 2, "no"),  # the genuine answer
        row(first, sent_at + timedelta(days=2), 5, "yes"),  # the forwarded link, replayed
        row(other, until + timedelta(minutes=1), 5, "yes"),  # after the link expired
        row(other, sent_at + timedelta(hours=5), 5, "yes", key="forged-secret-9Xq2LmT7vR4w"),
        row(ended, sent_at + timedelta(hours=4), 5, "yes"),  # the match has ended
    ]
    folder = data_dir / "surveys"
    folder.mkdir(exist_ok=True)
    with (folder / "answers.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    for day in (13, 14):  # a second run reads the same file again
        with use_services(services):
            summary = followup(DAY0 + timedelta(days=day))
        assert summary.answers_new == (1 if day == 13 else 0)
    with store.unit_of_work() as uow:
        answers = uow.followup.survey_answers()
        report = uow.reporting.status_report()
    assert [(a.match_id, a.satisfaction, a.consent_quote) for a in answers] == [(first, 2, False)]
    reasons = {r for s in report.set_aside for r in s.reasons}
    assert {
        "token: this survey link was already used; the first answer stands",
        "token: the survey link had expired when this answer was given",
        "token: not a valid survey link",
        "token: the match of this survey link has ended (or does not exist)",
    } <= reasons
