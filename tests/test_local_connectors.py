"""The embedded-default connectors, by round trip: files in → RawResponse; .ics/.eml out → parsed back."""

from __future__ import annotations

import codecs
import json
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest

from connectors import base
from connectors.base import (
    Address,
    Attachment,
    CalendarError,
    CalendarEvent,
    IntakeError,
    MailError,
    OutgoingEmail,
    Presence,
)
from connectors.local import files as files_module
from connectors.local import intake as intake_module
from connectors.local import mime
from connectors.local import outbox as outbox_module
from connectors.local.calendar import IcsCalendar, build_ics
from connectors.local.intake import FileIntake
from connectors.local.outbox import EmlOutbox, safe_key
from connectors.local.roster import FileRoster
from connectors.local.surveys import FileSurveys

TZ = ZoneInfo("Asia/Jerusalem")

HE_CSV = (
    "חותמת זמן,שם מלא,כתובת אימייל,נושאים (החשוב ביותר קודם),זמינות שבועית,מטרות\r\n"
    '2026/05/01 10:15:00 GMT+3,דנה כהן,dana@example.org,"פייתון, בקאנד","Tue 18:00-20:00",'
    '"שורה אחת\nשורה שתיים"\r\n'
    ",,,,,\r\n"
    "2026/05/02 11:00:00 GMT+3,יוסי לוי,yossi@example.org,קוד פתוח;קריירה,Wed 19:00-21:00,\r\n"
)
EN_CSV = (
    "Timestamp,Response ID,Full name,Email address,Topics (most important first)\n"
    '5/1/2026 10:15:00,ACYDBNj1,Ann Lee,ann@example.org,"Python, DevOps"\n'
    "5/2/2026 09:00:00,,Bob Ray,bob@example.org,Security\n"
)
JSON_ROWS = [
    {
        "Timestamp": "2026-05-03T08:00:00+03:00",
        "Full name": "Carla Diaz",
        "Email": "carla@example.org",
        "Topics (most important first)": ["Python", "Data"],
        "Career stage": 2,
        "May we contact you?": True,
        "Goals": None,
    },
]


def write(folder: Path, name: str, data: str | bytes, bom: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path = folder / name
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + raw)
    return path


# --- intake ---------------------------------------------------------------------------------------------


def test_intake_reads_hebrew_csv_with_bom_english_csv_and_json(tmp_path: Path) -> None:
    write(tmp_path, "mentees-he.csv", HE_CSV, bom=True)
    write(tmp_path, "mentees-en.csv", EN_CSV)
    write(tmp_path, "more.json", json.dumps(JSON_ROWS, ensure_ascii=False))
    source = FileIntake(tmp_path)
    assert isinstance(source, base.IntakeSource) and source.name == "local"

    batch = source.fetch(None)

    assert batch.problems == []
    by_key = {(r.source, r.ref): r for r in batch.responses}
    assert sorted(by_key) == [
        ("file:mentees-en.csv", "ACYDBNj1"),
        ("file:mentees-en.csv", "row 3"),
        ("file:mentees-he.csv", "row 2"),
        ("file:mentees-he.csv", "row 4"),  # the blank row 3 is skipped
        ("file:more.json", "row 1"),
    ]
    dana = by_key[("file:mentees-he.csv", "row 2")]
    assert "\ufeff" not in "".join(dana.answers)  # the BOM does not stick to the first title
    assert dana.answers["חותמת זמן"] == "2026/05/01 10:15:00 GMT+3"
    assert dana.answers["נושאים (החשוב ביותר קודם)"] == "פייתון, בקאנד"  # checkbox text stays raw
    assert dana.answers["מטרות"] == "שורה אחת\nשורה שתיים"
    assert dana.submitted_at is None
    assert by_key[("file:mentees-he.csv", "row 4")].answers["נושאים (החשוב ביותר קודם)"] == "קוד פתוח;קריירה"
    carla = by_key[("file:more.json", "row 1")].answers
    assert carla["Topics (most important first)"] == ["Python", "Data"]
    assert carla["Career stage"] == "2" and carla["May we contact you?"] == "true" and carla["Goals"] == ""


def test_intake_watermark_is_empty_batch_until_something_changes(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", EN_CSV)
    source = FileIntake(tmp_path)
    first = source.fetch(None)
    assert len(first.responses) == 2 and first.watermark

    again = source.fetch(first.watermark)
    assert again.responses == [] and again.problems == [] and again.watermark == first.watermark

    write(tmp_path, "b.json", json.dumps(JSON_ROWS))
    grown = source.fetch(first.watermark)
    assert len(grown.responses) == 3 and grown.watermark != first.watermark  # all rows, not only the new ones

    (tmp_path / "b.json").rename(tmp_path / "c.json")
    renamed = source.fetch(grown.watermark)
    assert renamed.watermark != grown.watermark and {r.source for r in renamed.responses} == {
        "file:a.csv",
        "file:c.json",
    }
    assert source.fetch(renamed.watermark).responses == []


def test_intake_bad_files_are_reported_and_never_hide_good_ones(tmp_path: Path) -> None:
    write(tmp_path, "good.csv", EN_CSV)
    write(tmp_path, "cp1255.csv", "שם מלא\r\nדנה סודית\r\n".encode("cp1255"))
    write(tmp_path, "broken.json", '[{"Full name": "Secret Person", ')
    write(tmp_path, "object.json", '{"Full name": "Secret Person"}')
    write(
        tmp_path,
        "rows.json",
        json.dumps([{"Full name": "Ok Person"}, "Secret Person", {"Full name": {"nested": "Secret Person"}}]),
    )
    write(tmp_path, "export.xlsx", b"PK\x03\x04 Secret Person")
    write(tmp_path, ".hidden.csv", "x\n1\n")

    batch = FileIntake(tmp_path).fetch(None)

    assert {(r.source, r.ref) for r in batch.responses} == {
        ("file:good.csv", "ACYDBNj1"),
        ("file:good.csv", "row 3"),
        ("file:rows.json", "row 1"),
    }
    problems = {(p.source, p.ref): " ".join(p.reasons) for p in batch.problems}
    assert set(problems) == {
        ("file:cp1255.csv", "whole file"),
        ("file:broken.json", "whole file"),
        ("file:object.json", "whole file"),
        ("file:export.xlsx", "whole file"),
        ("file:rows.json", "row 2"),
        ("file:rows.json", "row 3"),
    }
    assert "UTF-8" in problems[("file:cp1255.csv", "whole file")]
    assert "not valid JSON" in problems[("file:broken.json", "whole file")]
    assert "list" in problems[("file:object.json", "whole file")]
    assert ".xlsx" in problems[("file:export.xlsx", "whole file")]
    assert "Full name" in problems[("file:rows.json", "row 3")]
    assert not any("Secret" in reason or "סודית" in reason for reason in problems.values())


def test_intake_refuses_absurd_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "wide.csv", ",".join(f"q{i}" for i in range(201)) + "\n" + ",".join("x" * 201) + "\n")
    write(tmp_path, "big.csv", EN_CSV * 20)
    write(tmp_path, "ragged.csv", "A,B\n1,2\n1,2,3\n")
    write(tmp_path, "twice.csv", "Goals,Goals,\n first , second ,\n")
    monkeypatch.setattr(intake_module, "MAX_FILE_BYTES", 2000)

    batch = FileIntake(tmp_path).fetch(None)

    problems = {(p.source, p.ref): " ".join(p.reasons) for p in batch.problems}
    assert "201 columns" in problems[("file:wide.csv", "whole file")]
    assert "MB limit" in problems[("file:big.csv", "whole file")]
    assert "3 cells" in problems[("file:ragged.csv", "row 3")]
    answers = {(r.source, r.ref): r.answers for r in batch.responses}
    assert answers[("file:ragged.csv", "row 2")] == {"A": "1", "B": "2"}
    assert answers[("file:twice.csv", "row 2")] == {"Goals": " first ", "Goals (2)": " second "}


def test_intake_missing_folder_is_an_intake_error(tmp_path: Path) -> None:
    with pytest.raises(IntakeError, match="does not exist"):
        FileIntake(tmp_path / "nowhere").fetch(None)


# --- roster ---------------------------------------------------------------------------------------------

ROSTER_YAML = """\
- name: נועה ברק
  email: noa@example.org
  role: Staff engineer
  expertise: [python, open-source]
  years: 12
  career_stage: 4
  languages: [he, en]
  capacity: 2
  availability:
    - {day: Tue, start: 18:00, end: 20:00}
    - Thu 09:00-11:00
  active: true
  booking_url: https://cal.example.org/noa
- just a line of text
- name: Bad Nesting
  email: bad@example.org
  expertise: {python: yes}
"""


def test_roster_yaml_round_trip(tmp_path: Path) -> None:
    path = write(tmp_path, "mentors.yaml", ROSTER_YAML)
    roster = FileRoster(path)
    assert isinstance(roster, base.RosterSource)

    records = roster.fetch()

    assert [r.ref for r in records] == [
        "mentor 1",
        "mentor 2 (unreadable: not a mapping of field → value)",
        "mentor 3 (unreadable: the field 'expertise' holds a dict where text or a list of texts was expected)",
    ]
    assert {r.source for r in records} == {"roster:mentors.yaml"}
    noa = records[0].answers
    assert noa["availability"] == ["Tue 18:00-20:00", "Thu 09:00-11:00"]  # unquoted YAML 18:00 is not 1080
    assert noa["expertise"] == ["python", "open-source"]
    assert (noa["years"], noa["capacity"], noa["active"]) == ("12", "2", "true")
    assert records[1].answers == {} and records[2].answers == {}


def test_roster_accepts_mentors_key_and_csv(tmp_path: Path) -> None:
    nested = write(tmp_path, "m.yaml", "mentors:\n  - {name: Ann, email: ann@example.org, years: 3}\n")
    assert FileRoster(nested).fetch()[0].answers == {"name": "Ann", "email": "ann@example.org", "years": "3"}
    csv_path = write(
        tmp_path,
        "m.csv",
        'name,email,expertise,availability\nAnn,ann@example.org,"python, data",Tue 18:00-20:00\n',
        bom=True,
    )
    records = FileRoster(csv_path).fetch()
    assert [(r.source, r.ref) for r in records] == [("roster:m.csv", "mentor 1")]
    assert records[0].answers["expertise"] == "python, data"


def test_roster_unreadable_file_is_an_intake_error_without_content(tmp_path: Path) -> None:
    path = write(tmp_path, "mentors.yaml", "- name: Secret Person\n  email: [unclosed\n")
    with pytest.raises(IntakeError) as caught:
        FileRoster(path).fetch()
    assert "mentors.yaml" in str(caught.value) and "Secret" not in str(caught.value)
    with pytest.raises(IntakeError, match="does not exist"):
        FileRoster(tmp_path / "none.yaml").fetch()
    with pytest.raises(IntakeError, match="list of mentors"):
        FileRoster(write(tmp_path, "scalar.yaml", "just text\n")).fetch()


# --- surveys --------------------------------------------------------------------------------------------


def test_surveys_read_csv_and_json_and_report_bad_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.csv",
        "token,timestamp,satisfaction,met,still_in_touch,adopted_idea,free_text,consent_quote\n"
        't1,2026-06-01T10:00:00+03:00,5,yes,yes,no,"שיחה מצוינת, תודה",yes\n',
        bom=True,
    )
    write(tmp_path, "b.json", json.dumps([{"token": "t2", "satisfaction": 4, "met": True}]))
    write(tmp_path, "c.json", "{oops")
    surveys = FileSurveys(tmp_path)
    assert isinstance(surveys, base.SurveySource) and surveys.name == "local"

    answers = surveys.fetch()

    by_ref = {(r.source, r.ref): r.answers for r in answers}
    assert by_ref[("surveys:a.csv", "row 2")]["free_text"] == "שיחה מצוינת, תודה"
    assert by_ref[("surveys:b.json", "row 1")] == {"token": "t2", "satisfaction": "4", "met": "true"}
    bad = [key for key in by_ref if key[0] == "surveys:c.json"]
    assert len(bad) == 1 and bad[0][1].startswith("file unreadable: is not valid JSON") and by_ref[bad[0]] == {}
    assert FileSurveys(tmp_path / "not-yet").fetch() == []


# --- calendar -------------------------------------------------------------------------------------------


def event(**changes: object) -> CalendarEvent:
    fields: dict[str, object] = dict(
        event_id="a1b2c3d4e5f6",
        summary="פגישה ראשונה: דנה & נועה",
        description="Video: https://meet.example.org/m-7\nWhy this match: shared Python",
        start=datetime(2026, 6, 3, 18, 0, tzinfo=TZ),
        end=datetime(2026, 6, 3, 19, 0, tzinfo=TZ),
        timezone="Asia/Jerusalem",
        organizer=Address(email="mentoring@example.org", name="Mentoring program"),
        attendees=[Address(email="dana@example.org", name="דנה כהן"), Address(email="noa@example.org", name="Noa")],
        location="https://meet.example.org/m-7",
        video_link="https://meet.example.org/m-7",
    )
    fields.update(changes)
    return CalendarEvent.model_validate(fields)


def test_ics_has_everything_calendar_clients_need(tmp_path: Path) -> None:
    cal = IcsCalendar(tmp_path)
    assert isinstance(cal, base.Calendar)
    ev = event()
    assert cal.lookup(ev.event_id) is Presence.ABSENT

    ref = cal.create(ev)

    path = tmp_path / f"{ev.event_id}.ics"
    assert ref.event_id == ev.event_id and ref.link == str(path) and ref.ics == path.read_bytes()
    parsed = icalendar.Calendar.from_ical(path.read_bytes())
    assert str(parsed["METHOD"]) == "REQUEST" and str(parsed["VERSION"]) == "2.0" and parsed.get("PRODID")
    assert [str(tz["TZID"]) for tz in parsed.walk("VTIMEZONE")] == ["Asia/Jerusalem"]
    (vevent,) = parsed.events
    assert ev.event_id in str(vevent["UID"])
    assert vevent.decoded("DTSTAMP").tzinfo is not None
    assert vevent["DTSTART"].params["TZID"] == "Asia/Jerusalem" and vevent["DTEND"].params["TZID"] == "Asia/Jerusalem"
    assert vevent.decoded("DTSTART") == ev.start and vevent.decoded("DTEND") == ev.end
    assert str(vevent["SUMMARY"]) == ev.summary and str(vevent["DESCRIPTION"]) == ev.description
    assert str(vevent["LOCATION"]) == ev.video_link and str(vevent["URL"]) == ev.video_link
    assert vevent.sequence == 0
    assert str(vevent["ORGANIZER"]) == "mailto:mentoring@example.org"
    attendees = vevent.attendees
    assert [str(a) for a in attendees] == ["mailto:dana@example.org", "mailto:noa@example.org"]
    for attendee, who in zip(attendees, ev.attendees, strict=True):
        assert attendee.params["CN"] == who.name
        assert (attendee.params["ROLE"], attendee.params["PARTSTAT"], attendee.params["RSVP"]) == (
            "REQ-PARTICIPANT",
            "NEEDS-ACTION",
            "TRUE",
        )
    (alarm,) = vevent.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm.decoded("TRIGGER") == -timedelta(minutes=30)
    assert cal.lookup(ev.event_id) is Presence.DONE
    assert cal.invitation(ev) == path.read_bytes()
    assert cal.busy(ev.start, ev.end, ["dana@example.org"]) == []


def test_ics_times_follow_dst(tmp_path: Path) -> None:
    winter = event(start=datetime(2026, 12, 1, 18, 0, tzinfo=TZ), end=datetime(2026, 12, 1, 19, 0, tzinfo=TZ))
    (vevent,) = icalendar.Calendar.from_ical(build_ics(winter)).walk("VEVENT")
    assert vevent.decoded("DTSTART").utcoffset() == timedelta(hours=2)
    assert vevent.decoded("DTSTART").hour == 18


def test_calendar_create_is_idempotent_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cal = IcsCalendar(tmp_path)
    first = cal.create(event())
    again = cal.create(event(summary="changed later"))
    assert again == first  # the existing file is returned unchanged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a1b2c3d4e5f6.ics"]

    def killed(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module.os, "replace", killed)
    with pytest.raises(CalendarError, match="cannot write"):
        cal.create(event(event_id="ffff0000"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a1b2c3d4e5f6.ics"]  # no half file, no temp file
    assert cal.lookup("ffff0000") is Presence.ABSENT


def test_calendar_refuses_unknown_time_zone(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="time zone"):
        IcsCalendar(tmp_path).create(event(timezone="Mars/Olympus"))


# --- outbox ---------------------------------------------------------------------------------------------


def email_message(**changes: object) -> OutgoingEmail:
    fields: dict[str, object] = dict(
        key="invite:7:mentee",
        subject="בקשת חונכות חדשה מאת דנה",
        recipients=[Address(email="dana@example.org", name="דנה כהן"), Address(email="noa@example.org")],
        text="שלום דנה,\nהפגישה נקבעה.",
        html='<p dir="rtl">שלום <bdi>דנה</bdi></p>',
        attachments=[
            Attachment(filename="invite.ics", content_type="text/calendar; method=REQUEST", content=build_ics(event()))
        ],
        categories=["invite"],
        custom_args={"match_id": "7"},
        reply_to=Address(email="lead@example.org", name="מוביל/ת התוכנית"),
    )
    fields.update(changes)
    return OutgoingEmail.model_validate(fields)


def parse(path: Path) -> EmailMessage:
    msg = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(msg, EmailMessage)
    return msg


def test_eml_one_recipient_per_file_with_alternatives_and_invitation(tmp_path: Path) -> None:
    outbox = EmlOutbox(tmp_path)
    assert isinstance(outbox, base.Mailer)
    message = email_message()
    assert outbox.lookup(message.key) is Presence.ABSENT

    ref = outbox.send(message)

    stem = safe_key(message.key)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"{stem}--1.eml", f"{stem}--2.eml", f"{stem}.sent"]
    assert ref.key == message.key and ref.provider_id == f"{stem}--1.eml"
    assert not any("@" in name for name in files)
    for n, (recipient, other) in enumerate(
        [(message.recipients[0], message.recipients[1]), (message.recipients[1], message.recipients[0])], start=1
    ):
        path = tmp_path / f"{stem}--{n}.eml"
        msg = parse(path)
        assert [a.addr_spec for a in msg["To"].addresses] == [recipient.email]
        # The invitation itself names both people of the meeting; the message's own headers name one.
        headers = path.read_bytes().split(b"\r\n\r\n", 1)[0]
        assert recipient.email.encode() in headers and other.email.encode() not in headers
        assert msg.get_all("Cc") is None and msg.get_all("Bcc") is None
        assert msg["Subject"] == message.subject
        assert msg["Reply-To"].addresses[0].display_name == "מוביל/ת התוכנית"
        assert msg["X-Mentorflow-Key"] == message.key
        assert msg["X-Mentorflow-Category"] == "invite" and msg["X-Mentorflow-Arg-Match-Id"] == "7"
        plain = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        assert plain is not None and plain.get_content().splitlines() == message.text.splitlines()
        assert html is not None and "<bdi>דנה</bdi>" in html.get_content()
        attachments = list(msg.iter_attachments())
        assert [a.get_filename() for a in attachments] == ["invite.ics"]
        assert attachments[0].get_content_type() == "text/calendar"
        assert attachments[0].get_param("method") == "REQUEST"
        assert attachments[0].get_payload(decode=True) == message.attachments[0].content
        inline = [p for p in msg.walk() if p.get_content_type() == "text/calendar" and not p.is_attachment()]
        assert len(inline) == 1 and inline[0].get_param("method") == "REQUEST"
    assert parse(tmp_path / f"{stem}--1.eml")["To"].addresses[0].display_name == "דנה כהן"
    assert outbox.lookup(message.key) is Presence.DONE


def _as_read(data: bytes) -> list[tuple[object, ...]]:
    """A message as a mail client reads it: every part's headers (decoded) and content, without what is new in
    each copy (date, id, boundaries) and how the content travels (transfer encoding)."""
    out: list[tuple[object, ...]] = []
    for part in message_from_bytes(data, policy=default_policy).walk():
        skip = {"date", "message-id", "mime-version", "content-transfer-encoding", "content-type"}
        headers = sorted((k.lower(), str(v)) for k, v in part.items() if k.lower() not in skip)
        params = None if part.is_multipart() else sorted((part.get_params() or [])[1:])
        content = None if part.is_multipart() else part.get_content()
        if isinstance(content, str):
            content = content.replace("\r\n", "\n")
        out.append((part.get_content_type(), params, headers, content, [type(d).__name__ for d in part.defects]))
    return out


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"attachments": []},
        {"subject": "Hello " * 30, "recipients": [Address(email="a.b@example.org", name='Smith, "Jo" \\ x')]},
        {
            "subject": "",
            "reply_to": None,
            "recipients": [Address(email="x@example.org")],
            "headers": {
                "List-Unsubscribe": "<https://example.org/u?t=" + "a" * 150 + ">",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        },
        {"text": "long line " * 40 + "\nשורה " * 30, "html": "<p>" + "x" * 500 + "</p>"},
        {"attachments": [Attachment(filename="a.pdf", content_type="application/pdf", content=b"%PDF\x00\xff" * 99)]},
        {"recipients": [Address(email="a@example.org", name="Dana  Cohen ")], "categories": ["digest", "news"]},
        {"recipients": [Address(email='"a b"@example.org', name="דנה")]},  # a quoted local part: the email package
    ],
)
def test_eml_written_directly_reads_as_the_email_package_writes_it(changes: dict[str, object]) -> None:
    message = email_message(**changes)
    sender = Address(email="from@example.org", name="תוכנית mentor")
    for recipient in message.recipients:
        direct = outbox_module.build_message(message, recipient, sender)
        by_package = outbox_module.build_with_email_package(message, recipient, sender, "Wed, 2 Dec 2026", "<1@x>")
        assert _as_read(direct) == _as_read(by_package)
        assert all(len(line) <= 998 for line in direct.split(b"\r\n"))
        assert b"\n" not in direct.replace(b"\r\n", b"") and b"\r" not in direct.replace(b"\r\n", b"")


@pytest.mark.parametrize("field", ["subject", "name", "email", "header"])
def test_eml_written_directly_refuses_a_line_break_in_a_header(field: str) -> None:
    bad = "x\r\nBcc: everyone@example.org"
    changes: dict[str, object] = {
        "subject": {"subject": bad},
        "name": {"recipients": [Address(email="a@example.org", name=bad)]},
        "email": {"recipients": [Address(email="a@example.org" + bad)]},
        "header": {"custom_args": {"match_id": bad}},
    }[field]
    message = email_message(**changes)
    with pytest.raises(ValueError):
        mime.render(
            message,
            message.recipients[0],
            Address(email="from@example.org"),
            date="d",
            message_id="<1@x>",
            boundary=lambda: "b",
            content_type=lambda v: mime.ContentType("text", "calendar", {}),
        )


def test_eml_send_twice_writes_nothing_new(tmp_path: Path) -> None:
    outbox = EmlOutbox(tmp_path)
    outbox.send(email_message())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    outbox.send(email_message(subject="a different subject"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_eml_killed_run_is_completed_without_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = EmlOutbox(tmp_path)
    real = outbox_module.write_atomically
    calls: list[str] = []

    def dies_on_second_file(path: Path, data: bytes) -> None:
        calls.append(path.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(outbox_module, "write_atomically", dies_on_second_file)
    message = email_message()
    with pytest.raises(MailError, match="cannot write"):
        outbox.send(message)
    stem = safe_key(message.key)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}--1.eml"]
    assert outbox.lookup(message.key) is Presence.ABSENT
    first = (tmp_path / f"{stem}--1.eml").read_bytes()

    monkeypatch.setattr(outbox_module, "write_atomically", real)
    outbox.send(message)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}--1.eml", f"{stem}--2.eml", f"{stem}.sent"]
    assert (tmp_path / f"{stem}--1.eml").read_bytes() == first  # not written twice
    assert outbox.lookup(message.key) is Presence.DONE


def test_atomic_write_leaves_no_temp_file_when_replace_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(src: object, dst: object) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(files_module.os, "replace", killed)
    with pytest.raises(MailError):
        EmlOutbox(tmp_path).send(email_message())
    assert list(tmp_path.iterdir()) == []


def test_temp_file_of_a_killed_write_is_swept_on_the_next_write(tmp_path: Path) -> None:
    outbox = EmlOutbox(tmp_path)
    message = email_message(recipients=[Address(email="dana@example.org")])
    stale = tmp_path / f".{safe_key(message.key)}--1.eml.tmp"
    stale.write_bytes(b"From: half a mess")  # what SIGKILL mid-write leaves
    other = tmp_path / ".someone-else.eml.x.tmp"
    other.write_bytes(b"")
    outbox.send(message)
    assert not stale.exists() and other.exists()
    assert parse(tmp_path / f"{safe_key(message.key)}--1.eml")["X-Mentorflow-Key"] == message.key


def test_message_that_cannot_be_built_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(MailError, match="cannot be built") as caught:
        EmlOutbox(tmp_path).send(email_message(subject="Hello\r\nBcc: everyone@example.org"))
    assert "everyone" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_safe_keys_are_distinct_and_plain() -> None:
    keys = ["invite:7:mentee", "invite_7_mentee", "invite:7:mentor", "x" * 500, "../../etc/passwd"]
    stems = [safe_key(k) for k in keys]
    assert len(set(stems)) == len(keys)
    assert all("/" not in s and not s.startswith(".") and len(s) <= 91 for s in stems)


def test_an_event_staged_is_in_place_only_once_committed(tmp_path: Path) -> None:
    """A batch's events are written under temp names and put in place together (durably) before the batch
    records them done: until then the calendar does not have them (a kill leaves nothing to find), and the
    invitation attaches the very bytes that are put in place."""
    calendar = IcsCalendar(tmp_path)
    staged = calendar.stage(event())
    assert calendar.lookup(event().event_id) is Presence.ABSENT
    assert not list(tmp_path.glob("*.ics"))
    assert calendar.invitation(event()) == staged.ics
    calendar.commit_staged()
    assert calendar.lookup(event().event_id) is Presence.DONE
    assert (tmp_path / f"{event().event_id}.ics").read_bytes() == staged.ics == calendar.invitation(event())
    assert calendar.stage(event()).ics == staged.ics, "an event in place is not written again"
    assert [p.name for p in tmp_path.iterdir()] == [f"{event().event_id}.ics"]
