"""Ledger keys: the strings existing ledgers hold are written and read back unchanged."""

from __future__ import annotations

from datetime import date

import pytest

from domain.keys import (
    AckKey,
    DigestKey,
    DigestPreviewKey,
    EventKey,
    FixKey,
    InviteKey,
    LedgerKey,
    NewsletterKey,
    ReportKey,
    RescheduleKey,
    SelfServiceKey,
    SurveyKey,
    parse_key,
)
from domain.models import Role

KEYS: list[tuple[LedgerKey, str]] = [
    (EventKey(event_id="a1b2c3"), "event:a1b2c3"),
    (InviteKey(match_id=12, role=Role.MENTEE), "invite:12:mentee"),
    (SurveyKey(kind="survey", match_id=3, role=Role.MENTOR), "survey:3:mentor"),
    (SurveyKey(kind="reminder", match_id=3, role=Role.MENTEE), "reminder:3:mentee"),
    (RescheduleKey(match_id=7, n=2), "reschedule:7:2"),
    (DigestKey(start=date(2026, 11, 22), end=date(2026, 12, 5)), "digest:2026-11-22:2026-12-05"),
    (ReportKey(day=date(2026, 12, 20)), "report:2026-12-20"),
    (DigestPreviewKey(start=date(2026, 11, 22), end=date(2026, 12, 6)), "digest-preview:2026-11-22:2026-12-06"),
    (
        NewsletterKey(start=date(2026, 11, 22), end=date(2026, 12, 6), person="Ab-_9"),
        "newsletter:2026-11-22:2026-12-06:Ab-_9",
    ),
    (AckKey(request_id=5), "ack:5"),
    (FixKey(answer="0a1b2c"), "fixit:0a1b2c"),
    (SelfServiceKey(action_id=9), "selfservice:9"),
]


@pytest.mark.parametrize(("key", "text"), KEYS)
def test_keys_keep_their_strings_and_parse_back(key: LedgerKey, text: str) -> None:
    assert str(key) == text
    assert parse_key(text) == key


def test_prefixes_match_their_keys() -> None:
    assert str(SurveyKey(kind="reminder", match_id=3, role=Role.MENTEE)).startswith(SurveyKey.prefix("reminder"))
    assert str(RescheduleKey(match_id=7, n=1)).startswith(RescheduleKey.prefix(7))
    assert not str(RescheduleKey(match_id=71, n=1)).startswith(RescheduleKey.prefix(7))


@pytest.mark.parametrize("text", ["", "invite:12", "invite:x:mentee", "survey:3:lead", "digest:2026-13-01:x", "nope:1"])
def test_strings_no_builder_makes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_key(text)
