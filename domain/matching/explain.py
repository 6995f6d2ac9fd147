"""Short English reasons: why a pair was proposed, and the binding reason a mentee is still waiting."""

from __future__ import annotations

import numpy as np

from domain.fields import LANGUAGES
from domain.matching.scoring import Instance, chunk_masks, row_chunks
from domain.models import MenteeApplication, Mentor, WeeklyWindow
from domain.rules import ProgramRules

LANGUAGE_NAMES = {code: names[0] for code, names in LANGUAGES.items()}
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}
HE_STAGES = {1: "שלב אחד", 2: "שני שלבים", 3: "שלושה שלבים", 4: "ארבעה שלבים"}
PLACES_TAKEN = "fitting mentors' free places went to other mentees in this batch"


def language_name(code: str, rules: ProgramRules) -> str:
    """English name of a language code (the rules' label when it is plain ASCII, else the code)."""
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code]
    label = rules.languages.get(code, code)
    return label if label.isascii() else code


def stage_reason(gap: int, language: str = "en") -> str:
    """How the mentor's career stage relates to the mentee's."""
    if language == "he":
        if gap == 0:
            return "אותו שלב בקריירה"
        steps = HE_STAGES.get(abs(gap), f"{abs(gap)} שלבים")
        return f"המנטור/ית {steps} {'לפני' if gap > 0 else 'אחרי'} בקריירה"
    if gap == 0:
        return "same career stage"
    steps = NUMBERS.get(abs(gap), str(abs(gap)))
    noun = "stage" if abs(gap) == 1 else "stages"
    return f"mentor {steps} {noun} ahead" if gap > 0 else f"mentor {steps} {noun} behind"


def match_reasons(
    rules: ProgramRules,
    application: MenteeApplication,
    mentor: Mentor,
    windows: list[WeeklyWindow],
    continuity: bool,
    language: str = "en",
) -> list[str]:
    """One to three reasons, most telling first (English for the lead; Hebrew for Hebrew mail)."""
    he = language == "he"
    expertise = set(mentor.expertise)
    shared_topics = [t for t in dict.fromkeys(application.topics) if t in expertise]
    stage_gap = mentor.career_stage - application.career_stage
    reasons: list[str] = []
    if continuity:
        reasons.append("המשך עם המנטור/ית הקודם/ת" if he else "continues with former mentor")
    if shared_topics:
        labels = ", ".join(rules.topic_label(t, language) for t in shared_topics[:3])
        more = f" (+{len(shared_topics) - 3})" if len(shared_topics) > 3 else ""
        reasons.append(f"נושאים משותפים: {labels}{more}" if he else f"shared: {labels}{more}")
    if windows:
        if he:
            more = f" (ועוד {len(windows) - 1})" if len(windows) > 1 else ""
            reasons.append(f"שניכם פנויים ב{windows[0].label('he')}{more}")
        else:
            more = f" (+{len(windows) - 1} more)" if len(windows) > 1 else ""
            reasons.append(f"both free {windows[0].label()}{more}")
    reasons.append(stage_reason(stage_gap, language))
    return reasons[:3]


def binding_reasons(inst: Instance, rows: np.ndarray, taken: bool, program: ProgramRules) -> dict[int, str]:
    """For each unmatched row, the first hard constraint that leaves it without any mentor.

    Checks narrow the active roster in order: language, shared time, shared topic, not self / former mentor,
    minimum score, free places. If a mentee passed all of them, the fitting places went to others (``taken``).
    """
    out: dict[int, str] = {}
    n, m = inst.shape
    if len(rows) == 0:
        return out
    if m == 0:
        return {int(r): "no active mentor in the roster" for r in rows}
    rows = np.asarray(rows, np.int64)
    free_place = inst.remaining > 0
    for part in row_chunks(len(rows), m):
        sub = rows[part]
        cm = chunk_masks(inst, sub)
        steps = [
            cm.language,
            cm.time,
            cm.topic,
            cm.allowed,
            cm.score > inst.rules.min_score,
            np.broadcast_to(free_place, cm.language.shape),
        ]
        alive = np.ones_like(cm.language)
        first_dead = np.full(len(sub), len(steps), np.int64)
        for k, mask in enumerate(steps):
            alive = alive & mask
            dead = ~alive.any(axis=1) & (first_dead == len(steps))
            first_dead[dead] = k
        for r, k in zip(sub.tolist(), first_dead.tolist(), strict=True):
            out[r] = _reason(inst, r, k, taken, program)
    return out


def _reason(inst: Instance, row: int, step: int, taken: bool, program: ProgramRules) -> str:
    app = inst.requests[row].application
    if step == 0:
        names = list(dict.fromkeys(language_name(lang.strip().casefold(), program) for lang in app.languages))
        return f"no active mentor speaks {' or '.join(names)}"
    if step == 1:
        return "no mentor who shares a language is free at the same time"
    if step == 2:
        labels = ", ".join(program.topic_label(t) for t in app.topics)
        return f"no mentor for topics: {labels} (among those free at the same time)"
    if step == 3:
        return "the only fitting mentors are former mentors or the mentee"
    if step == 4:
        return "no fitting mentor scores above the minimum score"
    if step == 5:
        return "all fitting mentors are full"
    return PLACES_TAKEN if taken else "no fitting mentor"
