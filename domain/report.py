"""The lead's weekly report, built from plain facts (no store, no Prefect): "needs you" first, each item one
line with the exact command or link that resolves it; then what changed this week; then the program's
health against last week. Every word comes from this module's wording tables in the lead's language, so a
Hebrew report carries no English prose (commands, ids and links are left-to-right runs, not prose).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Language = Literal["he", "en"]


class WaitingApproval(BaseModel):
    batch_id: int
    proposals: int
    since: datetime
    link: str | None = Field(None, description="the match run in the Prefect UI, where the form is")


class RunProblem(BaseModel):
    """A mentorflow flow run of the week that ended Failed or Crashed (read from the Prefect API)."""

    stage: str
    run_name: str
    state: Literal["Failed", "Crashed"]
    at: datetime
    link: str | None = None


class Health(BaseModel):
    """The program's numbers for one week."""

    matched: int = 0
    waiting: int = Field(0, description="pending at the week's end (a past week's read back from the timeline)")
    longest_wait_days: int = 0
    meetings_held: int = 0
    satisfaction: float | None = Field(None, description="mean survey score 1–5, None without answers")
    no_shows: int = 0
    surveys_unanswered: int = Field(0, description="surveys whose follow-up closed without an answer (no flag)")


def set_aside_needs_lead(kind: str, person_known: bool) -> bool:
    """Whether a record set aside asks something of the lead ("needs you").

    Only an answer that somebody must be asked to fix and that the program could not ask about itself: a roster
    row (the lead keeps the roster) or an application whose email could not be read. An application with a
    readable email gets the program's fix-it note (the person fixes it; the record then leaves the list); a
    survey answer or a self-service link that could not act (expired, already used, for a match that ended) has
    nothing left to fix: both are counted under "what changed" only.
    """
    return kind == "mentor" or (kind == "mentee" and not person_known)


class Changes(BaseModel):
    applications: int = 0
    mentors_joined: int = 0
    matches_made: int = 0
    invitations: int = 0
    digests: int = 0
    set_aside_handled: int = Field(0, description="records set aside this week that ask nothing of the lead")


class ReportFacts(BaseModel):
    """Everything the report says, gathered by the report task."""

    as_of: date
    language: Language = "he"
    approvals: list[WaitingApproval] = Field(default_factory=list)
    failed_runs: list[RunProblem] | None = Field(
        default_factory=list, description="None when the Prefect API could not be read: then no 'nothing failed'"
    )
    runs_link: str | None = None
    broken_rules: list[str] = Field(default_factory=list, description="program-rule errors, key by key")
    uncertain_keys: list[str] = Field(default_factory=list)
    failed_keys: list[str] = Field(default_factory=list)
    new_set_aside: int = 0
    new_flags: int = 0
    changes: Changes = Changes()
    this_week: Health = Health()
    last_week: Health = Health()


class Line(BaseModel):
    text: str
    action: str | None = None  # a command (shown as code) or a link
    kind: Literal["command", "link"] | None = None


class ReportDoc(BaseModel):
    """The report as sections of lines, ready for the email templates and the artifact."""

    language: Language
    subject_date: str
    needs_you: list[Line]
    all_clear: str | None
    changed: list[Line]
    health: list[tuple[str, str, str]]  # label, this week, last week
    titles: dict[str, str]


WORDS: dict[Language, dict[str, str]] = {
    "he": {
        "needs_you": "דורש אותך",
        "changed": "מה השתנה השבוע",
        "health": "מצב התוכנית",
        "this_week": "השבוע",
        "last_week": "שבוע שעבר",
        "all_clear": "אין כלום שמחכה לך השבוע. שום ריצה לא נכשלה.",
        "approval": "{n} הצעות התאמה מחכות לאישורך מאז {since} (אצווה {batch})",
        "failed_run": "ריצת {stage} {at} הסתיימה במצב {state}",
        "runs_unknown": "לא ניתן היה לקרוא את הריצות מ-Prefect: לבדוק ריצות שנכשלו בממשק",
        "broken_rule": "כלל בתוכנית שבור: {rule}",
        "uncertain": "{n} פעולות שתוצאתן לא ודאית: לבדוק, ואז לשחרר",
        "failed_keys": "{n} פעולות נכשלו",
        "set_aside": "{n} רשומות חדשות הוצאו הצידה",
        "flags": "{n} דגלים חדשים מהמשוב",
        "applications": "בקשות חדשות: {n}",
        "mentors_joined": "מנטורים/ות חדשים/ות: {n}",
        "matches_made": "התאמות חדשות: {n}",
        "invitations": "הזמנות שנשלחו: {n}",
        "digests": "עלונים שיצאו: {n}",
        "set_aside_handled": "רשומות שהוצאו הצידה ולא דורשות דבר (נשלחה בקשת תיקון, או שאין מה לתקן): {n}",
        "nothing_changed": "שום דבר חדש השבוע.",
        "matched": "הותאמו",
        "waiting": "ממתינים/ות להתאמה",
        "longest_wait": "ההמתנה הארוכה ביותר (ימים)",
        "meetings_held": "פגישות שהתקיימו",
        "satisfaction": "שביעות רצון (1–5)",
        "no_shows": "לא הגיעו לפגישה",
        "surveys_unanswered": "סקרים שנסגרו ללא מענה",
        "none": "–",
        "Failed": "כישלון",
        "Crashed": "קריסה",
        "intake": "קליטה",
        "intake-watch": "מעקב טפסים",
        "match": "התאמה",
        "invite": "הזמנות",
        "followup": "מעקב",
        "digest": "עלון",
        "report": "דוח",
        "pipeline": "תהליך מלא",
    },
    "en": {
        "needs_you": "Needs you",
        "changed": "What changed this week",
        "health": "Program health",
        "this_week": "this week",
        "last_week": "last week",
        "all_clear": "Nothing is waiting for you this week. Nothing failed.",
        "approval": "{n} proposed matches wait for your approval since {since} (batch {batch})",
        "failed_run": "{stage} run of {at} ended {state}",
        "runs_unknown": "The runs could not be read from Prefect: check failed runs in the UI",
        "broken_rule": "A program rule is broken: {rule}",
        "uncertain": "{n} side effects with an unknown outcome: check, then release",
        "failed_keys": "{n} side effects failed",
        "set_aside": "{n} new records set aside",
        "flags": "{n} new follow-up flags",
        "applications": "New applications: {n}",
        "mentors_joined": "New mentors: {n}",
        "matches_made": "New matches: {n}",
        "invitations": "Invitations sent: {n}",
        "digests": "Digests published: {n}",
        "set_aside_handled": "Set aside, nothing for you to do (the person was asked to fix it or nothing to fix): {n}",
        "nothing_changed": "Nothing new this week.",
        "matched": "matched",
        "waiting": "waiting for a match",
        "longest_wait": "longest wait (days)",
        "meetings_held": "meetings held",
        "satisfaction": "satisfaction (1–5)",
        "no_shows": "no-shows",
        "surveys_unanswered": "surveys closed unanswered",
        "none": "–",
        "Failed": "Failed",
        "Crashed": "Crashed",
    },
}


def _when(moment: datetime) -> str:
    return f"{moment:%d.%m %H:%M}"


def build_report(facts: ReportFacts) -> ReportDoc:
    """The weekly report: what needs the lead (with the command or link), what changed, health vs last week."""
    w = WORDS[facts.language]
    needs: list[Line] = []
    for rule in facts.broken_rules:
        needs.append(Line(text=w["broken_rule"].format(rule=rule), action="config/program.yaml", kind="command"))
    for a in facts.approvals:
        needs.append(
            Line(
                text=w["approval"].format(n=a.proposals, since=_when(a.since), batch=a.batch_id),
                action=a.link or "mentorflow approve",
                kind="link" if a.link else "command",
            )
        )
    if facts.failed_runs is None:
        needs.append(Line(text=w["runs_unknown"], action=facts.runs_link, kind="link" if facts.runs_link else None))
    else:
        for run in facts.failed_runs:
            needs.append(
                Line(
                    text=w["failed_run"].format(
                        stage=w.get(run.stage, run.stage), at=_when(run.at), state=w[run.state]
                    ),
                    action=run.link or f"mentorflow run {run.stage}",
                    kind="link" if run.link else "command",
                )
            )
    if facts.uncertain_keys:
        needs.append(
            Line(text=w["uncertain"].format(n=len(facts.uncertain_keys)), action="mentorflow status", kind="command")
        )
    if facts.failed_keys:
        needs.append(
            Line(text=w["failed_keys"].format(n=len(facts.failed_keys)), action="mentorflow status", kind="command")
        )
    if facts.new_set_aside:
        needs.append(
            Line(text=w["set_aside"].format(n=facts.new_set_aside), action="mentorflow status", kind="command")
        )
    if facts.new_flags:
        needs.append(Line(text=w["flags"].format(n=facts.new_flags), action="mentorflow status", kind="command"))

    changed = [Line(text=w[name].format(n=n)) for name, n in facts.changes.model_dump().items() if n]
    if not changed:
        changed = [Line(text=w["nothing_changed"])]

    def number(value: float | int | None) -> str:
        if value is None:
            return w["none"]
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    this, last = facts.this_week, facts.last_week
    health = [
        (
            w["longest_wait" if name == "longest_wait_days" else name],
            number(getattr(this, name)),
            number(getattr(last, name)),
        )
        for name in Health.model_fields
    ]
    all_clear = w["all_clear"] if not needs else None
    return ReportDoc(
        language=facts.language,
        subject_date=f"{facts.as_of:%d.%m.%Y}",
        needs_you=needs,
        all_clear=all_clear,
        changed=changed,
        health=health,
        titles={k: w[k] for k in ("needs_you", "changed", "health", "this_week", "last_week")},
    )


RLM = "\u200f"


def report_markdown(doc: ReportDoc) -> str:
    """The report's sections as markdown for the run's artifact (commands as code spans, links as links).

    A Hebrew report is published inside ``<div dir="rtl">`` (``publish_report(..., rtl=True)``), which Prefect's
    V2 UI honours; the V1 UI strips it, so every Hebrew line also starts with a right-to-left mark and reads in
    the right order there too (left-aligned)."""
    r = RLM if doc.language == "he" else ""

    def line(item: Line) -> str:
        if item.action is None:
            return f"- {r}{item.text}"
        if item.kind == "link" and item.action.startswith("http"):
            return f"- {r}{item.text}: [{item.action}]({item.action})"
        return f"- {r}{item.text}: `{item.action}`"

    t = doc.titles
    parts = [f"### {r}{t['needs_you']}"]
    parts += [line(i) for i in doc.needs_you] or [f"{r}{doc.all_clear or ''}"]
    parts += [
        "",
        f"### {r}{t['changed']}",
        *[line(i) for i in doc.changed],
        "",
        f"### {r}{t['health']}",
        "",
        f"| | {r}{t['this_week']} | {r}{t['last_week']} |",
        "|---|---:|---:|",
        *[f"| {r}{label} | {this} | {last} |" for label, this, last in doc.health],
    ]
    return "\n".join(parts)
