"""The SendGrid emulator refuses what the real API refuses and keeps its batch and scheduled-send rules."""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.emulators.sendgrid import SendGridEmulator, VirtualClock

pytest_plugins = ["tests.emulators.fixtures"]
NOW = 1_800_000_000


@pytest.fixture
def sendgrid(sendgrid_emulator: SendGridEmulator) -> SendGridEmulator:
    sendgrid_emulator.clock = VirtualClock(NOW)
    return sendgrid_emulator


def call(emulator: SendGridEmulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        emulator.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {emulator.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def mail(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": "noa@example.com"}]}],
        "from": {"email": "program@example.org"},
        "subject": "שלום",
        "content": [{"type": "text/plain", "value": "a"}, {"type": "text/html", "value": "<p>a"}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def fields(answer: Any) -> list[str]:
    return [e["field"] for e in answer["errors"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"personalizations": [{"to": [{"email": "noa@example"}]}]}, "personalizations.0.to.0.email"),
        ({"personalizations": [{"to": [{"email": "noa..x@example.com"}]}]}, "personalizations.0.to.0.email"),
        ({"personalizations": [{"to": [{"email": "נועה@example.com"}]}]}, "personalizations.0.to.0.email"),
        ({"tracking": {}}, "tracking"),
        ({"custom_args": {"match_id": 7}}, "custom_args.match_id"),
        ({"custom_args": {"big": "x" * 10_001}}, "custom_args"),
        ({"content": [{"type": "text/html", "value": "<p>"}, {"type": "text/plain", "value": "a"}]}, "content"),
        ({"subject": None}, "personalizations.0.subject"),
        ({"personalizations": [{"to": [{"email": f"p{i}@example.com"}]} for i in range(1001)]}, "personalizations"),
        ({"send_at": NOW + 900.5}, "send_at"),
        ({"send_at": NOW + 72 * 3600 + 1}, "send_at"),
        ({"batch_id": "made-up"}, "batch_id"),
        ({"content": [{"value": "a"}]}, "content.0.type"),
        ({"content": [{"type": "text/plain; charset=utf-8", "value": "a"}]}, "content.0.type"),
        ({"content": [{"type": "text/plain\r\nBcc: x@example.com", "value": "a"}]}, "content.0.type"),
        ({"attachments": [{"content": "aGk=", "type": "text/calendar"}]}, "attachments.0.filename"),
        (
            {"attachments": [{"content": "aGk=", "filename": "a.ics", "disposition": "download"}]},
            "attachments.0.disposition",
        ),
        (
            {"attachments": [{"content": "aGk=", "filename": "a.png", "disposition": "inline"}]},
            "attachments.0.content_id",
        ),
        (
            {"attachments": [{"content": "aGk=", "filename": "a.ics", "type": "text/calendar; method=REQUEST"}]},
            "attachments.0.type",
        ),
        (
            {"personalizations": [{"to": [{"email": "noa@example.com"}], "custom_args": {"n": 1}}]},
            "personalizations.0.custom_args.n",
        ),
    ],
)
def test_refuses_what_sendgrid_refuses(sendgrid: SendGridEmulator, changes: dict[str, Any], field: str) -> None:
    status, answer = call(sendgrid, "POST", "/v3/mail/send", mail(**changes))
    assert status == 400 and field in fields(answer)
    assert sendgrid.accepted == []


def test_a_valid_message_is_accepted(sendgrid: SendGridEmulator) -> None:
    status, _ = call(sendgrid, "POST", "/v3/mail/send", mail())
    assert status == 202 and len(sendgrid.delivered()) == 1  # no send_at: goes out at once


def test_scheduled_sends_go_out_at_send_at_unless_cancelled_in_time(sendgrid: SendGridEmulator) -> None:
    clock = sendgrid.clock
    assert isinstance(clock, VirtualClock)
    batches = [call(sendgrid, "POST", "/v3/mail/batch")[1]["batch_id"] for _ in range(3)]
    assert call(sendgrid, "GET", f"/v3/mail/batch/{batches[0]}")[0] == 200
    for n, batch in enumerate(batches):
        assert (
            call(
                sendgrid,
                "POST",
                "/v3/mail/send",
                mail(batch_id=batch, send_at=NOW + 900, custom_args={"mentorflow_key": f"k{n}"}),
            )[0]
            == 202
        )
    assert call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": batches[0], "status": "cancel"})[0] == 201
    status, answer = call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": batches[0], "status": "cancel"})
    assert status == 400, "a batch has one status"
    assert call(sendgrid, "GET", "/v3/user/scheduled_sends")[1] == [{"batch_id": batches[0], "status": "cancel"}]
    clock.sleep(301)  # now less than 10 minutes before send_at: too late
    status, answer = call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": batches[1], "status": "cancel"})
    assert status == 400 and "10 minutes" in answer["errors"][0]["message"]
    assert sendgrid.delivered() == []
    clock.sleep(600)
    assert sorted(k for k, _ in sendgrid.deliveries()) == ["k1", "k2"]
    # lifting a cancellation after send_at frees its place; the discarded message stays discarded
    assert call(sendgrid, "DELETE", f"/v3/user/scheduled_sends/{batches[0]}")[0] == 204
    assert sorted(k for k, _ in sendgrid.deliveries(at=math.inf)) == ["k1", "k2"]


def test_a_cancellation_lifted_before_send_at_revives_the_batch_and_a_pause_holds_it(
    sendgrid: SendGridEmulator,
) -> None:
    clock = sendgrid.clock
    assert isinstance(clock, VirtualClock)
    cancelled, paused = (call(sendgrid, "POST", "/v3/mail/batch")[1]["batch_id"] for _ in range(2))
    for n, batch in enumerate((cancelled, paused)):
        body = mail(batch_id=batch, send_at=NOW + 900, custom_args={"mentorflow_key": f"k{n}"})
        assert call(sendgrid, "POST", "/v3/mail/send", body)[0] == 202
    assert call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": cancelled, "status": "cancel"})[0] == 201
    assert call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": paused, "status": "pause"})[0] == 201
    assert call(sendgrid, "DELETE", f"/v3/user/scheduled_sends/{cancelled}")[0] == 204  # lifted before send_at
    clock.sleep(1000)
    assert [k for k, _ in sendgrid.deliveries()] == ["k0"], "lifted early: it goes out; paused: held"
    assert call(sendgrid, "DELETE", f"/v3/user/scheduled_sends/{paused}")[0] == 204  # resumed
    assert sorted(k for k, _ in sendgrid.deliveries()) == ["k0", "k1"]


def test_no_more_than_ten_batches_cancelled_at_once(sendgrid: SendGridEmulator) -> None:
    batches = [call(sendgrid, "POST", "/v3/mail/batch")[1]["batch_id"] for _ in range(11)]
    for batch in batches[:10]:
        assert call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": batch, "status": "pause"})[0] == 201
    status, _ = call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": batches[10], "status": "cancel"})
    assert status == 400
    assert call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": batches[10], "status": "stop"})[0] == 400
    assert call(sendgrid, "DELETE", f"/v3/user/scheduled_sends/{batches[0]}")[0] == 204
    assert call(sendgrid, "POST", "/v3/user/scheduled_sends", {"batch_id": batches[10], "status": "cancel"})[0] == 201


def test_every_endpoint_wants_the_key(sendgrid: SendGridEmulator) -> None:
    request = urllib.request.Request(
        sendgrid.url + "/v3/mail/batch", data=b"", method="POST", headers={"Authorization": "Bearer SG.wrong"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 401


def test_a_wait_never_skips_the_clock_under_a_thread_that_is_sending() -> None:
    """#13's campaign: one worker waiting ~15 minutes for a cancellation place jumped the shared clock while another
    was between its send and the cancel of its unknown outcome, so that cancel came too late (uncertain)."""
    clock = VirtualClock(NOW)
    clock.begin_work()  # this thread is sending
    waiter = threading.Thread(target=clock.sleep, args=(900,))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and clock() == NOW, "held while the sender is awake"
    clock.sleep(2)  # the sender's own back-off: it wakes first
    assert clock() == NOW + 2 and waiter.is_alive()
    clock.end_work()
    waiter.join(5)
    assert not waiter.is_alive() and clock() == NOW + 900


def test_workers_sleeping_together_all_wake_in_order() -> None:
    clock = VirtualClock(NOW)
    woke: list[tuple[float, float]] = []
    all_working = threading.Barrier(4)

    def worker(seconds: float) -> None:
        clock.begin_work()
        all_working.wait(5)
        clock.sleep(seconds)
        woke.append((seconds, clock()))
        clock.end_work()

    threads = [threading.Thread(target=worker, args=(s,)) for s in (900, 2, 60, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert not any(t.is_alive() for t in threads), "nobody hangs"
    assert sorted(woke) == [(2, NOW + 2), (2, NOW + 2), (60, NOW + 60), (900, NOW + 900)], "overlapping, not added up"
