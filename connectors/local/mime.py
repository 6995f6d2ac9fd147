"""RFC 5322/2045 bytes of the outbox's messages, written directly (issue #12).

Python's ``email`` package parses every header it is given into a tree and folds it back, picks each part's
transfer encoding by trial and compiles a regular expression per boundary: ~2.5 ms a message on a quiet core,
most of the time a message cost. The outbox's messages all have one shape (a text and an HTML alternative, an
invitation inline, attachments), so :func:`render` writes that shape itself: the same headers in the same order,
the same MIME structure, names and subjects in RFC 2047 encoded words, bodies in 7bit/8bit when every line fits
in 78 bytes and base64 otherwise. Anything outside what it knows to write safely (an address that is not plain
ASCII, a header line over 998 bytes, an unusual file name) returns ``None``, and the ``email`` package writes
that message as before. Pure: no clock, no randomness of its own (the caller gives date, id and boundaries).
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connectors.base import Address, Attachment, OutgoingEmail

CRLF = "\r\n"
MAX_LINE = 78  # the email package's (and RFC 5322's recommended) line length
HARD_LINE = 998  # RFC 5322's limit

_ADDR_SPEC = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*")  # a phrase of atoms: written as it is
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an RFC 2045 token: a parameter value without quotes
_FILENAME = re.compile(r"[A-Za-z0-9 ._()-]+")


class Unsupported(Exception):
    """This message is not of the shape :func:`render` writes: the ``email`` package writes it."""


def _no_breaks(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("a header value must be one line")  # header injection: the caller refuses the message
    return value


def encoded_words(value: str) -> str:
    """``value`` as RFC 2047 base64 encoded words of at most 75 characters, folded one per line."""
    data = value.encode("utf-8")
    words: list[bytes] = []
    start = 0
    while True:  # the longest run of whole characters within 45 bytes each (60 base64 characters + 12 = 72)
        end = min(start + 45, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character's bytes
            end -= 1
        words.append(data[start:end])
        start = end
        if start >= len(data):
            break
    return (CRLF + " ").join(f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words)


def _unstructured(name: str, value: str) -> str:
    """A header line (with its name) of free text: as it is when ASCII and short, else encoded words."""
    _no_breaks(value)
    line = f"{name}: {value}"
    if value.isascii() and _PRINTABLE.fullmatch(value) and len(line) <= MAX_LINE and value == value.strip():
        return line
    if value.isascii() and _PRINTABLE.fullmatch(value) and value == value.strip() and len(line) <= HARD_LINE:
        return _fold(line)
    return f"{name}: {encoded_words(value)}" if value else f"{name}: "


def _fold(line: str) -> str:
    """Fold an ASCII header line at spaces so that lines stay within 78 characters where a space allows."""
    name, _, value = line.partition(": ")
    words = value.split(" ")
    out: list[str] = []
    current = f"{name}: {words[0]}"  # a value's first word stays beside its name (a fold there reads as a space)
    for word in words[1:]:
        piece = " " + word
        if current and len(current) + len(piece) > MAX_LINE:
            out.append(current)
            current = piece
        else:
            current += piece
    out.append(current)
    return CRLF.join(out)


def _address(name: str, who: Address) -> str:
    """``To: Name <a@b>`` with the name as atoms, a quoted string or encoded words."""
    return _address_line(name, who.email, who.name)


@functools.lru_cache(maxsize=64)
def _program_address(name: str, email: str, display_name: str) -> str:
    """:func:`_address` of the program's own addresses (sender, reply-to: the same in every message), remembered.
    A recipient's is not: no person's address is kept beyond their message."""
    return _address_line(name, email, display_name)


def _address_line(name: str, email: str, display_name: str) -> str:
    email = _no_breaks(email)
    if not _ADDR_SPEC.fullmatch(email):
        raise Unsupported("address")
    display = " ".join(_no_breaks(display_name).split())  # as a reader shows it (the email package's output too)
    if not display:
        shown = email
    elif display.isascii() and _ATOMS.fullmatch(display):
        shown = f"{display} <{email}>"
    elif display.isascii() and _PRINTABLE.fullmatch(display):
        quoted = display.replace("\\", "\\\\").replace('"', '\\"')
        shown = f'"{quoted}" <{email}>'
    else:
        shown = f"{encoded_words(display)} <{email}>"
    line = f"{name}: {shown}"
    if len(line) > MAX_LINE and "\r\n" not in shown:
        line = f"{name}:{CRLF} {shown}"
    return line


def _params(params: dict[str, str]) -> str:
    out = ""
    for key, value in params.items():
        if not _TOKEN.fullmatch(key) or not _PRINTABLE.fullmatch(value):
            raise Unsupported("parameter")
        out += f'; {key}="' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return out


def _text_part(headers: list[str], text: str) -> list[str]:
    """A text part in UTF-8: 7bit or 8bit when every line fits in 78 bytes, else base64."""
    lines = text.encode("utf-8").splitlines()
    if max((len(x) for x in lines), default=0) <= MAX_LINE:
        body = "".join(line.decode("utf-8") + CRLF for line in lines)
        cte = "7bit" if body.isascii() else "8bit"
    else:
        body = _base64(b"".join(line + b"\r\n" for line in lines))
        cte = "base64"
    return [*headers, f"Content-Transfer-Encoding: {cte}", "", body]


def _base64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", CRLF)


@dataclass(frozen=True)
class ContentType:
    maintype: str
    subtype: str
    params: dict[str, str]


def _multipart(subtype: str, boundary: str, parts: Sequence[list[str]]) -> list[str]:
    """A multipart's lines: its Content-Type, then each part after its boundary, the closing boundary last."""
    out = [f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"', ""]
    for part in parts:
        out += [f"--{boundary}", *part]
    return [*out, f"--{boundary}--", ""]


def render(
    message: OutgoingEmail,
    recipient: Address,
    sender: Address,
    *,
    date: str,
    message_id: str,
    boundary: Callable[[], str],
    content_type: Callable[[str], ContentType],
) -> bytes:
    """One recipient's copy of ``message``; :class:`Unsupported` when it is not of the shape written here, and
    ``ValueError`` for a line break in a header (an injection: the caller refuses the message).

    ``boundary`` gives a fresh boundary per multipart, ``content_type`` splits an attachment's type into main
    type, subtype and parameters."""
    head = [_program_address("From", sender.email, sender.name), _address("To", recipient)]
    if message.reply_to is not None:
        head.append(_program_address("Reply-To", message.reply_to.email, message.reply_to.name))
    head += [_unstructured("Subject", message.subject), f"Date: {date}", f"Message-ID: {message_id}"]
    # (no Content-Language: the email package drops it when the content is set, and these are its messages)
    head.append(_unstructured("X-Mentorflow-Key", message.key))
    head += [_unstructured("X-Mentorflow-Category", c) for c in message.categories]
    for name, value in message.custom_args.items():
        token = "-".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", name) if p) or "Arg"
        head.append(_unstructured(f"X-Mentorflow-Arg-{token}", value))
    for name, value in message.headers.items():
        head.append(_unstructured(name, value))
    if any(len(line) > HARD_LINE for h in head for line in h.split(CRLF)):
        raise Unsupported("header line")

    alternatives = [
        _text_part(['Content-Type: text/plain; charset="utf-8"'], message.text),
        _text_part(['Content-Type: text/html; charset="utf-8"'], message.html),
    ]
    invites = [a for a in message.attachments if a.content_type.split(";")[0].strip().lower() == "text/calendar"]
    if invites:
        # Inline in the alternative part, as Google and Outlook send invitations, so clients offer accept/decline.
        ct = content_type(invites[0].content_type)
        params = {"charset": "utf-8", **{k: v for k, v in ct.params.items() if k != "charset"}}
        params.setdefault("method", "REQUEST")
        alternatives.append(_text_part([f"Content-Type: text/calendar{_params(params)}"], invites[0].content.decode()))
    used = [boundary(), boundary()]
    if any(b in message.text or b in message.html or any(b.encode() in a.content for a in invites) for b in used):
        raise Unsupported("boundary")  # the content holds one: never with random boundaries, but never wrong
    body = _multipart("alternative", used[0], alternatives)
    if message.attachments:
        attached = [_attachment(a, content_type(a.content_type)) for a in message.attachments]
        body = _multipart("mixed", used[1], [body, *attached])
    return CRLF.join([*head, "MIME-Version: 1.0", *body]).encode("utf-8")


def _attachment(att: Attachment, ct: ContentType) -> list[str]:
    if not _FILENAME.fullmatch(att.filename):
        raise Unsupported("file name")
    params = dict(ct.params)
    if ct.maintype == "text":
        params.setdefault("charset", "utf-8")
    return [
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{att.filename}"',
        f"Content-Type: {ct.maintype}/{ct.subtype}{_params(params)}",
        "",
        _base64(att.content),
    ]
