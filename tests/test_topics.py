"""Free-text expertise → topics: Hebrew morphology, geresh, niqqud, transliteration, typos, unknown phrases kept."""

from __future__ import annotations

import pytest

from config import CONFIG_DIR
from config.rules import load_rules
from domain.rules import Topic
from domain.topics import TopicMapper, content_words, normalize, tokens


@pytest.fixture(scope="module")
def mapper() -> TopicMapper:
    return TopicMapper(load_rules(CONFIG_DIR / "program.yaml").topics)


def test_normalize_folds_case_niqqud_and_quote_styles() -> None:
    assert normalize("  פַּייתוֹן  ") == "פייתון"
    assert normalize("קו״ח") == normalize('קו"ח') == 'קו"ח'
    assert normalize("ג׳אווה") == normalize("ג'אווה") == normalize("ג’אווה") == "ג'אווה"
    assert normalize("PyThOn") == "python"
    assert tokens("C++, C#, .NET and node.js.") == ["c++", "c#", ".net", "and", "node.js"]


@pytest.mark.parametrize(
    ("phrase", "topics"),
    [
        # Hebrew prefixes ב ל ה ו ש, alone and stacked
        ("בקוברניטיס", ["devops"]),
        ("ולפייתון", ["python"]),
        ("שבענן", ["cloud"]),
        ("הארכיטקטורה", ["architecture"]),
        ("ובמערכות מבוזרות", ["distributed-systems"]),
        ("לראיונות", ["interviews"]),
        # construct state: "אבטחת" before a noun is "אבטחה"
        ("אבטחת אפליקציות", ["security"]),
        ("ובאבטחת רשתות", ["security"]),
        # geresh and gershayim, Hebrew or ASCII, and the abbreviation written without them
        ("קו״ח", ["cv"]),
        ('קו"ח', ["cv"]),
        ("קוח", ["cv"]),
        ("בקו״ח", ["cv"]),
        ("ג׳אווה", ["java"]),
        ("ג'אווה", ["java"]),
        # niqqud
        ("פַּייתוֹן", ["python"]),
        # transliteration: the Hebrew and English spellings name one topic
        ("פייתון", ["python"]),
        ("python", ["python"]),
        ("קוברניטיס", ["devops"]),
        ("Kubernetes", ["devops"]),
        ("פרונטאנד", ["frontend"]),
        ("פרונטנד", ["frontend"]),
        ("frontend", ["frontend"]),
        ("CV", ["cv"]),
        # spelling variants within a few edits of a long word
        ("אריכטקטורה", ["architecture"]),
        ("ארכיטקטורה", ["architecture"]),
        ("Pyhton", ["python"]),
        ("Kubernets", ["devops"]),
        ("Databses", ["sql"]),
        # the longest spelling wins: "system design" is architecture, not UX; "ג׳אווה סקריפט" is JavaScript
        ("System design", ["architecture"]),
        ("ג׳אווה סקריפט", ["javascript"]),
        ("design", ["ux"]),
        # one alias, several topics
        ("Node.js", ["javascript", "backend"]),
        ("C# / .NET", ["dotnet"]),
        ("C++", ["cpp"]),
    ],
)
def test_phrases_map_to_topics(mapper: TopicMapper, phrase: str, topics: list[str]) -> None:
    assert mapper.map_phrase(phrase) == topics


@pytest.mark.parametrize(
    "phrase",
    [
        "לקוח",  # a client: ל + "קוח" is not an abbreviation of CV (no gershayim)
        "reach out",  # short words only match exactly: not "react"
        "string manipulation",  # "string" is not a swap of "spring"
        "jav",
        "גינון",
    ],
)
def test_short_or_unrelated_words_do_not_match(mapper: TopicMapper, phrase: str) -> None:
    assert mapper.map_phrase(phrase) == []


def test_a_line_keeps_the_phrases_that_map_to_nothing(mapper: TopicMapper) -> None:
    mapping = mapper.map_line("Python, גינון עירוני; ראיונות עבודה ו-קו״ח (embedded)")
    assert mapping.topics == ["python", "interviews", "cv"]
    assert [(p.phrase, p.topics) for p in mapping.mapped] == [
        ("Python", ["python"]),
        ("ראיונות עבודה", ["interviews"]),
        ("קו״ח", ["cv"]),
    ]
    assert mapping.unmapped == ["גינון עירוני", "embedded"]


def test_empty_and_punctuation_only_lines(mapper: TopicMapper) -> None:
    assert mapper.map_line("").topics == [] and mapper.map_line(" , ; - ").unmapped == []


def test_aliases_come_from_the_rules() -> None:
    custom = TopicMapper([Topic(key="gardening", en="Gardening", he="גינון", aliases=["urban farming"])])
    assert custom.map_phrase("בגינון") == ["gardening"]
    assert custom.map_phrase("Urban Farming") == ["gardening"]
    assert custom.map_phrase("Python") == []


def test_content_words_drop_stopwords_and_prefixes() -> None:
    assert content_words("I want to learn web accessibility") == {"web", "accessibility"}
    assert "נגישות" in content_words("ובנגישות")
