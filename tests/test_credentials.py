"""Every connector proves its credential with one cheap authenticated call before a run's first side effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings
from connectors.base import Calendar, ConfigurationError, Mailer
from connectors.local.calendar import IcsCalendar
from connectors.local.outbox import EmlOutbox
from connectors.remote import build_sendgrid_mailer
from tests.emulators import SendGridEmulator
from tests.emulators.server import Fault

pytest_plugins = ["tests.emulators.fixtures"]


def sendgrid(emulator: SendGridEmulator, key: str) -> Mailer:
    settings = Settings(
        _env_file=None,
        mailer="sendgrid",
        sendgrid_api_key=key,  # type: ignore[call-arg]
        sendgrid_host=emulator.url,
        http_timeout_seconds=5,
        survey_token_secret="a-real-test-secret-8Kp3Zw6N",
    )
    return build_sendgrid_mailer(settings)


def test_a_refused_sendgrid_key_names_the_setting(sendgrid_emulator: SendGridEmulator) -> None:
    with pytest.raises(ConfigurationError, match="MENTORFLOW_SENDGRID_API_KEY") as caught:
        sendgrid(sendgrid_emulator, "SG.revoked-key-9Fh3Lm2Qx7Tz").check_credentials()
    assert "SG.revoked-key-9Fh3Lm2Qx7Tz" not in str(caught.value)
    sendgrid(sendgrid_emulator, sendgrid_emulator.api_key).check_credentials()
    assert sendgrid_emulator.counts["scopes.get"] == 2 and sendgrid_emulator.counts["mail.send"] == 0


def test_local_connectors_have_nothing_to_check(tmp_path: Path) -> None:
    outbox, calendar = EmlOutbox(tmp_path / "outbox"), IcsCalendar(tmp_path / "invites")
    assert isinstance(outbox, Mailer) and isinstance(calendar, Calendar)
    outbox.check_credentials()
    calendar.check_credentials()
    assert not (tmp_path / "outbox").exists() and not (tmp_path / "invites").exists()


def test_the_sendgrid_key_check_is_retried_like_every_other_call(sendgrid_emulator: SendGridEmulator) -> None:
    """A 429 or a lost answer to the check must not stop the run (the campaign lost whole runs to one 429)."""
    sendgrid_emulator.fail_next(429, operation="scopes.get", headers={"X-RateLimit-Reset": "0"})
    sendgrid_emulator.queue(Fault(drop=True, operation="scopes.get"))
    mailer = sendgrid(sendgrid_emulator, sendgrid_emulator.api_key)
    mailer.sleep = lambda seconds: None
    mailer.check_credentials()
    assert sendgrid_emulator.counts["scopes.get"] == 3
