"""The newsletter: who gets it (opted in, not unsubscribed, in their language), its unsubscribe link and
headers, moderated quotes, and when a composed issue may go out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import Settings
from domain.links import person_key, verify_link
from domain.models import DigestIssue
from domain.newsletter import (
    UNSUBSCRIBE,
    Candidate,
    moderate_quote,
    newsletter_audience,
    quote_candidates,
    release,
    unsubscribe_headers,
    unsubscribe_token,
)
from mentorflow.bootstrap import Services, build_services, use_services

SECRET = "u4Xr9Qm2Lz7Tb1Kc8Vn3Wp6Hy0Sd5Fg"
NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
NAMES = ["דנה לוי", "Dana Levi", "Yossi Cohen", "שירה אברהם"]


def audience(candidates: list[Candidate], unsubscribed: list[str] = []) -> list[tuple[str, str]]:  # noqa: B006
    readers = newsletter_audience(
        candidates, unsubscribed, secret=SECRET, languages=["he", "en"], default_language="he"
    )
    return [(str(r.email), r.language) for r in readers]


def test_only_the_opted_in_get_it_once_each_in_their_language() -> None:
    people = [
        Candidate(email="a@example.org", name="A", languages=["en", "he"], opted_in=True),
        Candidate(email="b@example.org", name="B", languages=["ru"], opted_in=True),
        Candidate(email="c@example.org", name="C", languages=["he"], opted_in=False),
        Candidate(email="A@example.org", name="A again", languages=["he"], opted_in=True),
    ]
    assert audience(people) == [("a@example.org", "en"), ("b@example.org", "he")]


def test_an_unsubscribe_wins_over_any_opt_in() -> None:
    people = [
        Candidate(email="a@example.org", name="A", languages=["he"], opted_in=True),
        Candidate(email="b@example.org", name="B", languages=["en"], opted_in=True),
    ]
    assert audience(people, [person_key("A@Example.org", SECRET)]) == [("b@example.org", "en")]


def test_the_unsubscribe_link_is_signed_for_that_person_and_purpose() -> None:
    (reader,) = newsletter_audience(
        [Candidate(email="a@example.org", name="A", opted_in=True)],
        [],
        secret=SECRET,
        languages=["he"],
        default_language="he",
    )
    token = unsubscribe_token(reader, SECRET, NOW, 365)
    claims = verify_link(token, SECRET, UNSUBSCRIBE, NOW + timedelta(days=30))
    assert claims.subject == person_key("a@example.org", SECRET) and "example" not in token
    headers = unsubscribe_headers(f"https://example.org/u?token={token}", "lead@example.org")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://example.org/u?token=")
    assert "<mailto:lead@example.org?subject=unsubscribe>" in headers["List-Unsubscribe"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Great first talk, very practical advice on interviews",
            "Great first talk, very practical advice on interviews",
        ),
        (
            "Dana Levi was great, write her at dana.levi@example.org or 054-123-4567, she knows a lot about careers",
            "… … was great, write her at … or …, she knows a lot about careers",
        ),
        ("שיחה מצוינת עם דנה, קיבלתי כיוון ברור להמשך הדרך", "שיחה מצוינת עם …, קיבלתי כיוון ברור להמשך הדרך"),
        ("תודה לדנה!", None),  # nothing left worth quoting
        (
            "See https://tracker.example/p.gif and www.evil.example for more of my notes today",
            "See … and … for more of my notes today",
        ),
        ("Call Yossi Cohen +972 54 123 4567", None),
    ],
)
def test_quotes_lose_emails_phones_links_and_names_or_are_left_out(text: str, expected: str | None) -> None:
    assert moderate_quote(text, NAMES) == expected


def test_quote_candidates_have_stable_ids_and_no_duplicates() -> None:
    texts = ["Great first talk, very practical advice", "Great  first talk, very practical advice", "ok"]
    (only,) = quote_candidates(texts, NAMES)
    assert only.text == "Great first talk, very practical advice"
    assert quote_candidates(texts, NAMES)[0].id == only.id and len(only.id) == 6


def issue(**news: object) -> DigestIssue:
    base: dict[str, object] = dict(
        period_start=date(2026, 11, 22),
        period_end=date(2026, 12, 5),
        language="he",
        new_mentors=[],
        matches_made=0,
        meetings_held=0,
        answers=0,
        satisfaction_avg=None,
        satisfied_pct=None,
        in_touch_pct=None,
        adopted_pct=None,
        topics_in_demand=[],
        top_topics=[],
        quotes=[],
    )
    return DigestIssue.model_validate(base | news)


def test_an_issue_is_sent_only_when_approved_or_after_the_quiet_period_and_never_when_empty() -> None:
    news = issue(matches_made=3)
    assert release(issue(), NOW, True, NOW, "lead", 48) == "skip", "nothing to say: not sent, even approved"
    assert release(news, NOW, False, NOW + timedelta(days=30), "lead", 48) == "wait"
    assert release(news, NOW, True, NOW, "lead", 48) == "send"
    assert release(news, NOW, False, NOW + timedelta(hours=47), "quiet_period", 48) == "wait"
    assert release(news, NOW, False, NOW + timedelta(hours=48), "quiet_period", 48) == "send"


def test_the_local_outbox_writes_the_one_click_headers_and_refuses_injected_ones() -> None:
    import email

    from pydantic import ValidationError

    from connectors.base import Address, OutgoingEmail
    from connectors.local.outbox import DEFAULT_SENDER, build_message

    headers = unsubscribe_headers("https://example.org/u?token=abc")
    message = OutgoingEmail(
        key="newsletter:1",
        recipients=[Address(email="a@example.org", name="A")],
        subject="s",
        text="t",
        html="<p>t</p>",
        categories=["digest"],
        headers=headers,
    )
    parsed = email.message_from_bytes(build_message(message, message.recipients[0], DEFAULT_SENDER))
    assert parsed["List-Unsubscribe"] == "<https://example.org/u?token=abc>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with pytest.raises(ValidationError):
        message.model_copy(update={"headers": {"List-Unsubscribe": "<x>\r\nBcc: all@example.org"}}).model_validate(
            message.model_dump() | {"headers": {"List-Unsubscribe": "<x>\r\nBcc: all@example.org"}}
        )


FORM_HEADER = (
    "Response ID,Timestamp,Full name,Email address,Preferred languages,Topics (most important first),"
    "Career stage,Goals,Weekly availability,May we contact you?,Send me the newsletter?\n"
)
FORM_ROW = (
    "r{n},2026-11-{day:02d}T10:00:00+02:00,Noa Reader,noa.reader@example.org,English,Python,1,Grow,"
    "Sun 18:00-20:00,{ok},Yes\n"
)


AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def form_only(data_dir: Path) -> Services:
    """Services over ``data_dir`` with an empty inbox (the sample exports removed)."""
    for name in list((data_dir / "inbox").iterdir()):
        name.unlink()
    return build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]


def take_in(data_dir: Path, rows: list[str], at: datetime) -> None:
    """The form export holding ``rows`` (FORM_ROW lines), read by intake at ``at``."""
    from tasks.intake import fetch_responses, save_applications

    (data_dir / "inbox" / "form.csv").write_text(FORM_HEADER + "".join(rows), encoding="utf-8")
    save_applications.fn(fetch_responses.fn(), at)


def test_the_latest_answer_decides_who_reads(data_dir: Path) -> None:
    from tasks.newsletter import readers

    services = form_only(data_dir)
    first = FORM_ROW.format(n=1, day=20, ok="Yes")
    with use_services(services):
        take_in(data_dir, [first], AT)
        assert [str(r.email) for r in readers(services)] == ["noa.reader@example.org"]
        take_in(data_dir, [first, FORM_ROW.format(n=2, day=21, ok="No")], AT + timedelta(days=1))
        assert readers(services) == [], "a later answer refusing contact ends the newsletter too"


def test_refusing_contact_after_the_relationship_completed_ends_the_newsletter(data_dir: Path) -> None:
    """Invariant 4, found by the simulator: a mentee whose relationship had completed withdrew consent in a later
    answer (nothing open to cancel) and kept getting the newsletter their first answer asked for."""
    from domain.models import RequestStatus
    from tasks.newsletter import readers

    services = form_only(data_dir)
    first = FORM_ROW.format(n=1, day=1, ok="Yes")
    with use_services(services):
        take_in(data_dir, [first], AT)
        with services.store.unit_of_work() as uow:
            (request,) = uow.requests.all()
            for status in ("approved", "scheduled", "met", "completed"):
                uow.requests.transition(request.id, RequestStatus(status), "test", "", AT)
        assert [str(r.email) for r in readers(services)] == ["noa.reader@example.org"], "a completed mentee reads on"
        take_in(data_dir, [first, FORM_ROW.format(n=2, day=20, ok="No")], AT + timedelta(days=1))
        assert readers(services) == []
