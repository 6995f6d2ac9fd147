"""The program's rules (topics, weights, cadence, wording), as validated from ``config/program.yaml``."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from domain.models import Frozen as Strict
from domain.models import Weekday


class Topic(Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="stable key used in data and the store")
    en: str = Field(description="English label")
    he: str = Field(description="Hebrew label")
    aliases: list[str] = Field(
        default_factory=list,
        description="other spellings and synonyms (any language); one alias may belong to several topics",
    )


class MatchingWeights(Strict):
    topic: float = Field(3.0, ge=0, description="points for a shared topic at the mentee's first rank")
    topic_rank_decay: float = Field(
        0.75, gt=0, le=1, description="each lower rank is worth this fraction of the one above"
    )
    stage_ideal_gap: int = Field(1, ge=0, description="mentor stage minus mentee stage that fits best")
    stage: float = Field(1.0, ge=0, description="points at the ideal stage gap; one less per step away")
    availability_per_hour: float = Field(0.5, ge=0, description="points per shared weekly hour")
    availability_cap_hours: float = Field(4.0, ge=0, description="shared hours beyond this add nothing")
    language_first_choice: float = Field(0.5, ge=0, description="bonus when the mentee's first language is shared")
    continuity: float = Field(10.0, ge=0, description="bonus for the former mentor a mentee asked to continue with")
    waiting_per_week: float = Field(0.25, ge=0, description="priority bonus per week on the waitlist")
    waiting_cap: float = Field(2.0, ge=0, description="most priority waiting can earn")
    load_penalty: float = Field(0.0, ge=0, description="cost per mentee already assigned to the same mentor")
    free_text: float = Field(
        0.0, ge=0, description="points when a mentee's goals share a word with a mentor's unmapped expertise phrases"
    )


class MatchingRules(Strict):
    objective: Literal["fit", "participation", "stable"] = "fit"
    weights: MatchingWeights = MatchingWeights()
    min_score: float = Field(0.0, description="pairs scoring at or below this are not proposed")
    require_shared_topic: bool = Field(True, description="a pair must share at least one topic")
    approval: Literal["auto", "lead"] = Field("auto", description="who approves proposed matches")
    auto_approve_min_score: float | None = Field(
        None, description="with lead approval: proposals scoring at least this are approved without asking"
    )
    approval_timeout_hours: int = Field(
        48, ge=1, description="with lead approval: a proposal unanswered this long is approved as proposed"
    )
    relationship_days: int = Field(
        56, ge=1, description="a relationship holds its place in the mentor's capacity this long after approval"
    )


class SchedulingRules(Strict):
    meeting_minutes: int = Field(60, ge=15, le=480)
    min_lead_hours: int = Field(48, ge=0, description="the first meeting is at least this far ahead")
    horizon_days: int = Field(28, ge=1, description="look this far ahead for a slot")
    step_minutes: int = Field(30, ge=5, le=120, description="candidate start times fall on this grid")
    eve_cutoff: time = Field(time(13, 0), description="on Fridays and holiday eves, meetings end by this time")
    max_reschedules: int = Field(
        2, ge=0, le=10, description="new slots proposed after declines before the lead decides"
    )
    video_link_template: str | None = Field(
        "https://meet.example.org/mentorflow-{match_id}",
        description="the meeting's video link; {match_id} is replaced. null: the calendar makes one (Google Meet)",
    )


class FollowupRules(Strict):
    survey_after_days: int = Field(3, ge=0, description="send the survey this many days after the meeting")
    reminder_after_days: int = Field(4, ge=1, description="one reminder this many days after the survey")
    close_after_days: int = Field(14, ge=1, description="stop waiting for answers after this many days")
    link_valid_days: int = Field(
        14, ge=1, le=365, description="a survey link accepts an answer for this many days after it was sent"
    )
    low_score: int = Field(2, ge=1, le=5, description="satisfaction at or below this is flagged for the lead")
    booking_nudge_after_days: int = Field(
        7,
        ge=1,
        description="booking-link matches: one nudge to the mentee this many days after the match email "
        "when no meeting is reported; the survey goes out as after an invited meeting held on that day",
    )
    booking_flag_after_days: int = Field(
        7, ge=1, description="booking-link matches: flag for the lead this many days after the nudge, still no meeting"
    )
    survey_url_template: str = Field(
        "https://forms.example.org/mentorflow-survey?token={token}",
        description="where the survey is answered; {token} identifies match and role, no personal data",
    )


class DigestRules(Strict):
    language: Literal["he", "en"] = "he"
    period_days: int = Field(14, ge=1, description="a digest covers this many days")
    call_for_mentors_min_waiting: int = Field(1, ge=1, description="a topic with this many waiting mentees is named")
    top_topics: int = Field(5, ge=1, le=20)
    languages: list[Literal["he", "en"]] = Field(
        ["he", "en"],
        min_length=1,
        description="the newsletter is written in these; each reader gets the first "
        "of their languages on this list, else `language`",
    )
    approval: Literal["lead", "quiet_period"] = Field(
        "lead",
        description="an issue goes out when the lead approves its preview (`mentorflow digest approve`), "
        "or by itself `quiet_period_hours` after the preview unless the lead stops it",
    )
    quiet_period_hours: int = Field(48, ge=1, le=24 * 30)
    unsubscribe_url_template: str = Field(
        "https://forms.example.org/mentorflow-unsubscribe?token={token}",
        description="the self-service unsubscribe page; {token} is a signed link naming no one",
    )
    unsubscribe_link_valid_days: int = Field(365, ge=30, le=3650)


class RetentionRules(Strict):
    """How long personal data is kept; applied by the scheduled ``privacy`` flow (``flows/privacy.py``)."""

    form_answers_days_after_match: int = Field(
        90,
        ge=1,
        le=3650,
        description="a matched mentee's free-text answers (goals, accessibility) and their "
        "inbox export row are removed this many days after the match was made",
    )
    ended_relationships_months: int = Field(
        12,
        ge=1,
        le=120,
        description="a request that ended (completed, canceled, rejected) is deleted whole "
        "(matches, meetings, answers, flags) this many months after it last changed",
    )
    prefect_runs_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="mentorflow's Prefect flow runs, their logs and artifacts are deleted after this many days",
    )
    erase_link_valid_days: int = Field(365, ge=1, le=3650, description="a self-service erase link works this long")
    erase_url_template: str = Field(
        "https://forms.example.org/mentorflow-erase?token={token}",
        description="the self-service 'erase my data' page; {token} is a signed link naming no one",
    )


def _window(text: str) -> tuple[time, time]:
    start, sep, end = text.partition("-")
    try:
        lo, hi = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not like 18:00-22:00") from None
    if not sep or hi <= lo:
        raise ValueError(f"{text!r} must end after it starts")
    return lo, hi


class PartOfDay(Strict):
    window: str = Field(description="local time, e.g. 18:00-22:00")
    names: list[str] = Field(min_length=1, description="how people write it (any language, any case)")

    @field_validator("window")
    @classmethod
    def _valid(cls, value: str) -> str:
        _window(value)
        return value

    @property
    def bounds(self) -> tuple[time, time]:
        return _window(self.window)


class AvailabilityRules(Strict):
    """How free-text availability ("weekday evenings", "כל ערב") becomes weekly windows."""

    parts_of_day: dict[str, PartOfDay] = Field(min_length=1)
    weekdays: list[Weekday] = Field(
        [Weekday.SUN, Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU],
        min_length=1,
        description="what 'weekdays', 'every evening' and an answer without a day mean (ISO numbers, Sun = 7)",
    )
    open_hours: int = Field(2, ge=1, le=6, description="'before 9' / 'after 20' without a part of day: this many hours")

    @field_validator("weekdays", mode="before")
    @classmethod
    def _day_names(cls, value: object) -> object:
        if isinstance(value, list):
            return [Weekday[v.strip().upper()[:3]] if isinstance(v, str) and not v.isdigit() else v for v in value]
        return value


class SelfServiceRules(Strict):
    """Acknowledgments, fix-it emails and the signed self-service links in every email to mentees and mentors."""

    url_template: str = Field(
        "https://forms.example.org/mentorflow-self-service?token={token}&action={action}",
        description="the self-service form; {token} is a signed link naming no one, {action} what it asks",
    )
    link_valid_days: int = Field(60, ge=1, le=730, description="a self-service link acts until this many days")
    form_url: str = Field(
        "https://forms.example.org/mentorflow-apply",
        description="the intake form, linked from the fix-it email to an applicant whose answer was set aside",
    )
    history_days: int = Field(
        90, ge=7, description="the acknowledgment's typical wait: median over requests approved in this many days"
    )
    min_history: int = Field(3, ge=1, description="fewer approved requests than this: no figure is given")
    acknowledge_within_days: int = Field(
        14, ge=1, description="requests opened this many days ago or less are acknowledged (not older ones)"
    )
    max_pause_days: int = Field(180, ge=1, description="a pause ends at most this many days after it was asked")


class RosterRules(Strict):
    default_scheduling: Literal["invite", "booking_link"] = Field(
        "invite", description="for a mentor with a booking link who does not say how they schedule"
    )


class IntakeRules(Strict):
    """Maps form question titles (Hebrew or English, as in the form) to fields."""

    columns: dict[str, str] = Field(description="question title → field name")
    max_text_length: int = Field(2000, ge=100)
    max_name_length: int = Field(120, ge=10)

    @model_validator(mode="after")
    def _known_fields(self) -> IntakeRules:
        known = {
            "timestamp",
            "name",
            "email",
            "languages",
            "topics",
            "career_stage",
            "goals",
            "availability",
            "accessibility_needs",
            "consent_contact",
            "consent_quote",
            "newsletter",
            "continue_with",
            "response_id",
        }
        unknown = sorted(set(self.columns.values()) - known)
        if unknown:
            raise ValueError(f"intake.columns maps to unknown fields: {', '.join(unknown)}")
        missing = sorted({"name", "email", "topics", "availability", "languages"} - set(self.columns.values()))
        if missing:
            raise ValueError(f"intake.columns has no column for required fields: {', '.join(missing)}")
        return self


class ProgramRules(Strict):
    """Everything the lead may tune without code."""

    def name_in(self, language: str) -> str:
        """The program's name as written in ``language`` (a Hebrew text names it in Hebrew)."""
        return self.program_names.get(language, self.program_name)

    program_name: str = "mentorflow"
    program_names: dict[str, str] = Field(
        default_factory=dict, description="the program's name by language code where it differs from program_name"
    )
    lead_email: str = Field(description="where the lead's reports go")
    from_email: str = Field(description="the sender of every program email")
    languages: dict[str, str] = Field(description="language code → label, e.g. he: עברית")
    topics: list[Topic] = Field(min_length=1)
    career_stages: list[str] = Field(min_length=2, description="labels for stage 0, 1, …")
    intake: IntakeRules
    matching: MatchingRules = MatchingRules()
    scheduling: SchedulingRules = SchedulingRules()
    followup: FollowupRules = FollowupRules()
    digest: DigestRules = DigestRules()
    availability: AvailabilityRules = AvailabilityRules(
        parts_of_day={
            "morning": PartOfDay(window="08:00-12:00", names=["morning", "mornings", "בוקר", "בקרים"]),
            "afternoon": PartOfDay(
                window="12:00-17:00", names=["afternoon", "afternoons", "noon", "צהריים", "אחר הצהריים", 'אחה"צ']
            ),
            "evening": PartOfDay(
                window="18:00-22:00", names=["evening", "evenings", "ערב", "ערבים", "night", "nights"]
            ),
        }
    )
    roster: RosterRules = RosterRules()
    self_service: SelfServiceRules = SelfServiceRules()
    retention: RetentionRules = RetentionRules()

    @model_validator(mode="after")
    def _unique_topics(self) -> ProgramRules:
        keys = [t.key for t in self.topics]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"topics repeat keys: {', '.join(dupes)}")
        return self

    def topic_index(self) -> dict[str, str]:
        """Every accepted spelling (key, labels, aliases; case-folded) → topic key."""
        index: dict[str, str] = {}
        for t in self.topics:
            for spelling in (t.key, t.en, t.he, *t.aliases):
                index[spelling.strip().casefold()] = t.key
        return index

    def topic_label(self, key: str, language: str = "en") -> str:
        for t in self.topics:
            if t.key == key:
                return t.he if language == "he" else t.en
        return key
