"""Outgoing email as ``.eml`` files (the embedded default mailer).

Each message becomes one file per recipient, ``<safe key>--<n>.eml``, each addressed to that recipient alone
(nobody sees another's address; file names carry no personal data). Files are standard RFC 5322 messages that
any mail client opens: multipart/alternative text + HTML in UTF-8 (Hebrew subjects and names encoded per
RFC 2047), attachments, and an invitation ``.ics`` both inline as ``text/calendar; method=REQUEST`` (clients
show accept/decline) and as an attachment. ``X-Mentorflow-Key``, ``X-Mentorflow-Category`` and
``X-Mentorflow-Arg-<name>`` headers carry the ledger key, categories and custom args.

Writes are atomic, and a ``<safe key>.sent`` marker is written last: ``lookup`` answers DONE only when it
exists, and ``send`` of a key already done writes nothing.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from connectors.base import Address, Attachment, MailError, OutgoingEmail, Presence, SentRef
from connectors.local import mime
from connectors.local.calendar import write_atomically
from connectors.local.files import StagedFiles, private_dir

DEFAULT_SENDER = Address(email="mentorflow@localhost", name="mentorflow")


class _RememberedHeaders(HeaderRegistry):
    """Python's header parsing, remembered by (name, value): most headers of the outbox's messages repeat from
    one message to the next (sender, reply-to, content types and encodings, categories), and parsing and
    folding headers was most of the time it took to write a message (issue #12). Header objects are
    immutable, so one can stand in every message that has it; the memory is bounded, and the headers that
    are a message's own (its subject, key, id and date; addresses are not strings here) are not kept."""

    LIMIT = 4_096
    OWN = frozenset({"subject", "message-id", "date", "x-mentorflow-key"})

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], Any] = {}

    def __call__(self, name: str, value: str) -> Any:
        if type(value) is not str or name.lower() in self.OWN:
            return super().__call__(name, value)
        key = (name.lower(), value)
        header = self._parsed.get(key)
        if header is None:
            header = super().__call__(name, value)
            if len(self._parsed) < self.LIMIT:
                self._parsed[key] = header
        return header


class _Policy(EmailPolicy):
    """``SMTP``, with each remembered header folded once (the folded bytes kept on the header object)."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if not hasattr(value, "name"):
            return super().fold_binary(name, value)
        how = (name, self.linesep, self.max_line_length, self.cte_type, self.utf8, self.refold_source)
        folded = value.__dict__.get("_mentorflow_folded")
        if folded is None or folded[0] != how:
            folded = (how, super().fold_binary(name, value))
            value._mentorflow_folded = folded
        return folded[1]


POLICY = _Policy(linesep="\r\n", header_factory=_RememberedHeaders())


def safe_key(key: str) -> str:
    """A file-name stem for a ledger key: readable, and unique thanks to a short hash of the exact key."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._")[:80] or "message"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _header_address(who: Address) -> HeaderAddress:
    return HeaderAddress(display_name=who.name, addr_spec=who.email)


def _header_token(name: str) -> str:
    return "-".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", name) if p) or "Arg"


def _content_type(value: str) -> tuple[str, str, dict[str, str]]:
    parsed = Message()
    parsed["Content-Type"] = value
    params = {k: str(v) for k, v in (parsed.get_params() or [])[1:]}
    return parsed.get_content_maintype(), parsed.get_content_subtype(), params


def _add_attachment(msg: EmailMessage, att: Attachment) -> None:
    maintype, subtype, params = _content_type(att.content_type)
    if maintype == "text":
        params.setdefault("charset", "utf-8")
    msg.add_attachment(att.content, maintype=maintype, subtype=subtype, filename=att.filename, params=params)


@functools.lru_cache(maxsize=256)
def _split_type(value: str) -> mime.ContentType:
    maintype, subtype, params = _content_type(value)
    return mime.ContentType(maintype, subtype, params)


def _boundary() -> str:
    return f"==============={secrets.randbelow(10**19):019d}=="


def build_message(message: OutgoingEmail, recipient: Address, sender: Address, date: str | None = None) -> bytes:
    """One recipient's copy of ``message`` as RFC 5322 bytes: written directly (:mod:`connectors.local.mime`),
    or by the ``email`` package when the message is of a shape that module does not write."""
    stamp = date or formatdate(usegmt=True)
    message_id = make_msgid(domain=sender.email.rpartition("@")[2] or "localhost")
    try:
        return mime.render(
            message,
            recipient,
            sender,
            date=stamp,
            message_id=message_id,
            boundary=_boundary,
            content_type=_split_type,
        )
    except mime.Unsupported:
        return build_with_email_package(message, recipient, sender, stamp, message_id)


def build_with_email_package(
    message: OutgoingEmail, recipient: Address, sender: Address, date: str, message_id: str
) -> bytes:
    """One recipient's copy of ``message``, built by Python's ``email`` package."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = _header_address(sender)
    msg["To"] = _header_address(recipient)
    if message.reply_to is not None:
        msg["Reply-To"] = _header_address(message.reply_to)
    msg["Subject"] = message.subject
    msg["Date"] = date
    msg["Message-ID"] = message_id
    msg["Content-Language"] = message.language
    msg["X-Mentorflow-Key"] = message.key
    for category in message.categories:
        msg["X-Mentorflow-Category"] = category
    for name, value in message.custom_args.items():
        msg[f"X-Mentorflow-Arg-{_header_token(name)}"] = value
    for name, value in message.headers.items():
        msg[name] = value

    msg.set_content(message.text, subtype="plain", charset="utf-8")
    msg.add_alternative(message.html, subtype="html", charset="utf-8")
    invites = [a for a in message.attachments if a.content_type.split(";")[0].strip().lower() == "text/calendar"]
    if invites:
        # Inline in the alternative part, as Google and Outlook send invitations, so clients offer accept/decline.
        _, subtype, params = _content_type(invites[0].content_type)
        params.setdefault("method", "REQUEST")
        msg.add_alternative(invites[0].content.decode("utf-8"), subtype=subtype, charset="utf-8", params=params)
    for attachment in message.attachments:
        _add_attachment(msg, attachment)
    return msg.as_bytes()


class EmlOutbox:
    """Mailer that writes ``.eml`` files into ``folder`` instead of sending."""

    def __init__(self, folder: Path, sender: Address | None = None) -> None:
        self.folder = Path(folder)
        self.sender = sender or DEFAULT_SENDER
        self._staged = StagedFiles()
        self.waits_on_network = False  # local files: a batch's items go one at a time (threads only contend)

    def _marker(self, key: str) -> Path:
        return self._marker_of(safe_key(key))

    def _marker_of(self, stem: str) -> Path:
        return self.folder / f"{stem}.sent"

    def prepare(self, message: OutgoingEmail) -> str:
        """No token: the outbox can always tell whether a message was written (its marker)."""
        return ""

    def send(self, message: OutgoingEmail, token: str = "") -> SentRef:
        """Write one file per recipient, then the marker; a key already written is not written again."""
        return self._write(message, staged=False)

    def stage(self, message: OutgoingEmail) -> SentRef:
        """:meth:`send` for a batch: the files are written under temp names and put in place (durably), with
        their marker, by :meth:`commit_staged`, which the batch calls before it records them done."""
        return self._write(message, staged=True)

    def commit_staged(self) -> None:
        """Put every staged message in place, durably (see :class:`StagedFiles`)."""
        try:
            self._staged.commit()
        except OSError as exc:
            raise MailError(f"cannot write to the outbox ({exc.strerror})") from None

    def _write(self, message: OutgoingEmail, *, staged: bool) -> SentRef:
        stem = safe_key(message.key)
        names = [f"{stem}--{n}.eml" for n in range(1, len(message.recipients) + 1)]
        marker_path = self._marker_of(stem)
        if marker_path.exists():
            return SentRef(key=message.key, provider_id=names[0])
        try:
            # Build every copy first: a message that cannot be built leaves nothing half-sent.
            sender = message.sender or self.sender
            copies = [build_message(message, recipient, sender) for recipient in message.recipients]
        except (ValueError, TypeError, IndexError) as exc:
            # e.g. a line break in the subject (header injection) or an address the standard rejects
            raise MailError(f"message {stem}: cannot be built as email ({type(exc).__name__})") from None
        marker = "\n".join(names).encode() + b"\n"
        try:
            if not staged:  # (staged files make their folder private once per batch)
                private_dir(self.folder)
            for name, data in zip(names, copies, strict=True):
                path = self.folder / name
                if not path.exists():  # written by a run killed before its marker: keep it, do not duplicate
                    if staged:
                        self._staged.write(path, data)
                    else:
                        write_atomically(path, data)
            if staged:
                self._staged.mark(marker_path, marker)
            else:
                # Only the marker's existence is ever read, and it is made after every copy is on the disk: its
                # own content need not be synced (one fsync per message instead of two; issue #12).
                write_atomically(marker_path, marker, durable=False)
        except OSError as exc:
            raise MailError(f"message {stem}: cannot write to the outbox ({exc.strerror})") from None
        return SentRef(key=message.key, provider_id=names[0])

    def settle(self, key: str, token: str) -> Presence:
        """DONE when the message was written whole, ABSENT otherwise (a rerun writes what is missing)."""
        return self.lookup(key)

    def lookup(self, key: str) -> Presence:
        """DONE when every file of the key was written (its marker exists), ABSENT otherwise."""
        return Presence.DONE if self._marker(key).exists() else Presence.ABSENT

    def check_credentials(self) -> None:
        """Nothing to check: the outbox is a local folder."""
