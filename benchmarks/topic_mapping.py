"""Topic-mapping benchmark: free-text "how I can help" lines → the program's topics, against a labelled set.

The labelled lines (``benchmarks/data/topic_lines.yaml``, invented, Hebrew / English / mixed, with typos) are
written into a mentors page exactly as the community's page is laid out and read through
``mentorflow roster check --json``'s code path (``mentorflow.roster_check.check_roster``).

    python benchmarks/topic_mapping.py           # figures beside the targets
    python benchmarks/topic_mapping.py --misses  # also every line whose topics differ from the labels
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mentorflow.roster_check import check_roster  # noqa: E402

DATA = HERE / "data" / "topic_lines.yaml"
HOLDOUT = HERE / "data" / "topic_lines_holdout.yaml"  # written after the aliases; never used to tune them
TARGET_HIT = 0.95  # share of lines (with at least one expected topic) that get at least one correct topic
TARGET_PRECISION = 0.90  # correct topics / topics assigned


def page(lines: list[str]) -> str:
    """A mentors page (front matter, prose, one RTL table) with one invented mentor per line."""
    rows = "\n".join(
        f"    <tr><td>Mentor {n}</td><td>{html.escape(line)}</td>"
        f'<td><a href="https://calendly.com/example-mentor-{n}">לקביעת פגישה</a></td><td></td></tr>'
        for n, line in enumerate(lines, start=1)
    )
    return (
        f'---\ntitle: מנטורים\n---\n\nבחרו מנטור/ית וקבעו שיחה.\n\n<table dir="rtl">\n  <thead><tr>'
        f"<th>שם מלא</th><th>במה אני יכול לעזור</th><th>קישור ליצירת קשר</th><th>לינקדאין</th></tr></thead>\n"
        f"  <tbody>\n{rows}\n  </tbody>\n</table>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="print the lines whose topics differ from the labels")
    args = parser.parse_args()
    for name, data in (("labelled set", DATA), ("held-out set", HOLDOUT)):
        measure(name, yaml.safe_load(data.read_text(encoding="utf-8")), args.misses)
        print()


def measure(name: str, labelled: list[dict[str, object]], show_misses: bool) -> None:
    """Print the figures for one labelled set, beside the targets."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "_index.md"
        path.write_text(page([str(item["line"]) for item in labelled]), encoding="utf-8")
        checks = check_roster(path)
    assert len(checks) == len(labelled), "every labelled line must come back as one mentor row"

    hits = with_expected = assigned = correct = expected_total = found_expected = 0
    misses = []
    for item, check in zip(labelled, checks, strict=True):
        expected, got = set(item["topics"]), set(check.topics)  # type: ignore[call-overload]
        assigned += len(got)
        correct += len(got & expected)
        expected_total += len(expected)
        found_expected += len(got & expected)
        if expected:
            with_expected += 1
            hits += bool(got & expected)
        if got != expected:
            misses.append((str(item["line"]), expected, got, check.unmapped))
    hit_share = hits / with_expected if with_expected else 0.0
    precision = correct / assigned if assigned else 0.0
    recall = found_expected / expected_total if expected_total else 0.0

    print(f"Topic mapping, {name}: {len(labelled)} lines ({with_expected} with expected topics)")
    print(f"{'figure':<44}{'measured':>10}{'target':>10}")
    print(
        f"{'lines with >= 1 correct topic':<44}{hit_share:>10.1%}{TARGET_HIT:>10.0%}"
        f"  {'met' if hit_share >= TARGET_HIT else 'NOT met'}"
    )
    print(
        f"{'precision of assigned topics':<44}{precision:>10.1%}{TARGET_PRECISION:>10.0%}"
        f"  {'met' if precision >= TARGET_PRECISION else 'NOT met'}"
    )
    print(f"{'recall of expected topics (for information)':<44}{recall:>10.1%}{'-':>10}")
    print(f"{'lines mapped exactly as labelled':<44}{len(labelled) - len(misses):>10}{'-':>10}")
    if show_misses:
        for line, expected, got, unmapped in misses:
            print(f"  {line!r}: expected {sorted(expected)}, got {sorted(got)}; unmapped {unmapped}")


if __name__ == "__main__":
    main()
