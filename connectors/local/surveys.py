"""Follow-up survey answers from a folder of CSV/JSON files (the embedded default survey source).

Columns (English keys; a form's Hebrew titles can be mapped later in the program rules): ``token`` (identifies
match and role, no personal data), ``timestamp``, ``satisfaction`` (1-5), ``met``, ``still_in_touch``,
``adopted_idea`` (yes/no), ``free_text``, ``consent_quote`` (yes/no). Files are read as the intake reads
form exports (see :mod:`connectors.local.intake`): UTF-8 with or without BOM, rows numbered as a spreadsheet
shows them.

Every answer is returned each time; the store drops those it already has. A file or row that cannot be read
does not hide the rest: it comes back as a ``RawResponse`` with empty answers and a ref that says why
("file unreadable: is not valid JSON ..."), so the domain sets it aside and the lead sees it. A folder that
does not exist yet means no answers yet (empty list); one that cannot be read raises ``SurveyError``.
"""

from __future__ import annotations

from pathlib import Path

from connectors.base import IntakeError, SurveyError
from connectors.local.intake import UnreadableFile, list_files, read_bytes, read_table
from domain.models import RawResponse


class FileSurveys:
    """SurveySource over a folder of answer files."""

    def __init__(self, folder: Path, name: str = "local") -> None:
        self.folder = Path(folder)
        self.name = name

    def fetch(self) -> list[RawResponse]:
        """Every answer in every file, unvalidated, files in name order."""
        if not self.folder.exists():
            return []
        try:
            paths = list_files(self.folder, "survey")
        except IntakeError as exc:
            raise SurveyError(str(exc)) from None
        out: list[RawResponse] = []
        for path in paths:
            source = f"surveys:{path.name}"
            try:
                rows = read_table(path.name, read_bytes(path))
            except UnreadableFile as exc:
                out.append(RawResponse(source=source, ref=f"file unreadable: {exc.reason}", answers={}))
                continue
            for row in rows:
                if row.problem:
                    out.append(
                        RawResponse(source=source, ref=f"{row.ref} unreadable: the row {row.problem}", answers={})
                    )
                else:
                    out.append(RawResponse(source=source, ref=row.ref, answers=row.answers))
        return out
