"""`mentorflow setup-prefect` against the session's Prefect server: idempotent, and the lead is really told.

The notification goes through Prefect's own automations and a Custom Webhook block to SendGrid's Mail Send,
here the SendGrid emulator: a message it accepted is a message the lead would get.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.rules import load_rules
from config.settings import Settings
from mentorflow.prefect_setup import (
    AUTOMATION_FAILED,
    AUTOMATION_WAITING,
    NOTIFY_BLOCK,
    TAG,
    secret_values,
    setup_prefect,
)
from tests.emulators.sendgrid import SendGridEmulator

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]
pytest_plugins = ["tests.emulators.fixtures"]


@pytest.fixture
def settings(tmp_path: Path, sendgrid_emulator: SendGridEmulator) -> Iterator[Settings]:
    yield Settings(
        _env_file=None,
        data_dir=tmp_path,
        mailer="sendgrid",  # type: ignore[call-arg]
        sendgrid_api_key=sendgrid_emulator.api_key,
        sendgrid_host=sendgrid_emulator.url,
        survey_token_secret="a-real-test-secret-8Kp3Zw6N",
    )
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # other tests' failing runs must not mail anyone
        for name in (AUTOMATION_FAILED, AUTOMATION_WAITING):
            for automation in client.read_automations_by_name(name):
                client.delete_automation(automation.id)


def mails_to(emulator: SendGridEmulator, address: str, want: int, timeout: float = 60) -> list[dict[str, Any]]:
    """Wait until ``want`` messages to ``address`` were accepted (the automation runs in the server)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [
            m for m in emulator.accepted if any(t["email"] == address for p in m["personalizations"] for t in p["to"])
        ]
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def test_setup_is_idempotent_and_never_prints_a_secret(settings: Settings) -> None:
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client

    rules = load_rules(settings.rules_path)
    secrets = secret_values(settings)
    first = setup_prefect(settings, rules, secrets=secrets, deploy=False)
    with get_client(sync_client=True) as client:
        ids = {n: [a.id for a in client.read_automations_by_name(n)] for n in (AUTOMATION_FAILED, AUTOMATION_WAITING)}
        pool = client.read_work_pool("mentorflow")
    assert all(len(found) == 1 for found in ids.values()), ids
    assert pool.type == "process"
    assert Secret.load("mentorflow-sendgrid-api-key").get() == settings.sendgrid_api_key.get_secret_value()  # type: ignore[union-attr]
    assert f"notification block {NOTIFY_BLOCK}" in str(first)

    second = setup_prefect(settings, rules, secrets=secrets, deploy=False)
    assert second.changed == [], str(second)
    with get_client(sync_client=True) as client:
        assert {n: [a.id for a in client.read_automations_by_name(n)] for n in ids} == ids
    for value in secrets.values():
        assert value not in str(first) and value not in str(second)


def test_a_failed_mentorflow_run_emails_the_lead_and_another_flow_does_not(
    settings: Settings, sendgrid_emulator: SendGridEmulator
) -> None:
    from prefect import flow, tags

    rules = load_rules(settings.rules_path)
    setup_prefect(settings, rules, secrets=secret_values(settings), deploy=False)

    @flow(name="not-ours")
    def not_ours() -> None:
        raise RuntimeError("someone else's flow")

    @flow(name="intake-broken", flow_run_name="intake 2026-12-01 09:15")
    def broken() -> None:
        raise RuntimeError("the roster file is missing")

    assert not_ours(return_state=True).is_failed()
    with tags(TAG, "intake"):
        assert broken(return_state=True).is_failed()
    mails = mails_to(sendgrid_emulator, rules.lead_email, want=1)
    time.sleep(3)  # a second, wrong message (the untagged run) would have arrived by now
    mails = mails_to(sendgrid_emulator, rules.lead_email, want=2, timeout=0)
    assert len(mails) == 1, [m["subject"] for m in mails]
    assert "intake 2026-12-01 09:15" in mails[0]["subject"] and "Failed" in mails[0]["subject"]
    assert "the roster file is missing" in mails[0]["content"][0]["value"]


def test_the_lead_is_told_when_the_approval_form_waits_too_long(
    settings: Settings, sendgrid_emulator: SendGridEmulator
) -> None:
    """A run left Suspended longer than the threshold (10 s here, hours in production) mails the lead once."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running, Suspended

    rules = load_rules(settings.rules_path)
    setup_prefect(settings, rules, secrets=secret_values(settings), approval_reminder_hours=10 / 3600, deploy=False)

    @flow(name="match")
    def match() -> None: ...

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(match, name="match 2026-12-01 09:00", tags=[TAG, "match"])
        client.set_flow_run_state(run.id, Running(), force=True)
        client.set_flow_run_state(run.id, Suspended(timeout_seconds=3600), force=True)
    mails = mails_to(sendgrid_emulator, rules.lead_email, want=1, timeout=90)
    assert len(mails) == 1
    assert "match 2026-12-01 09:00" in mails[0]["content"][0]["value"]
