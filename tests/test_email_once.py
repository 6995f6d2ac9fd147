"""Email exactly once: the ledger with SendGrid's scheduled sends against the emulator (faults, kills, deadlines)
and with the local outbox."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.base import Address, MailError, OutgoingEmail, Presence
from connectors.local.outbox import EmlOutbox
from connectors.sendgrid import SendGridMailer
from store.ledger import LedgerEntry, Outcome, OutcomeCalledOff, send_once
from store.uow import Store
from tests.emulators.sendgrid import SendGridEmulator, VirtualClock
from tests.emulators.server import Fault

pytest_plugins = ["tests.emulators.fixtures"]
T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
NOW = 1_800_000_000.0


@pytest.fixture
def store(store_url: str) -> Store:
    return Store.open(store_url)


@pytest.fixture
def clock(sendgrid_emulator: SendGridEmulator) -> VirtualClock:
    sendgrid_emulator.clock = VirtualClock(NOW)
    return sendgrid_emulator.clock  # type: ignore[return-value]


def sendgrid(emulator: SendGridEmulator, clock: VirtualClock) -> SendGridMailer:
    return SendGridMailer(
        emulator.api_key,
        Address(email="program@example.org"),
        host=emulator.url,
        timeout_seconds=5,
        sleep=clock.sleep,
        clock=clock,
    )


def message(key: str = "invite:7:mentee", to: str = "noa@example.com") -> OutgoingEmail:
    return OutgoingEmail(key=key, subject="הזמנה", text="שלום", html="<p>שלום</p>", recipients=[Address(email=to)])


def entry(store: Store, key: str) -> LedgerEntry:
    with store.unit_of_work() as uow:
        found = uow.ledger.get(key)
    assert found is not None
    return found


def uncertain_keys(store: Store) -> list[str]:
    with store.unit_of_work() as uow:
        return uow.reporting.status_report().uncertain_keys


def copies(emulator: SendGridEmulator) -> list[int]:
    return sorted(emulator.deliveries(at=math.inf).values())


@pytest.mark.parametrize(
    "fault",
    [Fault(status=500, after=True), Fault(status=503), Fault(drop=True, after=True)],
    ids=["accept-then-5xx", "5xx", "accept-then-drop"],
)
def test_an_unknown_outcome_is_called_off_and_sent_again(
    store: Store, sendgrid_emulator: SendGridEmulator, clock: VirtualClock, fault: Fault
) -> None:
    mailer = sendgrid(sendgrid_emulator, clock)
    fault.operation = "mail.send"
    sendgrid_emulator.queue(fault)
    assert send_once(store, mailer, message(), "invite", T0) is Outcome.PERFORMED
    assert sendgrid_emulator.counts["mail.send"] == 2 and sendgrid_emulator.counts["scheduled_sends.create"] == 1
    assert copies(sendgrid_emulator) == [1]
    assert send_once(store, mailer, message(), "invite", T0) is Outcome.ALREADY_DONE


def test_a_run_killed_after_the_send_is_settled_by_the_rerun(
    store: Store, sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    mailer = sendgrid(sendgrid_emulator, clock)
    real_send = mailer.send

    def send_then_die(msg: OutgoingEmail, token: str = "") -> object:
        real_send(msg, token)
        raise SystemExit("killed after the message was accepted")

    mailer.send = send_then_die  # type: ignore[method-assign,assignment]
    with pytest.raises(SystemExit):
        send_once(store, mailer, message(), "invite", T0)
    assert entry(store, "invite:7:mentee").status == "pending"
    rerun = sendgrid(sendgrid_emulator, clock)  # a new process
    clock.sleep(120)  # the rerun comes two minutes later
    assert send_once(store, rerun, message(), "invite", T0) is Outcome.PERFORMED
    assert copies(sendgrid_emulator) == [1] and len(sendgrid_emulator.accepted) == 2


def test_a_send_accepted_after_the_client_gave_up_lands_in_its_cancelled_batch(
    store: Store, sendgrid_emulator: SendGridEmulator
) -> None:
    """#13's duplicates: a send the client gave up on was served by SendGrid only after another worker had slept
    the shared virtual clock past its send_at and its cancellation had been lifted, so it went out as well as the
    resend. Time moves on only once the requests already received are answered (as a real service answers within
    seconds, never minutes after its client gave up)."""
    clock = VirtualClock(NOW, served=sendgrid_emulator)
    sendgrid_emulator.clock = clock
    mailer = SendGridMailer(
        sendgrid_emulator.api_key,
        Address(email="program@example.org"),
        host=sendgrid_emulator.url,
        timeout_seconds=0.1,
        sleep=clock.sleep,
        clock=clock,
    )
    sendgrid_emulator.queue(Fault(status=0, after=True, delay=1.5, operation="mail.send"))  # accepted, late
    assert send_once(store, mailer, message(), "invite", T0) is Outcome.PERFORMED  # called off, sent again
    clock.sleep(1000)  # another worker waits for room: past both send_at
    mailer.prepare(message("invite:8:mentee"))  # which lifts the expired cancellation
    sendgrid_emulator.wait_idle()
    assert copies(sendgrid_emulator) == [1]
    assert sendgrid_emulator.counts["scheduled_sends.delete"] == 1


def test_too_late_to_call_off_is_left_to_the_lead(
    store: Store, sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    mailer = sendgrid(sendgrid_emulator, clock)
    real_send = mailer.send

    def send_then_die(msg: OutgoingEmail, token: str = "") -> object:
        real_send(msg, token)
        raise SystemExit("killed")

    mailer.send = send_then_die  # type: ignore[method-assign,assignment]
    with pytest.raises(SystemExit):
        send_once(store, mailer, message(), "invite", T0)
    clock.sleep(400)  # the rerun comes after the cancellation window closed
    assert send_once(store, sendgrid(sendgrid_emulator, clock), message(), "invite", T0) is Outcome.UNCERTAIN
    assert uncertain_keys(store) == ["invite:7:mentee"]
    assert copies(sendgrid_emulator) == [1], "it did go out once; nothing was guessed"


def test_a_run_killed_before_the_send_sends_on_rerun(
    store: Store, sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    mailer = sendgrid(sendgrid_emulator, clock)

    def die(msg: OutgoingEmail, token: str = "") -> object:
        raise SystemExit("killed before the request")

    mailer.send = die  # type: ignore[method-assign,assignment]
    with pytest.raises(SystemExit):
        send_once(store, mailer, message(), "invite", T0)
    assert send_once(store, sendgrid(sendgrid_emulator, clock), message(), "invite", T0) is Outcome.PERFORMED
    assert copies(sendgrid_emulator) == [1]


def test_unknown_every_time_is_known_not_sent_and_tried_later(
    store: Store, sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    mailer = sendgrid(sendgrid_emulator, clock)
    sendgrid_emulator.fail_share(1.0, lambda rng: Fault(status=502, after=True), operation="mail.send")
    with pytest.raises(OutcomeCalledOff) as caught:
        send_once(store, mailer, message(), "invite", T0)
    assert entry(store, "invite:7:mentee").status == "failed"
    assert not caught.value.task_may_retry, "its re-sends were the retry layer: the task adds none"
    assert sendgrid_emulator.delivered(at=math.inf) == []
    sendgrid_emulator.clear_faults()
    assert send_once(store, mailer, message(), "invite", T0) is Outcome.PERFORMED
    assert copies(sendgrid_emulator) == [1]


def test_a_newsletter_request_that_fails_halfway_reaches_everyone_once(
    store: Store, sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    recipients = [Address(email=f"reader{i}@example.org") for i in range(1400)]
    issue = OutgoingEmail(
        key="digest:2026-11-08:2026-11-21",
        subject="עדכון",
        text="t",
        html="<p>h</p>",
        recipients=recipients,
        categories=["digest"],
    )
    sendgrid_emulator.pass_next(operation="mail.send")  # the first 1,000 are accepted
    sendgrid_emulator.queue(Fault(status=503, operation="mail.send"))  # the other 400 fail
    assert send_once(store, sendgrid(sendgrid_emulator, clock), issue, "digest", T0) is Outcome.PERFORMED
    deliveries = sendgrid_emulator.deliveries(at=math.inf)
    assert len(deliveries) == 1400 and set(deliveries.values()) == {1}


def test_the_outbox_follows_the_same_rules(store: Store, tmp_path: Path) -> None:
    outbox = EmlOutbox(tmp_path / "outbox")
    real_send = outbox.send

    def send_then_die(msg: OutgoingEmail, token: str = "") -> object:
        real_send(msg, token)
        raise SystemExit("killed")

    outbox.send = send_then_die  # type: ignore[method-assign,assignment]
    with pytest.raises(SystemExit):
        send_once(store, outbox, message(), "invite", T0)
    outbox = EmlOutbox(tmp_path / "outbox")
    assert outbox.settle("invite:7:mentee", "") is Presence.DONE
    assert send_once(store, outbox, message(), "invite", T0) is Outcome.FOUND_DONE
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_a_batch_killed_before_it_records_its_sends_sends_nothing_twice(store: Store, tmp_path: Path) -> None:
    """A batch claims its keys in one commit and records the outbox's sends done in one more, just after the
    outbox put the batch's files in place (durably): a kill before that leaves nothing in place and the keys
    ``pending``, and the rerun writes them, once; a kill between the two leaves them in place and the rerun finds
    them done; a key claimed and never tried gets its entry back as it was (none)."""
    from store.ledger import LedgerBatch

    folder = tmp_path / "outbox"
    outbox = EmlOutbox(folder)
    keys = ["ack:1", "ack:2", "ack:3"]
    batch = LedgerBatch(store, T0)
    batch.claim(keys, "ack")
    assert [entry(store, k).status for k in keys] == ["pending"] * 3
    assert send_once(store, outbox, message("ack:1"), "ack", T0, batch=batch) is Outcome.PERFORMED
    assert send_once(store, outbox, message("ack:3"), "ack", T0, batch=batch) is Outcome.PERFORMED
    # killed here: staged, not in place, not recorded
    assert entry(store, "ack:1").status == "pending" and list(folder.glob("*.eml")) == []
    assert outbox.lookup("ack:1") is Presence.ABSENT

    outbox = EmlOutbox(folder)  # the next process
    rerun = LedgerBatch(store, T0)
    rerun.claim(keys[:2], "ack")
    assert send_once(store, outbox, message("ack:1"), "ack", T0, batch=rerun) is Outcome.PERFORMED
    assert send_once(store, outbox, message("ack:2"), "ack", T0, batch=rerun) is Outcome.PERFORMED
    outbox.commit_staged()  # what the flush does first; killed before the ledger's commit
    # looked up absent before this attempt (failed: known not sent then), and not recorded since
    assert [entry(store, k).status for k in keys] == ["failed", "failed", "pending"]
    assert len(list(folder.glob("*.eml"))) == 2

    outbox = EmlOutbox(folder)
    with LedgerBatch(store, T0) as third:
        third.claim(keys[:2], "ack")
        for key in keys[:2]:  # looked up: found written whole (its marker), nothing written again
            assert send_once(store, outbox, message(key), "ack", T0, batch=third) is Outcome.FOUND_DONE
    assert [entry(store, k).status for k in keys] == ["done", "done", "pending"]
    assert len(list(folder.glob("*.eml"))) == 2

    with LedgerBatch(store, T0) as never_tried:
        never_tried.claim(["ack:4"], "ack")
    with store.unit_of_work() as uow:
        assert uow.ledger.get("ack:4") is None
    with LedgerBatch(store, T0) as again:  # ack:3, left pending by the kill: looked up (absent), then written
        again.claim(["ack:3"], "ack")
        assert send_once(store, outbox, message("ack:3"), "ack", T0, batch=again) is Outcome.PERFORMED
    assert entry(store, "ack:3").status == "done" and entry(store, "ack:3").attempts == 2
    assert len(list(folder.glob("*.eml"))) == 3 and not list(folder.glob(".*.tmp"))


def test_a_batch_whose_files_cannot_be_put_in_place_records_nothing_done(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox puts a batch's files in place before the batch records them done: when that fails (a full
    disk at the sync), nothing is recorded done, the task sees the error, and the next run sends them once."""
    from connectors.local import files as files_module
    from store.ledger import LedgerBatch

    folder = tmp_path / "outbox"
    outbox = EmlOutbox(folder)

    def full(folders: object, files: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module, "_sync_folders", full)
    with pytest.raises(MailError, match="cannot write"), LedgerBatch(store, T0) as batch:
        batch.claim(["ack:1"], "ack")
        assert send_once(store, outbox, message("ack:1"), "ack", T0, batch=batch) is Outcome.PERFORMED
    assert entry(store, "ack:1").status == "pending" and list(folder.glob("*.eml")) == []
    monkeypatch.undo()
    with LedgerBatch(store, T0) as batch:
        batch.claim(["ack:1"], "ack")
        assert send_once(store, EmlOutbox(folder), message("ack:1"), "ack", T0, batch=batch) is Outcome.PERFORMED
    assert entry(store, "ack:1").status == "done" and len(list(folder.glob("*.eml"))) == 1


def test_a_failed_key_claimed_by_a_batch_is_sent_again_not_settled(
    store: Store, sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    """Found by the small fault campaign after the batches (#12) met the one retry layer (#13): a key failed
    (its attempt called off) kept its old token; a batch's claim made it ``pending`` again before the next
    process's first send, which took it for an attempt still in flight and tried to cancel a batch whose window
    had long closed: uncertain, and the acknowledgment never went out."""
    from store.ledger import LedgerBatch

    sendgrid_emulator.fail_share(1.0, lambda rng: Fault(status=502, after=True), operation="mail.send")
    with pytest.raises(OutcomeCalledOff):
        send_once(store, sendgrid(sendgrid_emulator, clock), message("ack:5"), "ack", T0)
    assert entry(store, "ack:5").status == "failed"
    sendgrid_emulator.clear_faults()
    clock.sleep(3600)  # the next run, an hour later: every window of the failed attempts is closed
    rerun = sendgrid(sendgrid_emulator, clock)  # a new process
    with LedgerBatch(store, T0) as batch:
        batch.claim(["ack:5"], "ack")
        claimed = entry(store, "ack:5")
        assert (claimed.status, claimed.provider_ref) == ("pending", ""), "no token: nothing in flight to settle"
        assert send_once(store, rerun, message("ack:5"), "ack", T0, batch=batch) is Outcome.PERFORMED
    assert entry(store, "ack:5").status == "done" and uncertain_keys(store) == []
    assert copies(sendgrid_emulator) == [1]
