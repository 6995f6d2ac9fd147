"""Vectorised scoring: people become incidence matrices, pairs become sparse candidate edges.

Every mentee × mentor quantity is a small matrix product (topics, languages, weekly time segments), computed
in row chunks so memory stays bounded; only the pairs that pass the hard constraints leave as sparse edges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from domain.models import Mentor, MentoringRequest, WeeklyWindow
from domain.rules import MatchingRules
from domain.topics import content_words

WEEK_SECONDS = 7 * 24 * 3600
DAY_MINUTES = 24 * 60
CHUNK_CELLS = 1_000_000  # mentee rows × mentor columns per chunk: temporaries of a few MB stay in cache and reused

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
Bool = NDArray[np.bool_]


def _week_minute(day: int, hour: int, minute: int) -> int:
    return (day - 1) * DAY_MINUTES + hour * 60 + minute


@dataclass(frozen=True)
class Instance:
    """A batch encoded as arrays. Rows are mentees (requests), columns are active mentors."""

    requests: Sequence[MentoringRequest]
    mentors: Sequence[Mentor]  # active, unique by email, in roster order
    topics: list[str]  # topic keys, column order of the topic matrices
    languages: list[str]  # language codes, column order of the language matrices
    seg_start: I64  # weekly minute at which each elementary time segment starts
    seg_len: F32  # minutes in each segment
    e_topic_w: F64  # n × K: topic weight by the mentee's ranking (0 where not wanted)
    e_topic: F32  # n × K: 1 where wanted
    m_topic: F32  # m × K: 1 where the mentor has the expertise
    e_lang: F32  # n × L
    m_lang: F32  # m × L
    e_first_lang: I64  # n: column of the mentee's first language
    e_words: F32  # n × W: 1 where the mentee's goals use a word of some mentor's unmapped expertise phrases
    m_words: F32  # m × W: 1 where the word is in the mentor's unmapped phrases (W = 0 when nobody has any)
    e_time: F32  # n × S: 1 where the mentee is free in the segment
    m_time: F32  # m × S: segment minutes where the mentor is free (so e_time @ m_time.T = shared minutes)
    e_stage: I64
    m_stage: I64
    priority: F64  # n: waiting-time bonus
    load: I64  # m: mentees already assigned
    remaining: I64  # m: free places (capacity - load, at least 0)
    excluded: tuple[I64, I64]  # (row, col) pairs that may never match: same person, former mentor
    continuity: tuple[I64, I64]  # (row, col) pairs the mentee asked to continue with
    rules: MatchingRules
    # m: True for a mentor who publishes their own booking slots: the shared-time constraint does not apply
    self_booked: Bool = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.requests), len(self.mentors)


def _time_matrices(people: Sequence[Sequence[WeeklyWindow]]) -> tuple[I64, I64, F32]:
    """Elementary weekly segments (every boundary anyone's window has) and, per person, 1 where free.

    Windows become minutes from the start of the week; a difference array marks each window's first and
    past-the-end segment and a running sum fills it in, so overlapping windows simply count twice. Shared
    minutes then become one matrix product. (Flat int lists, not tuples: no garbage-collector work.)
    """
    owner: list[int] = []
    lo: list[int] = []
    hi: list[int] = []
    for r, windows in enumerate(people):
        for w in windows:
            day = (int(w.day) - 1) * DAY_MINUTES
            owner.append(r)
            lo.append(day + w.start.hour * 60 + w.start.minute)
            hi.append(day + w.end.hour * 60 + w.end.minute)
    bounds = np.array(sorted({*lo, *hi}), np.int64)
    if len(bounds) < 2:
        return np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros((len(people), 0), np.float32)
    diff = np.zeros((len(people), len(bounds)), np.int32)
    np.add.at(diff, (np.array(owner), np.searchsorted(bounds, lo)), 1)
    np.add.at(diff, (np.array(owner), np.searchsorted(bounds, hi)), -1)
    cover = (np.cumsum(diff, axis=1)[:, :-1] > 0).astype(np.float32)
    return bounds[:-1], bounds, cover


def _norm(value: str) -> str:
    return value.strip().casefold()


def build_instance(
    requests: Sequence[MentoringRequest],
    mentors: Sequence[Mentor],
    load: Mapping[str, int],
    rules: MatchingRules,
    now: datetime,
    topic_order: Sequence[str] = (),
) -> Instance:
    """Encode a batch: active mentors only (first entry wins on a repeated email), every request a row."""
    w = rules.weights
    seen: set[str] = set()
    roster: list[Mentor] = []
    for person in mentors:
        key = person.key
        if person.active and key not in seen:
            seen.add(key)
            roster.append(person)
    col_of = {x.key: j for j, x in enumerate(roster)}
    loads = {_norm(k): v for k, v in load.items()}
    apps = [r.application for r in requests]
    n = len(apps)

    seen_topics = [*topic_order, *(t for a in apps for t in a.topics), *(t for x in roster for t in x.expertise)]
    topics = list(dict.fromkeys(seen_topics))
    t_col = {t: k for k, t in enumerate(topics)}
    spoken = [*(lang for a in apps for lang in a.languages), *(lang for x in roster for lang in x.languages)]
    langs = list(dict.fromkeys(_norm(lang) for lang in spoken))
    l_col = {lang: k for k, lang in enumerate(langs)}

    def incidence(people: Sequence[Sequence[str]], col: Mapping[str, int], norm: bool) -> F32:
        out = np.zeros((len(people), len(col)), np.float32)
        at = [r for r, items in enumerate(people) for _ in items]
        out[at, [col[_norm(x) if norm else x] for items in people for x in items]] = 1.0
        return out

    e_topic = incidence([a.topics for a in apps], t_col, False)
    m_topic = incidence([x.expertise for x in roster], t_col, False)
    e_lang = incidence([a.languages for a in apps], l_col, True)
    m_lang = incidence([x.languages for x in roster], l_col, True)
    e_first = np.array([l_col[_norm(a.languages[0])] for a in apps], np.int64)
    # Topic points by the mentee's ranking: weight × decay^rank, repeated topics counted once.
    ranked = [list(dict.fromkeys(a.topics)) for a in apps]
    e_topic_w = np.zeros((n, len(topics)), np.float64)
    if w.topic > 0:
        rank = np.array([k for ts in ranked for k in range(len(ts))], np.float64)
        e_topic_w[[i for i, ts in enumerate(ranked) for _ in ts], [t_col[t] for ts in ranked for t in ts]] = (
            w.topic * w.topic_rank_decay**rank
        )

    e_words, m_words = _word_matrices([a.goals for a in apps], roster) if w.free_text > 0 else _no_words(n, roster)

    seg_start, bounds, cover = _time_matrices([a.availability for a in apps] + [x.availability for x in roster])
    seg_len = np.diff(bounds).astype(np.float32)
    e_time = cover[:n]
    m_time = cover[n:] * seg_len[None, :]

    weeks = np.array([max((now - r.waiting_since).total_seconds(), 0.0) / WEEK_SECONDS for r in requests], np.float64)
    priority = np.minimum(weeks * w.waiting_per_week, w.waiting_cap) if n else np.zeros(0)

    m_load = np.array([max(loads.get(x.key, 0), 0) for x in roster], np.int64)
    remaining = np.maximum(np.array([x.capacity for x in roster], np.int64) - m_load, 0)

    ex_r: list[int] = []
    ex_c: list[int] = []
    co_r: list[int] = []
    co_c: list[int] = []
    for i, (r, a) in enumerate(zip(requests, apps, strict=True)):
        wanted = _norm(str(a.continue_with)) if a.continue_with else None
        if wanted is not None and wanted in col_of and wanted not in {_norm(p) for p in r.refused_mentors}:
            co_r.append(i)
            co_c.append(col_of[wanted])
        barred = {_norm(p) for p in r.previous_mentors} - ({wanted} if wanted else set())
        barred |= {_norm(p) for p in r.refused_mentors}  # the lead's word is final, even over continuity
        barred.add(_norm(str(a.email)))
        for email in barred:
            if email in col_of:
                ex_r.append(i)
                ex_c.append(col_of[email])

    def pairs(rs: list[int], cs: list[int]) -> tuple[I64, I64]:
        return np.asarray(rs, np.int64), np.asarray(cs, np.int64)

    return Instance(
        requests=requests,
        mentors=roster,
        topics=topics,
        languages=langs,
        seg_start=seg_start,
        seg_len=seg_len,
        e_topic_w=e_topic_w,
        e_topic=e_topic,
        m_topic=m_topic,
        e_lang=e_lang,
        m_lang=m_lang,
        e_first_lang=e_first,
        e_words=e_words,
        m_words=m_words,
        e_time=e_time,
        m_time=m_time,
        e_stage=np.array([a.career_stage for a in apps], np.int64),
        m_stage=np.array([x.career_stage for x in roster], np.int64),
        priority=priority,
        load=m_load,
        remaining=remaining,
        excluded=pairs(ex_r, ex_c),
        continuity=pairs(co_r, co_c),
        rules=rules,
        self_booked=np.array([x.scheduling == "booking_link" for x in roster], bool),
    )


def _no_words(n: int, roster: Sequence[Mentor]) -> tuple[F32, F32]:
    return np.zeros((n, 0), np.float32), np.zeros((len(roster), 0), np.float32)


def _word_matrices(goals: Sequence[str], roster: Sequence[Mentor]) -> tuple[F32, F32]:
    """Incidence of the words mentors' unmapped expertise phrases share with mentees' goals (a weak signal)."""
    mentor_words = [content_words(" ".join(x.expertise_text)) if x.expertise_text else set() for x in roster]
    offered = set().union(*mentor_words)
    if not offered:
        return _no_words(len(goals), roster)
    mentee_words = [content_words(g) & offered if g else set() for g in goals]
    vocab = {word: k for k, word in enumerate(sorted(set().union(*mentee_words)))}
    e = np.zeros((len(goals), len(vocab)), np.float32)
    m = np.zeros((len(roster), len(vocab)), np.float32)
    for out, people in ((e, mentee_words), (m, mentor_words)):
        for r, words in enumerate(people):
            out[r, [vocab[x] for x in words if x in vocab]] = 1.0
    return e, m


def _free_text(inst: Instance, overlap: NDArray[np.float32]) -> F64:
    return inst.rules.weights.free_text * (overlap > 0).astype(np.float64)


@dataclass(frozen=True)
class Components:
    """Score parts of a set of pairs (vectorised), plus the hard-constraint masks."""

    topics: F64
    stage: F64
    availability: F64
    language: F64
    continuity: F64
    priority: F64
    free_text: F64
    shared_minutes: F32

    @property
    def total(self) -> F64:
        s = self.topics + self.stage + self.availability + self.language + self.continuity + self.priority
        s = s + self.free_text
        return np.round(s, 6)


def _stage(inst: Instance, e_stage: I64, m_stage: I64) -> F64:
    w = inst.rules.weights
    return (w.stage - np.abs((m_stage - e_stage) - w.stage_ideal_gap)).astype(np.float64)


def _availability(inst: Instance, minutes: F32) -> F64:
    w = inst.rules.weights
    return w.availability_per_hour * np.minimum(minutes.astype(np.float64) / 60.0, w.availability_cap_hours)


def pair_components(inst: Instance, rows: I64, cols: I64) -> Components:
    """Score parts of the given (row, col) pairs, elementwise (no matrix over all pairs)."""
    w = inst.rules.weights
    minutes = np.einsum("ij,ij->i", inst.e_time[rows], inst.m_time[cols]) if len(rows) else np.zeros(0, np.float32)
    cont = np.zeros(len(rows))
    if len(inst.continuity[0]) and len(rows):
        wanted = dict(zip(inst.continuity[0].tolist(), inst.continuity[1].tolist(), strict=True))
        cont = np.array(
            [w.continuity if wanted.get(r) == c else 0.0 for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
        )
    return Components(
        topics=np.einsum("ij,ij->i", inst.e_topic_w[rows], inst.m_topic[cols].astype(np.float64)),
        stage=_stage(inst, inst.e_stage[rows], inst.m_stage[cols]),
        availability=_availability(inst, minutes),
        language=w.language_first_choice * inst.m_lang[cols, inst.e_first_lang[rows]].astype(np.float64),
        continuity=cont,
        priority=inst.priority[rows],
        free_text=_free_text(inst, np.einsum("ij,ij->i", inst.e_words[rows], inst.m_words[cols])),
        shared_minutes=minutes.astype(np.float32),
    )


@dataclass(frozen=True)
class ChunkMasks:
    """For a block of mentee rows × all mentor columns: each hard constraint and the scores."""

    language: Bool
    time: Bool
    topic: Bool
    allowed: Bool  # not the same person, not a former mentor (unless asked to continue)
    score: F64

    def feasible(self, min_score: float) -> Bool:
        return self.language & self.time & self.topic & self.allowed & (self.score > min_score)


def chunk_masks(inst: Instance, rows: I64) -> ChunkMasks:
    """Hard-constraint masks and scores for the given mentee rows against every active mentor."""
    w = inst.rules.weights
    n, m = inst.shape
    language = (inst.e_lang[rows] @ inst.m_lang.T) > 0
    minutes = inst.e_time[rows] @ inst.m_time.T
    time = (minutes > 0) | _self_booked(inst, m)[None, :]
    topic_pts = inst.e_topic_w[rows] @ inst.m_topic.T.astype(np.float64)
    if inst.rules.require_shared_topic:
        topic = (topic_pts > 0) if w.topic > 0 else (inst.e_topic[rows] @ inst.m_topic.T) > 0
    else:
        topic = np.ones((len(rows), m), bool)
    score = topic_pts
    score += _availability(inst, minutes)
    score += _stage(inst, inst.e_stage[rows][:, None], inst.m_stage[None, :])
    score += w.language_first_choice * inst.m_lang.T[inst.e_first_lang[rows]]
    score += inst.priority[rows][:, None]
    if inst.e_words.shape[1]:
        score += _free_text(inst, inst.e_words[rows] @ inst.m_words.T)
    allowed = np.ones((len(rows), m), bool)
    local = np.full(n, -1, np.int64)
    local[rows] = np.arange(len(rows))
    ex_r, ex_c = inst.excluded
    hit = local[ex_r] >= 0 if len(ex_r) else np.zeros(0, bool)
    allowed[local[ex_r[hit]], ex_c[hit]] = False
    co_r, co_c = inst.continuity
    hit = local[co_r] >= 0 if len(co_r) else np.zeros(0, bool)
    score[local[co_r[hit]], co_c[hit]] += w.continuity
    return ChunkMasks(language=language, time=time, topic=topic, allowed=allowed, score=np.round(score, 6))


def _self_booked(inst: Instance, m: int) -> Bool:
    """Which mentors take bookings by link (all False for an instance built without that column)."""
    return inst.self_booked if len(inst.self_booked) == m else np.zeros(m, bool)


def row_chunks(n: int, m: int) -> list[I64]:
    """Row blocks small enough that a block × m matrix stays around CHUNK_CELLS cells."""
    size = max(1, CHUNK_CELLS // max(m, 1))
    return [np.arange(lo, min(lo + size, n), dtype=np.int64) for lo in range(0, n, size)]


@dataclass(frozen=True)
class Edges:
    """Feasible pairs, sorted by row then column, with their scores (32-bit indices: large batches are big)."""

    rows: I32
    cols: I32
    score: F64


def _sorted_hits(keys: I64, wanted: I64) -> Bool:
    """Which of the sorted ``keys`` appear in ``wanted`` (a short list)."""
    hit = np.zeros(len(keys), bool)
    if len(wanted) and len(keys):
        pos = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        hit[pos[keys[pos] == wanted]] = True
    return hit


def candidate_edges(inst: Instance) -> Edges:
    """Every pair with a free place that passes the hard constraints and scores above ``min_score``.

    Masks come from three small matrix products per row chunk; scores are computed only on feasible pairs.
    Excluded and continuation pairs are found by their key ``row * mentors + col``, which is sorted within a chunk.
    """
    w = inst.rules.weights
    n, m = inst.shape
    open_cols = np.flatnonzero(inst.remaining > 0)
    width = len(open_cols)
    m_lang, m_time = inst.m_lang[open_cols].T.copy(), inst.m_time[open_cols].T.copy()
    m_topic = inst.m_topic[open_cols].T.astype(np.float64)
    m_stage = inst.m_stage[open_cols]
    m_words = inst.m_words[open_cols].T.copy() if inst.m_words.shape[1] else None
    self_booked = _self_booked(inst, m)[open_cols]
    excluded = np.sort(inst.excluded[0] * m + inst.excluded[1])
    wanted = np.sort(inst.continuity[0] * m + inst.continuity[1])
    rs: list[I32] = []
    cs: list[I32] = []
    ss: list[F64] = []
    for rows in row_chunks(n, width):
        minutes = inst.e_time[rows] @ m_time
        feasible = (minutes > 0) | self_booked[None, :]
        feasible &= (inst.e_lang[rows] @ m_lang) > 0
        topic_pts = inst.e_topic_w[rows] @ m_topic
        if inst.rules.require_shared_topic:
            feasible &= (topic_pts > 0) if w.topic > 0 else (inst.e_topic[rows] @ m_topic) > 0
        flat = np.flatnonzero(feasible)
        r, c = np.divmod(flat, width)
        gr = rows[r]
        score = topic_pts.ravel()[flat]
        score += _availability(inst, minutes.ravel()[flat])
        score += _stage(inst, inst.e_stage[gr], m_stage[c])
        score += w.language_first_choice * m_lang[inst.e_first_lang[gr], c]
        score += inst.priority[gr]
        if m_words is not None:
            score += _free_text(inst, np.einsum("ij,ji->i", inst.e_words[gr], m_words[:, c]))
        gc = open_cols[c]
        keep = np.ones(len(gr), bool)
        if len(excluded) or len(wanted):
            key = gr * m + gc
            lo, hi = rows[0] * m, (rows[-1] + 1) * m
            score[_sorted_hits(key, wanted[(wanted >= lo) & (wanted < hi)])] += w.continuity
            keep &= ~_sorted_hits(key, excluded[(excluded >= lo) & (excluded < hi)])
        score = np.round(score, 6)
        keep &= score > inst.rules.min_score
        rs.append(gr[keep].astype(np.int32))
        cs.append(gc[keep].astype(np.int32))
        ss.append(score[keep])
    return Edges(_join(rs, np.int32), _join(cs, np.int32), _join(ss, np.float64))


def _join(parts: list[NDArray[Any]], dtype: type) -> NDArray[Any]:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)
