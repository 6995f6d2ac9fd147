"""The store's schema. Pydantic payloads are kept as JSON next to the columns that queries need."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which drops offsets) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only keeps timezone-aware datetimes")
        if value.tzinfo is UTC:
            return value
        last = self._last  # a bulk write binds the run's one ``now`` to every row: converted once, not per row
        if last is not None and last[0] is value:
            return last[1]
        converted = value.astimezone(UTC)
        self._last = (value, converted)
        return converted

    _last: tuple[datetime, datetime] | None = None

    def bind_processor(self, dialect: Any) -> Any:
        """The dialect's processor, remembering its last value: a bulk write binds the run's one ``now`` to every
        row, and SQLite's turning it into text each time was a visible part of saving a large intake (issue #12)."""
        process = super().bind_processor(dialect)
        if process is None:
            return None
        last: tuple[Any, Any] = (None, None)

        def remembered(value: Any) -> Any:
            nonlocal last
            seen = last  # one read of the pair: threads may share the processor
            if value is not None and seen[0] is value:
                return seen[1]
            out = process(value)
            last = (value, out)
            return out

        return remembered

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Meta(Base):
    """Key/value facts about this installation (e.g. its id, which salts calendar event ids)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class MentorRow(Base):
    __tablename__ = "mentors"
    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    data: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RequestRow(Base):
    __tablename__ = "requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mentee_email: Mapped[str] = mapped_column(String(320), index=True)
    is_open: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), index=True)
    application: Mapped[dict[str, Any]]
    response_id: Mapped[str] = mapped_column(String(300), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    waiting_since: Mapped[datetime]
    wait_reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        # At most one open request per mentee: a second submission updates it.
        Index(
            "uq_requests_open_email",
            "mentee_email",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )


class AnswerTakenRow(Base):
    """Every form answer taken in, by the form's response id, for the request it went to: an answer is one
    request for its whole life, whatever status that request reached (invariant 5)."""

    __tablename__ = "answers_taken"
    response_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    at: Mapped[datetime]


class RequestEventRow(Base):
    __tablename__ = "request_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[datetime]
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")


class SetAsideRow(Base):
    __tablename__ = "set_aside"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(300))
    ref: Mapped[str] = mapped_column(String(300))
    reasons: Mapped[list[Any]]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # sha256 of the answer's email when one could be read (never the email): a later valid answer resolves it
    person: Mapped[str] = mapped_column(String(64), default="", server_default="")


class MatchRow(Base):
    __tablename__ = "matches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    mentor_email: Mapped[str] = mapped_column(String(320), index=True)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]]
    breakdown: Mapped[dict[str, Any]]
    shared_windows: Mapped[list[Any]]
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    ended_reason: Mapped[str] = mapped_column(Text, default="")


class MeetingRow(Base):
    __tablename__ = "meetings"
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(1024), unique=True)
    start: Mapped[datetime]
    end: Mapped[datetime]
    video_link: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(Text, default="")
    accessibility_needs: Mapped[str] = mapped_column(Text, default="")
    reschedules: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SurveySentRow(Base):
    """A survey or its reminder that went out to one side of a match (once per kind)."""

    __tablename__ = "surveys_sent"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"))
    role: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))
    sent_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("match_id", "role", "kind", name="uq_survey_sent_match_role_kind"),)


class SurveyAnswerRow(Base):
    __tablename__ = "survey_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    submitted_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    __table_args__ = (UniqueConstraint("match_id", "role", name="uq_survey_answer_match_role"),)


class FlagRow(Base):
    __tablename__ = "flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (UniqueConstraint("match_id", "kind", name="uq_flag_match_kind"),)


class RefusalRow(Base):
    """A mentee–mentor pair the lead turned down: never proposed or approved again (invariant 3)."""

    __tablename__ = "refusals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"))
    mentor_email: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (UniqueConstraint("request_id", "mentor_email", name="uq_refusal_request_mentor"),)


class LedgerRow(Base):
    """One side effect under a deterministic key: intent recorded before, outcome after."""

    __tablename__ = "ledger"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    provider_ref: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")


class WatermarkRow(Base):
    __tablename__ = "watermarks"
    source: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class DigestRow(Base):
    __tablename__ = "digests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    location: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (UniqueConstraint("period_start", "period_end", name="uq_digest_period"),)


class ProposalRow(Base):
    """A batch of proposed matches waiting for the lead (approval mode ``lead``)."""

    __tablename__ = "proposals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_run_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), index=True)  # waiting | decided | superseded
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class NewsletterUnsubscribeRow(Base):
    """Someone who left the newsletter, by the opaque key of their address (the address itself is not kept)."""

    __tablename__ = "newsletter_unsubscribes"
    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32))  # link | lead | provider


class NewsletterPreviewRow(Base):
    """A composed newsletter issue waiting for (or past) the lead's approval; one per period."""

    __tablename__ = "newsletter_previews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), index=True)  # waiting | sent | skipped
    data: Mapped[dict[str, Any]]
    __table_args__ = (UniqueConstraint("period_start", "period_end", name="uq_newsletter_preview_period"),)


class ForgottenRow(Base):
    """Someone erased on request: only a keyed hash of their address (``domain.erasure.forgotten_hash``), so that
    a later answer from the same address is recognised as a returning person; nothing else is kept."""

    __tablename__ = "forgotten"
    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]


class EraseRequestRow(Base):
    """A self-service "erase my data" link that was used, by the opaque person key of the link; the next
    privacy run erases that person and deletes this row."""

    __tablename__ = "erase_requests"
    person: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime]


class SelfServiceActionRow(Base):
    """A self-service action taken through a signed link, once per link (``token`` is unique: a replay is refused).

    ``person`` is the opaque key the link was made for (no address); ``target`` the request or match it acted on.
    The latest ``pause`` of a person holds until ``until``; the latest ``capacity`` of a mentor replaces the roster's.
    """

    __tablename__ = "self_service_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(160), unique=True)
    role: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(16))
    person: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[int | None] = mapped_column(Integer, nullable=True)
    submitted_at: Mapped[datetime]
    taken_at: Mapped[datetime]
    until: Mapped[datetime | None] = mapped_column(nullable=True)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(Text, default="")
