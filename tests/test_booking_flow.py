"""A booking-link mentor end to end through the flows: import from the mentors page (no email), match without
shared time, the match email with the link and no calendar event, one nudge, the flag, and "we met"."""

from __future__ import annotations

import csv
import email
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from domain.followup import survey_token
from domain.models import RequestStatus, Role
from mentorflow.bootstrap import Services, build_services, use_services

pytestmark = pytest.mark.usefixtures("prefect_server")

TZ = ZoneInfo("Asia/Jerusalem")
DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)
PAGE_ROW = """<table><tr><th>שם מלא</th><th>במה אני יכול לעזור</th><th>קישור ליצירת קשר</th></tr>
<tr><td>נועה ברקאי</td><td>פייתון, ראיונות עבודה</td><td><a href="https://calendly.com/noa/30min">לקביעה</a></td></tr>
<tr><td>יובל כהן</td><td>פייתון</td><td><a href="https://cal.com/yuval">לקביעה</a></td></tr></table>
"""
MENTEES = [("דנה", "dana@example.org"), ("רון", "ron@example.org")]


@pytest.fixture
def program(tmp_path: Path) -> Path:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "mentors.md").write_text(PAGE_ROW, encoding="utf-8")
    with (tmp_path / "inbox" / "mentees.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(
            fh,
            [
                "Timestamp",
                "Full name",
                "Email address",
                "Preferred languages",
                "Topics (most important first)",
                "Career stage",
                "Weekly availability",
                "May we contact you?",
            ],
        )
        w.writeheader()
        for n, (name, address) in enumerate(MENTEES):
            w.writerow(
                {
                    "Timestamp": f"2026-11-20T10:0{n}:00+02:00",
                    "Full name": name,
                    "Email address": address,
                    "Preferred languages": "he",
                    "Topics (most important first)": "Python",
                    "Career stage": "1",
                    "Weekly availability": "Wed 07:00-08:00",
                    "May we contact you?": "yes",
                }
            )
    return tmp_path


def services_for(folder: Path) -> Services:
    return build_services(Settings(data_dir=folder, roster_path=folder / "mentors.md", _env_file=None))  # type: ignore[call-arg]


def sent(folder: Path, kind: str = "") -> list[email.message.Message]:
    """The emails in the outbox, acknowledgments of applications apart (``kind="ack"``: only those)."""
    paths = sorted((folder / "outbox").glob("*.eml"))
    return [email.message_from_bytes(p.read_bytes()) for p in paths if p.name.startswith("ack") == (kind == "ack")]


def body(msg: email.message.Message) -> str:
    return "".join(p.get_payload(decode=True).decode() for p in msg.walk() if p.get_content_type() == "text/plain")


def test_booking_link_lifecycle(program: Path) -> None:
    from flows.followup import followup
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match

    services = services_for(program)
    secret = services.settings.survey_token_secret.get_secret_value()
    with use_services(services):
        intake(DAY0)
        match(DAY0, approval="auto")
        invite(DAY0)
        with services.store.unit_of_work() as uow:
            mentors = uow.roster.mentors()
            scheduled = uow.requests.all(RequestStatus.SCHEDULED)
            matches = uow.matches.made(DAY0 - timedelta(days=1), DAY0 + timedelta(days=1))
        assert sorted(m.key for m in mentors) == ["booking:cal.com/yuval", "booking:calendly.com/noa/30min"]
        assert all(m.email is None for m in mentors)
        # nobody shares a weekly window with them (they have none): matched all the same
        assert len(scheduled) == 2 and len(matches) == 2
        assert not list(program.glob("invites/*.ics")), "no calendar event"
        first = sent(program)
        assert len(first) == 2, "one match email per mentee; none to the mentors, who have no email"
        assert len(sent(program, "ack")) == 2, "and, before it, each mentee's acknowledgment"
        assert all("mentee-unreachable" in body(m) for m in first), "self-service links in the match email"
        assert {m["To"].split("<")[-1].rstrip(">") for m in first} == {"dana@example.org", "ron@example.org"}
        for msg in first:
            assert "calendly.com/noa/30min" in body(msg) or "cal.com/yuval" in body(msg)
            assert "text/calendar" not in [p.get_content_type() for p in msg.walk()]

        followup(DAY0 + timedelta(days=6))
        assert len(sent(program)) == 2, "nothing before the nudge is due"
        followup(DAY0 + timedelta(days=7, hours=1))
        followup(DAY0 + timedelta(days=8))
        with services.store.unit_of_work() as uow:
            nudges = uow.ledger.keys("nudge:")
        assert nudges == {f"nudge:{m.id}" for m in matches}, "one nudge per match, never two"
        # Dana answers the survey: they met
        with services.store.unit_of_work() as uow:
            by_mentee = {str(uow.requests.get(m.request_id).application.email): m for m in matches}
        dana = by_mentee["dana@example.org"]
        folder = services.settings.survey_inbox()
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "answers.csv").open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ["token", "timestamp", "satisfaction", "met", "still_in_touch", "adopted_idea"])
            w.writeheader()
            w.writerow(
                {
                    "token": survey_token(dana.id, Role.MENTEE, secret, DAY0 + timedelta(days=30)),
                    "timestamp": (DAY0 + timedelta(days=9)).isoformat(),
                    "satisfaction": "5",
                    "met": "yes",
                    "still_in_touch": "yes",
                    "adopted_idea": "yes",
                }
            )
        followup(DAY0 + timedelta(days=15))
        with services.store.unit_of_work() as uow:
            dana_req = uow.requests.get(dana.request_id)
            ron_req = uow.requests.get(by_mentee["ron@example.org"].request_id)
            flags = {(f.match_id, f.kind) for f in uow.followup.flags()}
            survey_keys = uow.ledger.keys("survey:")
    assert dana_req.status is RequestStatus.MET
    assert ron_req.status is RequestStatus.SCHEDULED
    assert (by_mentee["ron@example.org"].id, "no_booking") in flags
    assert (dana.id, "no_booking") not in flags
    assert all(k.endswith(":mentee") for k in survey_keys), "no survey to a mentor without email"
