"""Signed links: bound to purpose, person, match and expiry; survey answers act once, in time, for live matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.followup import LinkedAnswer, read_survey_link, screen_survey_answers, survey_token
from domain.links import LinkClaims, LinkRefused, person_key, sign_link, verify_link
from domain.models import Role, SurveyAnswer

SECRET = "8f3c1d9e7a6b5c4d3e2f1a0b9c8d7e6f"
SENT = datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
UNTIL = SENT + timedelta(days=14)


def claims(**over: object) -> LinkClaims:
    base: dict[str, object] = {
        "purpose": "unsubscribe",
        "subject": person_key("dana@example.org", SECRET),
        "match_id": None,
        "expires": UNTIL,
    }
    return LinkClaims.model_validate(base | over)


def test_a_link_verifies_for_its_purpose_until_it_expires() -> None:
    token = sign_link(claims(), SECRET)
    assert "dana" not in token and "example" not in token
    assert verify_link(token, SECRET, "unsubscribe", SENT) == claims()
    assert verify_link(token, SECRET, "unsubscribe", UNTIL) == claims(), "valid up to and including its expiry"
    with pytest.raises(LinkRefused, match="expired"):
        verify_link(token, SECRET, "unsubscribe", UNTIL + timedelta(seconds=1))


@pytest.mark.parametrize("tamper", ["purpose", "secret", "subject", "match", "expiry", "signature", "garbage"])
def test_a_forged_link_is_refused(tamper: str) -> None:
    token = sign_link(claims(match_id=42, purpose="survey", subject="mentee"), SECRET)
    match, subject, expiry, sig = token.split(".")
    purpose, secret = "survey", SECRET
    if tamper == "purpose":
        purpose = "erase"
    elif tamper == "secret":
        secret = SECRET[::-1]
    elif tamper == "subject":
        token = ".".join([match, "mentor", expiry, sig])
    elif tamper == "match":
        token = ".".join(["43", subject, expiry, sig])
    elif tamper == "expiry":
        token = ".".join([match, subject, "zzzzzz", sig])
    elif tamper == "signature":
        token = ".".join([match, subject, expiry, sig[:-1] + ("A" if sig[-1] != "A" else "B")])
    else:
        token = "42.mentee"
    with pytest.raises(LinkRefused, match="not a valid link"):
        verify_link(token, secret, purpose, SENT)


def test_person_keys_are_stable_opaque_and_secret_bound() -> None:
    assert person_key("Dana@Example.org ", SECRET) == person_key("dana@example.org", SECRET)
    assert person_key("dana@example.org", SECRET) != person_key("dana@example.org", SECRET[::-1])
    assert "dana" not in person_key("dana@example.org", SECRET)


# --- survey answers through their links ----------------------------------------------------------------------


def answer(
    hours_after_sending: float,
    satisfaction: int = 5,
    consent: bool = False,
    match_id: int = 7,
    role: Role = Role.MENTEE,
) -> SurveyAnswer:
    return SurveyAnswer(
        match_id=match_id,
        role=role,
        submitted_at=SENT + timedelta(hours=hours_after_sending),
        satisfaction=satisfaction,
        met=True,
        still_in_touch=True,
        adopted_idea=True,
        consent_quote=consent,
    )


def linked(a: SurveyAnswer, ref: str = "row 2", until: datetime = UNTIL) -> LinkedAnswer:
    link = read_survey_link(survey_token(a.match_id, a.role, SECRET, until), SECRET)
    assert link is not None
    return LinkedAnswer(answer=a, link=link, source="surveys", ref=ref)


def test_the_first_answer_through_a_link_is_kept_and_reading_it_again_changes_nothing() -> None:
    first = answer(2)
    kept, refused = screen_survey_answers([linked(first)], [], ended=[])
    assert (kept, refused) == ([first], [])
    kept, refused = screen_survey_answers([linked(first)], [first], ended=[])
    assert (kept, refused) == ([first], []), "the stored answer read again passes unchanged"


def test_a_replayed_link_does_not_rewrite_the_answer_or_the_consent() -> None:
    first, replay = answer(2, satisfaction=2, consent=False), answer(50, satisfaction=5, consent=True)
    kept, refused = screen_survey_answers([linked(first, "row 2"), linked(replay, "row 3")], [], ended=[])
    assert kept == [first]
    assert [(r.ref, r.reasons) for r in refused] == [
        ("row 3", ["token: this survey link was already used; the first answer stands"])
    ]
    kept, refused = screen_survey_answers([linked(replay, "row 3")], [first], ended=[])
    assert kept == [] and len(refused) == 1, "a later run refuses the replay against the stored answer too"


def test_an_answer_after_the_link_expired_is_refused() -> None:
    late = answer(14 * 24 + 1)
    kept, refused = screen_survey_answers([linked(late)], [], ended=[])
    assert kept == [] and refused[0].reasons == ["token: the survey link had expired when this answer was given"]


def test_an_answer_for_an_ended_match_is_refused() -> None:
    kept, refused = screen_survey_answers([linked(answer(2, match_id=9))], [], ended=[9])
    assert kept == [] and "has ended" in refused[0].reasons[0]


def test_a_forged_survey_token_does_not_read() -> None:
    token = survey_token(7, Role.MENTEE, SECRET, UNTIL)
    assert read_survey_link(token, "another-secret-of-enough-length") is None
    assert read_survey_link(token.replace(".mentee.", ".mentor.", 1), SECRET) is None
    assert read_survey_link(sign_link(claims(match_id=7, subject="mentee"), SECRET), SECRET) is None, (
        "an unsubscribe link is not a survey link"
    )


def test_keys_hashes_and_signatures_stay_what_they_were() -> None:
    """Stored person keys and forgotten hashes, and links already sent, must read the same after a change of how
    they are computed (values of the hmac.new version)."""
    from domain.erasure import forgotten_hash

    assert forgotten_hash(" Dana@Example.org ", "s3cret") == (
        "598ff2af5fda1291b936e4160e61d33be41802caebc4bb6a63d70ce245e79270"
    )
    assert person_key("Dana@Example.org", "s3cret") == "nhAzSVz74PTRicAy"
    claims = LinkClaims(purpose="withdraw", subject="abc", match_id=7, expires=datetime(2026, 12, 1, tzinfo=UTC))
    assert sign_link(claims, "s3cret") == "7.abc.tpcao0.xKAizPtKT_wqqdD_gA7qJg"
