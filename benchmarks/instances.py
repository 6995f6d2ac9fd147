"""Seeded synthetic batches for the matching benchmark.

Mentor capacity 1/2/3 at 40/35/25%; 25 topics with Zipf-like popularity, 1–5 per person (mentees rank
theirs); languages he / en / both at 45/15/40%; 42 weekly 2-hour blocks (Sun–Sat, 08:00–20:00), 2–6 per
person; career stage 0–3 for mentees and 1–4 for mentors; waiting 0–10 weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import numpy as np

from config.rules import load_rules
from domain.models import MenteeApplication, Mentor, MentoringRequest, RequestStatus, Weekday, WeeklyWindow
from domain.rules import ProgramRules, Topic

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
N_TOPICS = 25
BLOCK_STARTS = (8, 10, 12, 14, 16, 18)
DAYS = (Weekday.SUN, Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI, Weekday.SAT)
BLOCKS = [WeeklyWindow(day=d, start=time(h), end=time(h + 2)) for d in DAYS for h in BLOCK_STARTS]
LANGS = (["he"], ["en"], ["he", "en"])
SIZES = ((100, 40), (1_000, 400), (5_000, 2_000), (20_000, 8_000))


@dataclass(frozen=True)
class Batch:
    requests: list[MentoringRequest]
    mentors: list[Mentor]
    rules: ProgramRules
    now: datetime


def bench_rules() -> ProgramRules:
    """The program's rules with 25 generic topics (t00 … t24)."""
    base = load_rules(ROOT / "config" / "program.yaml")
    topics = [Topic(key=f"t{k:02d}", en=f"Topic {k:02d}", he=f"נושא {k:02d}") for k in range(N_TOPICS)]
    return base.model_copy(update={"topics": topics})


def _topics(rng: np.random.Generator, popularity: np.ndarray) -> list[str]:
    count = int(rng.integers(1, 6))
    picked = rng.choice(N_TOPICS, size=count, replace=False, p=popularity)
    return [f"t{k:02d}" for k in picked]


def _blocks(rng: np.random.Generator) -> list[WeeklyWindow]:
    picked = sorted(rng.choice(len(BLOCKS), size=int(rng.integers(2, 7)), replace=False))
    return [BLOCKS[k] for k in picked]


def generate(n_mentees: int, n_mentors: int, seed: int = 7) -> Batch:
    """A reproducible batch of pending requests and an active roster."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, N_TOPICS + 1) ** 0.9
    popularity /= popularity.sum()
    mentors = []
    for j in range(n_mentors):
        mentors.append(
            Mentor.model_construct(
                email=f"mentor{j}@example.org",
                name=f"Mentor {j}",
                role="",
                company="",
                expertise=_topics(rng, popularity),
                years=int(rng.integers(2, 30)),
                career_stage=int(rng.integers(1, 5)),
                languages=LANGS[int(rng.choice(3, p=[0.45, 0.15, 0.40]))],
                capacity=int(rng.choice([1, 2, 3], p=[0.40, 0.35, 0.25])),
                availability=_blocks(rng),
                active=True,
                linkedin="",
                booking_url="",
            )
        )
    requests = []
    for i in range(n_mentees):
        waited = timedelta(days=float(rng.uniform(0, 70)))
        app = MenteeApplication.model_construct(
            response_id=f"r{i}",
            submitted_at=NOW - waited,
            name=f"Mentee {i}",
            email=f"mentee{i}@example.org",
            languages=LANGS[int(rng.choice(3, p=[0.45, 0.15, 0.40]))],
            topics=_topics(rng, popularity),
            career_stage=int(rng.integers(0, 4)),
            goals="",
            availability=_blocks(rng),
            accessibility_needs="",
            consent_contact=True,
            consent_quote=False,
            continue_with=None,
        )
        requests.append(
            MentoringRequest.model_construct(
                id=i + 1,
                application=app,
                status=RequestStatus.PENDING,
                created_at=NOW - waited,
                updated_at=NOW - waited,
                waiting_since=NOW - waited,
                wait_reason="",
                previous_mentors=[],
                timeline=[],
            )
        )
    return Batch(requests=requests, mentors=mentors, rules=bench_rules(), now=NOW)
