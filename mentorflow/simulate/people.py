"""Synthetic people who behave as people do, seeded, writing what they do where the local connectors read it.

Mentees fill the form (rows of ``inbox/responses.csv``, a Google Forms export downloaded again after every
change); some first send an answer that must be fixed, some edit theirs, some withdraw with a later answer that
refuses contact, some unsubscribe from the newsletter or ask to be erased (the simulation clicks their signed links,
or the lead forgets them; see ``Simulation.honour_requests``). Mentors
are rows of ``mentors.yaml``: some join late, pause and return, change capacity or leave the roster. After a
first meeting both sides answer the survey (``surveys/answers.csv``) late, partly or never; some pairs do not
show up; some mentors decline the slot with a METHOD:REPLY ``.ics`` in ``invites/replies/`` (what a calendar
client sends back to the organizer). Every name and address is fictional (``example.org``).

:class:`World` keeps the ground truth the checks and figures need (who asked what, when).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import yaml

from connectors.local.calendar import write_atomically
from domain.followup import survey_token
from domain.intake import SURVEY_FIELDS
from domain.models import Role

TOPICS = (
    "python",
    "javascript",
    "backend",
    "frontend",
    "devops",
    "data",
    "ml",
    "open-source",
    "career",
    "interviews",
    "leadership",
    "security",
    "mobile",
    "testing",
)
TOPIC_LABELS = {
    "python": "Python",
    "javascript": "JavaScript",
    "backend": "Backend",
    "frontend": "Frontend",
    "devops": "DevOps",
    "data": "Data engineering",
    "ml": "Machine learning",
    "open-source": "Open source",
    "career": "Career growth",
    "interviews": "Job interviews",
    "leadership": "Tech leadership",
    "security": "Security",
    "mobile": "Mobile",
    "testing": "Testing",
}
LANGUAGE_LABELS = {"he": "עברית", "en": "English"}
DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu")
WINDOWS = ("12:00-14:00", "17:00-19:00", "18:00-20:00", "19:00-21:00", "20:00-22:00")
MENTEE_ACTS = frozenset({"apply", "fix", "edit", "withdraw", "erase", "unsubscribe"})
FORM_COLUMNS = (
    "Response ID",
    "Timestamp",
    "Full name",
    "Email address",
    "Preferred languages",
    "Topics (most important first)",
    "Career stage",
    "Goals",
    "Weekly availability",
    "Accessibility needs",
    "May we contact you?",
    "May we quote your feedback?",
    "Send me the newsletter?",
)


@dataclass(frozen=True)
class Behaviour:
    """How often people do each thing (per person unless said otherwise)."""

    bad_first_answer: float = 0.08  # the first answer is incomplete and fixed by a later one
    edit: float = 0.15  # edits their answer (same response, later timestamp)
    withdraw: float = 0.06  # a later answer refuses contact
    erase: float = 0.02  # asks to be erased (the newsletter's link, or by writing to the lead)
    unsubscribe: float = 0.03  # stops the newsletter with its link (readers only)
    mentor_late: float = 0.2  # joins the roster during the simulation
    mentor_pause: float = 0.12  # pauses 1-3 weeks, then returns
    mentor_capacity: float = 0.15  # changes capacity once
    mentor_leave: float = 0.04  # removed from the roster
    decline_slot: float = 0.08  # per first meeting: the mentor declines the slot
    no_show: float = 0.1  # per first meeting: the pair does not meet
    survey_answer: float = 0.7  # per side: answers the survey at all
    survey_late: float = 0.3  # of those who answer: only after the reminder
    survey_partial: float = 0.1  # of answers: leaves the satisfaction empty (kept as a partial answer)
    end_early: float = 0.06  # per match: a side ends the relationship early …
    end_by_link: float = 0.75  # … with "end this mentoring" in their invitation; the others write to the lead
    end_after_days: tuple[float, float] = (5, 35)  # … this many days after the approval
    # The lead answers the waiting batch on these evenings (date.weekday(): Sunday, Tuesday, Thursday), with
    # ``lead_answers`` probability. Every match run re-plans the pairs still waiting and puts them in its own
    # batch, so the day between two of these evenings costs the lead nothing, and no batch reaches the 48-hour
    # time-out before the lead's next evening (Thursday's runs to Sunday's).
    lead_approval_days: tuple[int, ...] = (6, 1, 3)
    lead_answers: float = 0.85  # per approval evening with a waiting batch: the lead answers it
    lead_refuses: float = 0.08  # per proposal the lead answers: turned down ("--except")
    lead_ends_flagged: float = 0.5  # per no-show or declined flag: the lead ends the match
    days: tuple[str, ...] = DAYS  # weekly availability is drawn from these days and windows
    windows: tuple[str, ...] = WINDOWS


# A side that met rates it 4 or 5 four times in five, as the field guide's communities reported (~80 % satisfied, in
# the program's facts sheet), and 2 one time in ten.
SATISFACTION = (2, 3, 4, 4, 4, 4, 5, 5, 5, 5)


@dataclass
class MenteeP:
    n: int
    email: str
    languages: list[str]
    topics: list[str]
    stage: int
    availability: list[str]
    arrives: datetime
    bad_first: bool
    edit_at: datetime | None
    withdraw_at: datetime | None
    erase_at: datetime | None
    unsubscribe_at: datetime | None


@dataclass
class MentorP:
    n: int
    email: str
    expertise: list[str]
    languages: list[str]
    stage: int
    capacity: int
    availability: list[str]
    joins: datetime
    pause: tuple[datetime, datetime] | None
    capacity_change: tuple[datetime, int] | None
    leave_at: datetime | None
    active: bool = True
    listed: bool = False


@dataclass(order=True)
class Happening:
    """Something a person does at a simulated instant (applied before the next flow run at or after it)."""

    at: datetime
    seq: int
    kind: str = field(compare=False)
    who: int = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class Stop:
    """From ``since`` (until ``until``) nobody may contact ``email``, because of ``why``."""

    email: str
    since: datetime
    why: str  # withdrew | paused | erased | unsubscribed
    until: datetime | None = None
    # the run that takes the stop in, when the checks should not assume the default (an erase link is carried
    # out by the next privacy run, an erasure asked of the lead at the lead's evening)
    taken_in_by: str | None = None


@dataclass
class World:
    """The ground truth: what people did and asked, in simulated time."""

    mentees: dict[str, MenteeP] = field(default_factory=dict)  # email -> person
    mentors: dict[str, MentorP] = field(default_factory=dict)
    applied_at: dict[str, datetime] = field(default_factory=dict)  # email -> first valid answer submitted
    answers: dict[str, int] = field(default_factory=dict)  # email -> applications (a fresh request each)
    bad_rows: dict[str, str] = field(default_factory=dict)  # "source|ref" of a bad first answer -> email
    fixed_at: dict[str, datetime] = field(default_factory=dict)  # email -> when the bad answer was fixed
    stops: list[Stop] = field(default_factory=list)  # consent withdrawn, paused, erased, unsubscribed
    # (email, when, "erase" | "unsubscribe"): asked, not yet acted on (the simulation clicks the link or asks the lead)
    asks: list[tuple[str, datetime, str]] = field(default_factory=list)
    removed_mentors: dict[str, datetime] = field(default_factory=dict)
    refused: dict[tuple[int, str], datetime] = field(default_factory=dict)  # (request, mentor) -> when
    ended: dict[int, tuple[datetime, str]] = field(default_factory=dict)  # match id -> (when, by whom)
    no_show_matches: set[int] = field(default_factory=set)
    declined_events: set[str] = field(default_factory=set)
    surveys_sent: dict[str, datetime] = field(default_factory=dict)  # ledger key -> when it went out
    survey_answers: dict[str, datetime] = field(default_factory=dict)  # "match:role" -> answered at
    lead_actions: list[tuple[datetime, str, int]] = field(default_factory=list)  # (when, action, count)

    def label(self, email: str) -> str:
        """A non-personal label for reports: ``mentee 7`` / ``mentor 3``."""
        email = email.lower()
        if email in self.mentees:
            return f"mentee {self.mentees[email].n}"
        if email in self.mentors:
            return f"mentor {self.mentors[email].n}"
        return "someone else"


class People:
    """Generates the population for a seed and acts out its behaviour into the data folder."""

    def __init__(
        self,
        data_dir: Path,
        start: datetime,
        weeks: int,
        mentees: int,
        mentors: int,
        seed: int,
        behaviour: Behaviour | None = None,
        secret: str = "local-only-survey-secret",
    ) -> None:
        self.dir = data_dir
        self.start, self.end = start, start + timedelta(weeks=weeks)
        self.rng = random.Random(seed)
        self.b = behaviour or Behaviour()
        self.secret = secret
        self.world = World()
        self.queue: list[Happening] = []
        self._seq = 0
        self.form_rows: list[dict[str, str]] = []
        self.survey_rows: list[dict[str, str]] = []
        self._make_mentors(mentors)
        self._make_mentees(mentees)
        for name in ("inbox", "surveys", "invites/replies"):
            (self.dir / name).mkdir(parents=True, exist_ok=True)
        self._write_roster()
        self._write_form()

    # --- population -------------------------------------------------------------------------------------

    def _at(self, lo: timedelta, hi: timedelta, base: datetime | None = None) -> datetime:
        base = base or self.start
        seconds = self.rng.uniform(lo.total_seconds(), hi.total_seconds())
        return base + timedelta(seconds=int(seconds) // 60 * 60)

    def _windows(self, k: int) -> list[str]:
        return sorted({f"{self.rng.choice(self.b.days)} {self.rng.choice(self.b.windows)}" for _ in range(k)})

    def _happen(self, at: datetime, kind: str, who: int, **data: Any) -> None:
        self._seq += 1
        self.queue.append(Happening(at, self._seq, kind, who, data))

    def _make_mentors(self, count: int) -> None:
        rng, span = self.rng, self.end - self.start
        for n in range(1, count + 1):
            late = rng.random() < self.b.mentor_late
            joins = self._at(timedelta(days=3), span * 0.6) if late else self.start - timedelta(days=1)
            pause = None
            if rng.random() < self.b.mentor_pause:
                p0 = self._at(timedelta(days=7), span * 0.8)
                pause = (p0, p0 + timedelta(days=rng.randint(7, 21)))
            cap = rng.choice([1, 2, 2, 3, 3, 4])
            change = None
            if rng.random() < self.b.mentor_capacity:
                change = (self._at(timedelta(days=5), span * 0.9), max(0, cap + rng.choice([-1, 1, 1])))
            leave = self._at(span * 0.3, span * 0.9) if rng.random() < self.b.mentor_leave else None
            langs = rng.choices([["he", "en"], ["he"], ["en"]], weights=[6, 3.5, 0.5])[0]
            m = MentorP(
                n=n,
                email=f"mentor{n:03d}@sim.example.org",
                expertise=rng.sample(TOPICS, 4),
                languages=langs,
                stage=rng.choice([2, 3, 3, 4]),
                capacity=cap,
                availability=self._windows(3),
                joins=joins,
                pause=pause,
                capacity_change=change,
                leave_at=leave,
            )
            self.world.mentors[m.email] = m
            m.listed = joins <= self.start
            if not m.listed:
                self._happen(joins, "mentor_join", n)
            if pause:
                self._happen(max(pause[0], joins), "mentor_pause", n)
                self._happen(max(pause[1], joins), "mentor_return", n)
            if change:
                self._happen(max(change[0], joins), "mentor_capacity", n, capacity=change[1])
            if leave:
                self._happen(max(leave, joins), "mentor_leave", n)

    def _make_mentees(self, count: int) -> None:
        rng, span = self.rng, self.end - self.start
        for n in range(1, count + 1):
            arrives = self._at(timedelta(0), span * 0.85)
            after = self.end - arrives

            def later(p: float, arrives: datetime = arrives, after: timedelta = after) -> datetime | None:
                return self._at(timedelta(hours=6), after, arrives) if rng.random() < p else None

            langs = rng.choices([["he"], ["he", "en"], ["en"]], weights=[7, 2, 1])[0]
            p = MenteeP(
                n=n,
                email=f"mentee{n:03d}@sim.example.org",
                languages=langs,
                topics=rng.sample(TOPICS, rng.randint(1, 3)),
                stage=rng.choice([0, 1, 1, 2, 2, 3]),
                availability=self._windows(rng.randint(1, 3)),
                arrives=arrives,
                bad_first=rng.random() < self.b.bad_first_answer,
                edit_at=later(self.b.edit),
                withdraw_at=later(self.b.withdraw),
                erase_at=later(self.b.erase),
                unsubscribe_at=later(self.b.unsubscribe),
            )
            self.world.mentees[p.email] = p
            self._happen(arrives, "apply", n)
            if p.edit_at:
                self._happen(p.edit_at, "edit", n)
            if p.withdraw_at:
                self._happen(p.withdraw_at, "withdraw", n)
            if p.erase_at:
                self._happen(p.erase_at, "erase", n)
            if p.unsubscribe_at:
                self._happen(p.unsubscribe_at, "unsubscribe", n)

    # --- acting -----------------------------------------------------------------------------------------

    def act_until(self, now: datetime) -> int:
        """Apply everything people did up to ``now`` (files written once per kind); returns how many acts."""
        form = roster = surveys = False
        acts = 0
        # an act may plan another one that is already due (an incomplete answer fixed three hours later, before
        # the next run): it happens now too, or the run would be checked against a fix not yet in the export
        while due := sorted(h for h in self.queue if h.at <= now):
            self.queue = [h for h in self.queue if h.at > now]
            for h in due:
                if h.kind in MENTEE_ACTS and self.gone(self._mentee(h.who).email):
                    continue  # erased at their request: they do nothing more with the program
                form |= h.kind in {"apply", "fix", "edit", "withdraw"}
                roster |= h.kind.startswith("mentor_")
                surveys |= h.kind == "survey_answer"
                getattr(self, f"_do_{h.kind}")(h)
            acts += len(due)
        if form:
            self._write_form()
        if roster:
            self._write_roster()
        if surveys:
            self._write_surveys()
        return acts

    def gone(self, email: str) -> bool:
        """Whether this person asked to be erased."""
        return any(e == email and kind == "erase" for e, _at, kind in self.world.asks) or any(
            s.email == email and s.why == "erased" for s in self.world.stops
        )

    def _mentee(self, n: int) -> MenteeP:
        return self.world.mentees[f"mentee{n:03d}@sim.example.org"]

    def _mentor(self, n: int) -> MentorP:
        return self.world.mentors[f"mentor{n:03d}@sim.example.org"]

    def _row(
        self,
        p: MenteeP,
        at: datetime,
        rid: str,
        *,
        consent: bool = True,
        topics: bool = True,
        goals: str = "Grow as a developer",
    ) -> dict[str, str]:
        return {
            "Response ID": rid,
            "Timestamp": at.isoformat(),
            "Full name": f"Sim Mentee {p.n}",
            "Email address": p.email,
            "Preferred languages": ", ".join(LANGUAGE_LABELS[lang] for lang in p.languages),
            "Topics (most important first)": ", ".join(TOPIC_LABELS[t] for t in p.topics) if topics else "",
            "Career stage": str(p.stage),
            "Goals": goals,
            "Weekly availability": "; ".join(p.availability),
            "Accessibility needs": "",
            "May we contact you?": "Yes" if consent else "No",
            "May we quote your feedback?": "Yes" if self.rng.random() < 0.5 else "No",
            # two in three opt in (drawn from the number, not the seed's dice, so that seeds keep their people)
            "Send me the newsletter?": "Yes" if p.n % 3 else "No",
        }

    def _do_apply(self, h: Happening) -> None:
        p = self._mentee(h.who)
        if p.bad_first:
            self.form_rows.append(self._row(p, h.at, f"sim-{p.n}-a", topics=False))
            self.world.bad_rows[f"file:responses.csv|sim-{p.n}-a"] = p.email
            self._happen(self._at(timedelta(hours=3), timedelta(days=2), h.at), "fix", p.n)
            return
        self.form_rows.append(self._row(p, h.at, f"sim-{p.n}"))
        self.world.applied_at.setdefault(p.email, h.at)
        self.world.answers[p.email] = 1

    def _do_fix(self, h: Happening) -> None:
        p = self._mentee(h.who)
        if any(s.email == p.email and s.why == "withdrew" for s in self.world.stops):
            return  # withdrew before fixing their answer: they do not come back with a fix (that would re-consent)
        self.form_rows.append(self._row(p, h.at, f"sim-{p.n}"))
        self.world.applied_at.setdefault(p.email, h.at)
        self.world.answers[p.email] = 1
        self.world.fixed_at[p.email] = h.at

    def _do_edit(self, h: Happening) -> None:
        # Google Forms "edit after submit": the same response, a later timestamp, other goals.
        p = self._mentee(h.who)
        if any(s.email == p.email and s.why == "withdrew" for s in self.world.stops):
            return  # nobody edits an application they withdrew (an edit saying "yes" would re-consent)
        for i, row in enumerate(self.form_rows):
            if row["Response ID"] == f"sim-{p.n}":
                self.form_rows[i] = {**row, "Timestamp": h.at.isoformat(), "Goals": "Edited: a clearer goal"}

    def _do_withdraw(self, h: Happening) -> None:
        p = self._mentee(h.who)
        self.form_rows.append(self._row(p, h.at, f"sim-{p.n}-w", consent=False))
        self.world.stops.append(Stop(p.email, h.at, "withdrew"))

    def _do_erase(self, h: Happening) -> None:
        self.world.asks.append((self._mentee(h.who).email, h.at, "erase"))

    def _do_unsubscribe(self, h: Happening) -> None:
        self.world.asks.append((self._mentee(h.who).email, h.at, "unsubscribe"))

    def _do_mentor_join(self, h: Happening) -> None:
        self._mentor(h.who).listed = True

    def _do_mentor_pause(self, h: Happening) -> None:
        m = self._mentor(h.who)
        m.active = False
        self.world.stops.append(Stop(m.email, h.at, "paused"))

    def _do_mentor_return(self, h: Happening) -> None:
        m = self._mentor(h.who)
        m.active = True
        for stop in self.world.stops:
            if stop.email == m.email and stop.why == "paused" and stop.until is None:
                stop.until = h.at

    def _do_mentor_capacity(self, h: Happening) -> None:
        self._mentor(h.who).capacity = h.data["capacity"]

    def _do_mentor_leave(self, h: Happening) -> None:
        m = self._mentor(h.who)
        m.listed = False
        self.world.removed_mentors[m.email] = h.at

    def _do_decline(self, h: Happening) -> None:
        self._write_reply(h.data["event_id"], h.data["email"], h.at)

    def _do_survey_answer(self, h: Happening) -> None:
        self.survey_rows.append(h.data["row"])
        self.world.survey_answers[h.data["ref"]] = h.at

    # --- reacting to what the program sent ---------------------------------------------------------------

    def on_invitation(self, match_id: int, event_id: str, mentor_email: str, start: datetime, now: datetime) -> None:
        """A first meeting was put in the calendars: the mentor may decline; the pair may not show up."""
        if self.rng.random() < self.b.decline_slot:
            at = now + timedelta(hours=self.rng.randint(1, 20))
            self._happen(at, "decline", 0, event_id=event_id, email=mentor_email)
            self.world.declined_events.add(event_id)
        elif self.rng.random() < self.b.no_show:
            self.world.no_show_matches.add(match_id)

    def on_survey(self, key: str, now: datetime) -> None:
        """A survey or reminder went out (ledger key ``survey|reminder:<match>:<role>``): answer or not."""
        kind, match_id, role = key.split(":")
        self.world.surveys_sent.setdefault(key, now)
        ref = f"{match_id}:{role}"
        if kind == "reminder" or ref in self.world.survey_answers:
            return
        if self.rng.random() >= self.b.survey_answer:
            return
        late = self.rng.random() < self.b.survey_late
        delay = timedelta(days=self.rng.uniform(4.5, 9)) if late else timedelta(hours=self.rng.uniform(1, 72))
        met = int(match_id) not in self.world.no_show_matches
        row = {
            # the link in the email: valid for the program's default 14 days after it was sent
            "token": survey_token(int(match_id), Role(role), self.secret, now + timedelta(days=14)),
            "timestamp": (now + delay).isoformat(),
            "satisfaction": ""
            if self.rng.random() < self.b.survey_partial
            else str(self.rng.choice(SATISFACTION) if met else 1),
            "met": "yes" if met else "no",
            "still_in_touch": "yes" if met and self.rng.random() < 0.8 else "no",
            "adopted_idea": "yes" if met and self.rng.random() < 0.85 else "no",
            "free_text": "",
            "consent_quote": "no",
        }
        self._happen(now + delay, "survey_answer", 0, row=row, ref=ref)

    # --- files --------------------------------------------------------------------------------------------

    def _write_form(self) -> None:
        path = self.dir / "inbox" / "responses.csv"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(FORM_COLUMNS))
            writer.writeheader()
            writer.writerows(self.form_rows)
        tmp.replace(path)

    def _write_roster(self) -> None:
        entries = [
            {
                "name": f"Sim Mentor {m.n}",
                "email": m.email,
                "role": "Engineer",
                "company": "Example",
                "expertise": m.expertise,
                "years": 4 + 3 * m.stage,
                "career_stage": m.stage,
                "languages": m.languages,
                "capacity": m.capacity,
                "availability": m.availability,
                "active": m.active,
            }
            for m in sorted(self.world.mentors.values(), key=lambda m: m.n)
            if m.listed
        ]
        write_atomically(self.dir / "mentors.yaml", yaml.safe_dump(entries, allow_unicode=True).encode())

    def _write_surveys(self) -> None:
        path = self.dir / "surveys" / "answers.csv"
        with path.with_suffix(".tmp").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(SURVEY_FIELDS))
            writer.writeheader()
            writer.writerows(self.survey_rows)
        path.with_suffix(".tmp").replace(path)

    def _write_reply(self, event_id: str, email: str, at: datetime) -> None:
        """A METHOD:REPLY with PARTSTAT=DECLINED, as a calendar client sends it to the organizer."""
        cal = icalendar.Calendar()
        cal.add("prodid", "-//mentorflow simulator//replies//EN")
        cal.add("version", "2.0")
        cal.add("method", "REPLY")
        ev = icalendar.Event()
        ev.add("uid", f"{event_id}@mentorflow")
        ev.add("dtstamp", at)
        attendee = icalendar.vCalAddress(f"mailto:{email}")
        attendee.params["PARTSTAT"] = "DECLINED"
        ev.add("attendee", attendee)
        cal.add_component(ev)
        write_atomically(self.dir / "invites" / "replies" / f"{event_id}-{email.split('@')[0]}.ics", cal.to_ical())
