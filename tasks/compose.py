"""Connector payloads (calendar events, emails) composed from the store's records and rendered messages."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from jinja2 import Environment

from config.settings import Settings
from connectors.base import Address, Attachment, CalendarEvent, OutgoingEmail
from domain.followup import survey_token
from domain.keys import InviteKey, NudgeKey, SurveyKey
from domain.links import person_key
from domain.messages import Rendered, pick_language, render_invitation, render_survey
from domain.models import Match, Meeting, Mentor, MentoringRequest, Role
from domain.rules import ProgramRules
from domain.selfservice import SelfServiceLink, self_service_links


def event_id_for(install_id: str, match_id: int) -> str:
    """Deterministic calendar id of a match's first meeting (base32hex, as Google requires).

    Salted with the installation id, so a fresh database never collides with an old one's events.
    """
    digest = hashlib.sha256(f"{install_id}:first-meeting:{match_id}".encode()).digest()
    return base64.b32hexencode(digest).decode().rstrip("=").lower()[:32]


def calendar_event(
    meeting: Meeting, match: Match, request: MentoringRequest, mentor: Mentor, rules: ProgramRules, settings: Settings
) -> CalendarEvent:
    """The first meeting as both calendars should show it (reasons and accessibility needs included)."""
    app = request.application
    lines = [f"{rules.program_name}: first mentoring meeting."]
    if meeting.video_link:
        lines.append(f"Video: {meeting.video_link}")
    lines.append("Why this match: " + "; ".join(match.reasons))
    if meeting.accessibility_needs:
        lines.append(f"Accessibility needs: {meeting.accessibility_needs}")
    return CalendarEvent(
        event_id=meeting.event_id,
        summary=f"{rules.program_name}: {app.name} & {mentor.name}",
        description="\n".join(lines),
        start=meeting.start,
        end=meeting.end,
        timezone=settings.timezone,
        organizer=Address(email=rules.from_email, name=rules.program_name),
        attendees=[Address(email=str(app.email), name=app.name), Address(email=str(mentor.email), name=mentor.name)],
        location=meeting.video_link,
        video_link=meeting.video_link,
    )


def _email(
    key: str,
    to: Address,
    rendered: Rendered,
    language: str,
    categories: list[str],
    custom_args: dict[str, str],
    rules: ProgramRules,
    attachments: list[Attachment] | None = None,
) -> OutgoingEmail:
    return OutgoingEmail(
        key=key,
        recipients=[to],
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        language=language,
        attachments=attachments or [],
        categories=categories,
        custom_args=custom_args,
        reply_to=Address(email=rules.lead_email, name=rules.program_name),
        sender=Address(email=rules.from_email, name=rules.program_name),
    )


def _side(role: Role, request: MentoringRequest, mentor: Mentor, rules: ProgramRules) -> tuple[Address, str, str]:
    """One side of a match: their address, the language to write to them in, the other side's name."""
    app = request.application
    if role is Role.MENTEE:
        return (
            Address(email=str(app.email), name=app.name),
            pick_language(app.languages, rules.digest.language),
            mentor.name,
        )
    return (
        Address(email=str(mentor.email), name=mentor.name),
        pick_language(mentor.languages, rules.digest.language),
        app.name,
    )


def links_for(
    role: Role,
    request: MentoringRequest,
    mentor: Mentor | None,
    rules: ProgramRules,
    secret: str,
    now: datetime,
    match_id: int | None = None,
) -> list[SelfServiceLink]:
    """One side's signed self-service links (mentee: withdraw, pause, could not reach; mentor: pause,
    capacity, could not reach), valid ``self_service.link_valid_days`` from ``now``."""
    expires = now + timedelta(days=rules.self_service.link_valid_days)
    if role is Role.MENTEE:
        person = person_key(str(request.application.email), secret)
        return self_service_links(
            role, person, secret, expires, rules.self_service, request_id=request.id, match_id=match_id
        )
    assert mentor is not None
    person = person_key(mentor.key, secret)
    return self_service_links(role, person, secret, expires, rules.self_service, match_id=match_id)


def invitation_email(
    env: Environment,
    role: Role,
    meeting: Meeting,
    match: Match,
    request: MentoringRequest,
    mentor: Mentor,
    rules: ProgramRules,
    tz: str,
    ics: bytes | None,
    nudge: bool = False,
    links: Sequence[SelfServiceLink] = (),
) -> OutgoingEmail:
    """The invitation to one side of a match, with the .ics attached where the calendar does not invite, and
    that side's self-service ``links``.

    With ``nudge`` (booking-link matches only): the mentee's one reminder to book, under ``nudge:<match>``.
    """
    to, language, _ = _side(role, request, mentor, rules)
    rendered = render_invitation(
        env,
        role=role,
        meeting=meeting,
        match=match,
        application=request.application,
        mentor=mentor,
        rules=rules,
        tz=tz,
        language=language,
        nudge=nudge,
        links=links,
    )
    attachments = (
        [Attachment(filename="invite.ics", content_type="text/calendar; method=REQUEST", content=ics)] if ics else []
    )
    return _email(
        str(NudgeKey(match_id=match.id) if nudge else InviteKey(match_id=match.id, role=role)),
        to,
        rendered,
        language,
        ["nudge" if nudge else "invite"],
        {"match_id": str(match.id), "role": role.value},
        rules,
        attachments,
    )


def survey_email(
    env: Environment,
    kind: Literal["survey", "reminder"],
    role: Role,
    meeting: Meeting,
    request: MentoringRequest,
    mentor: Mentor,
    rules: ProgramRules,
    tz: str,
    secret: str,
    link_expires: datetime,
) -> OutgoingEmail:
    """The follow-up survey (or its one reminder) to one side of a match; its link works until ``link_expires``."""
    to, language, other = _side(role, request, mentor, rules)
    sent_at = link_expires - timedelta(days=rules.followup.link_valid_days)
    rendered = render_survey(
        env,
        kind=kind,
        role=role,
        name=to.name,
        other_name=other,
        meeting_start=meeting.start,
        token=survey_token(meeting.match_id, role, secret, link_expires),
        rules=rules,
        tz=tz,
        language=language,
        links=links_for(role, request, mentor, rules, secret, sent_at, meeting.match_id),
    )
    return _email(
        str(SurveyKey(kind=kind, match_id=meeting.match_id, role=role)),
        to,
        rendered,
        language,
        [kind],
        {"match_id": str(meeting.match_id), "role": role.value},
        rules,
    )


def bulk_email(
    key: str, recipients: list[Address], rendered: Rendered, language: str, category: str, rules: ProgramRules
) -> OutgoingEmail:
    """One message to many (each gets a copy of their own): the digest, the lead's report."""
    return OutgoingEmail(
        key=key,
        recipients=recipients,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        language=language,
        categories=[category],
        custom_args={"issue": key},
        reply_to=Address(email=rules.lead_email),
        sender=Address(email=rules.from_email, name=rules.program_name),
    )
