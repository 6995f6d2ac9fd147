"""Free text → the program's topics: "בקוברניטיס ובענן (AWS)" → devops, cloud.

Pure. A line is split into phrases (at , ; | ( ), spaced dashes and slashes, "and", "ו-"), each phrase into
tokens after normalisation (Unicode NFKC, niqqud removed, case folded, ׳ ״ and typographic quotes read as ' and ").
Tokens are matched against every spelling of every topic (key, English and Hebrew label, aliases from
``config/program.yaml``), longest run of tokens first, trying each token also without Hebrew prefix letters
(ו ב ל ה ש מ כ). A token or run that matches nothing exactly may match a spelling by Damerau–Levenshtein
distance (rapidfuzz): a swap of two letters from six letters on ("pyhton"), one edit from eight ("kubernets"),
two from eleven. Shorter words must match exactly, so "reach" never becomes "react", nor "string" "spring".
A phrase in which nothing matched is returned as unmapped.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import product
from typing import Protocol

from pydantic import Field
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from domain.models import Frozen
from domain.rules import Topic

MAX_RUN = 4  # the longest alias, in tokens
FUZZY_MIN_LENGTH = 6  # shorter tokens only match exactly; up to 7 letters only a swap of two letters
FUZZY_ONE_EDIT_LENGTH = 8
FUZZY_TWO_EDITS_LENGTH = 11
PREFIXES = "ובלהשמכ"
MAX_PHRASE = 200
MEMO_SIZE = 20_000  # an unmapped phrase is kept up to this many characters

_NIQQUD = re.compile("[\u0591-\u05bd\u05bf-\u05c7]")  # cantillation and vowel points; not maqaf (05BE)
_APOSTROPHES = str.maketrans(
    {
        "׳": "'",
        "’": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
        "״": '"',
        "“": '"',
        "”": '"',
        "„": '"',
        "\u05be": "-",
        "–": "-",
        "—": "-",
    }
)
_PHRASE_SPLIT = re.compile(r"[,;|()\[\]\n•·]+|\s[-–—/]+\s|\s(?:and|or|&|או|\+)\s|\sו-", re.IGNORECASE)
_TOKEN = re.compile(r"\.?[a-z0-9א-ת][a-z0-9א-ת+#.'\"]*")


def normalize(text: str) -> str:
    """Case-folded text without niqqud, with one apostrophe, one double quote and one dash, single-spaced."""
    s = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    s = _NIQQUD.sub("", unicodedata.normalize("NFD", s))
    return " ".join(unicodedata.normalize("NFC", s).casefold().split())


def tokens(text: str) -> list[str]:
    """Words of normalised text; "c++", "c#", ".net", "node.js" and 'קו"ח' stay whole."""
    return [t.rstrip(".'\"") or t for t in _TOKEN.findall(normalize(text).replace("-", " "))]


def _bare(token: str) -> str:
    return token.replace("'", "").replace('"', "")


# Whole Hebrew words that look like a prefix + an alias but are not: "לקוח" (a client) is not ל + קוח (CV).
NOT_PREFIXED = frozenset({"לקוח", "לקוחה", "ולקוח", "הלקוח"})


def hebrew_forms(word: str) -> list[str]:
    """A word as written, without quote marks, then the other forms it may stand for (see ``_forms``)."""
    return [form for form, _ in _forms(word)]


def _forms(token: str) -> list[tuple[str, bool]]:
    """(form, stripped a prefix) for a token: itself, then without one or two Hebrew prefix letters, then each of
    those in the absolute state when it ends in the construct ת ("אבטחת" → "אבטחה").

    A form without a prefix keeps at least three letters ("בענן" → "ענן"), and words in ``NOT_PREFIXED`` are
    never taken apart.
    """
    out = [(_bare(token), False)]
    if _bare(token) not in NOT_PREFIXED:
        t = token
        for _ in range(2):
            if len(t) > 1 and t[0] in PREFIXES and "\u05d0" <= t[1] <= "\u05ea" and len(_bare(t[1:])) >= 3:
                t = t[1:]
                out.append((_bare(t), True))
            else:
                break
    # Hebrew construct state: "אבטחת מידע" is the form of "אבטחה" before another noun.
    out += [
        (form[:-1] + "ה", stripped)
        for form, stripped in out
        if len(form) >= 4 and form.endswith("ת") and "\u05d0" <= form[0] <= "\u05ea"
    ]
    return out


class PhraseTopics(Frozen):
    phrase: str
    topics: list[str]


class LineMapping(Frozen):
    """How one free-text line maps: each phrase with its topics, and the phrases that mapped to nothing."""

    mapped: list[PhraseTopics] = Field(default_factory=list)
    unmapped: list[str] = Field(default_factory=list)

    @property
    def topics(self) -> list[str]:
        return list(dict.fromkeys(k for p in self.mapped for k in p.topics))


class PhraseCount(Frozen):
    """A phrase of the roster's free text, its topics ([] when none), and how many mentor rows used it."""

    phrase: str
    topics: list[str] = Field(default_factory=list)
    mentors: int


class MappingReport(Frozen):
    """The lead's mapping report over a roster's rows: phrases mapped to nothing and phrase → topics, each most
    frequent first (phrases differing only in case, niqqud or quote marks count as one)."""

    unmapped: list[PhraseCount] = Field(default_factory=list)
    mapped: list[PhraseCount] = Field(default_factory=list)


class Mapped(Protocol):
    """What a row's mapping gives: a :class:`LineMapping`, a ``MentorCheck``."""

    @property
    def mapped(self) -> Sequence[PhraseTopics]: ...

    @property
    def unmapped(self) -> Sequence[str]: ...


def _counted(counts: Counter[str], spelling: dict[str, PhraseTopics]) -> list[PhraseCount]:
    return [
        PhraseCount(phrase=spelling[k].phrase, topics=spelling[k].topics, mentors=n)
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def mapping_report(rows: Iterable[Mapped]) -> MappingReport:
    """Count, over mentor rows, each phrase mapped to nothing and each phrase mapped to topics (once per row)."""
    unmapped: Counter[str] = Counter()
    mapped: Counter[str] = Counter()
    first_unmapped: dict[str, PhraseTopics] = {}
    first_mapped: dict[str, PhraseTopics] = {}
    for row in rows:
        row_unmapped = {normalize(p): PhraseTopics(phrase=p, topics=[]) for p in row.unmapped}
        row_mapped = {normalize(m.phrase): m for m in row.mapped}
        for key, phrase in row_unmapped.items():
            first_unmapped.setdefault(key, phrase)
        for key, m in row_mapped.items():
            first_mapped.setdefault(key, m)
        unmapped.update(row_unmapped.keys())
        mapped.update(row_mapped.keys())
    return MappingReport(unmapped=_counted(unmapped, first_unmapped), mapped=_counted(mapped, first_mapped))


class TopicMapper:
    """Maps phrases to topic keys through the topics' spellings; build once per rules."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.order = {t.key: n for n, t in enumerate(topics)}
        self.index: dict[tuple[str, ...], set[str]] = {}
        for t in topics:
            for spelling in (t.key, t.en, t.he, *t.aliases):
                run = tuple(_bare(x) for x in tokens(spelling))
                if run:
                    self.index.setdefault(run, set()).add(t.key)
        self.fuzzy_choices = {" ".join(run): run for run in self.index if len(" ".join(run)) >= FUZZY_MIN_LENGTH}
        self._seen: dict[str, list[str]] = {}  # form answers repeat the same choices: map each text once

    def _keys(self, found: Iterable[str]) -> list[str]:
        return sorted(set(found), key=self.order.__getitem__)

    def _exact(self, run: Sequence[str]) -> set[str] | None:
        for combo in product(*(_forms(t) for t in run)):
            candidate = tuple(form for form, _ in combo)
            if candidate in self.index:
                return self.index[candidate]
        return None

    def _fuzzy(self, run: Sequence[str]) -> set[str] | None:
        for combo in product(*(_forms(t) for t in run)):
            query = " ".join(form for form, _ in combo)
            if len(query) < FUZZY_MIN_LENGTH or not re.search(r"[a-zא-ת]", query):
                continue
            edits = 2 if len(query) >= FUZZY_TWO_EDITS_LENGTH else 1
            hit = process.extractOne(
                query, self.fuzzy_choices.keys(), scorer=DamerauLevenshtein.distance, score_cutoff=edits
            )
            if hit is None or len(self.fuzzy_choices[hit[0]]) != len(run):
                continue
            if len(query) < FUZZY_ONE_EDIT_LENGTH and sorted(query) != sorted(hit[0]):
                continue  # short words: a swap of two letters only
            return self.index[self.fuzzy_choices[hit[0]]]
        return None

    def map_phrase(self, phrase: str) -> list[str]:
        """Topic keys named anywhere in ``phrase`` (in topic-list order), or [] when none."""
        if (known := self._seen.get(phrase)) is not None:
            return list(known)
        found = self._map(phrase)
        if len(self._seen) < MEMO_SIZE:
            self._seen[phrase] = found
        return list(found)

    def _map(self, phrase: str) -> list[str]:
        toks = tokens(phrase)
        found: set[str] = set()
        i = 0
        while i < len(toks):
            for size in range(min(MAX_RUN, len(toks) - i), 0, -1):
                keys = self._exact(toks[i : i + size])
                if keys is None and size <= 2:
                    keys = self._fuzzy(toks[i : i + size])
                if keys is not None:
                    found |= keys
                    i += size
                    break
            else:
                i += 1
        return self._keys(found)

    def map_line(self, line: str) -> LineMapping:
        """Every phrase of a free-text line with its topics; phrases that name no topic are kept as unmapped."""
        mapped: list[PhraseTopics] = []
        unmapped: list[str] = []
        for raw in _PHRASE_SPLIT.split(line):
            phrase = " ".join(raw.split()).strip(" -–—:!?").rstrip(".")
            if not phrase or not re.search(r"\w", phrase):
                continue
            keys = self.map_phrase(phrase)
            if keys:
                mapped.append(PhraseTopics(phrase=phrase, topics=keys))
            else:
                unmapped.append(phrase[:MAX_PHRASE])
        return LineMapping(mapped=mapped, unmapped=unmapped)


# Words too common to say two people share an interest (a tiny list: only words of three letters or more count).
STOPWORDS = frozenset(
    {
        "and",
        "the",
        "for",
        "with",
        "from",
        "into",
        "about",
        "that",
        "this",
        "you",
        "your",
        "can",
        "help",
        "want",
        "learn",
        "learning",
        "more",
        "how",
        "what",
        "who",
        "all",
        "any",
        "some",
        "also",
        "get",
        "work",
        "working",
        "would",
        "like",
        "need",
        "our",
        "new",
        "את",
        "עם",
        "על",
        "כל",
        "גם",
        "אני",
        "אוכל",
        "לעזור",
        "רוצה",
        "רוצים",
        "ללמוד",
        "איך",
        "כמו",
        "יותר",
        "שלי",
        "בין",
        "אצל",
        "עוד",
        "לא",
        "כן",
        "אם",
        "כי",
    }
)


def content_words(text: str) -> set[str]:
    """Words of ``text`` that can carry meaning (three letters or more, not a stopword), prefix-free forms too."""
    out: set[str] = set()
    for tok in tokens(text):
        for form, _ in _forms(tok):
            if len(form) >= 3 and form not in STOPWORDS:
                out.add(form)
    return out
