"""Settings: weak or placeholder secrets are refused with one message naming the setting, never echoing it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings, weak_secret_reason

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "SG.Jq7vLw2xN9cR4tY6uB1eA3.kD8fH5gZ0mP2sV7wX4yQ9nT6rE1uI3oL5aC8bF0dG"
STRONG_SECRET = "u4Xr9Qm2Lz7Tb1Kc8Vn3Wp6Hy0Sd5Fg"


def windows(value: str, size: int = 4) -> set[str]:
    return {value[i : i + size] for i in range(len(value) - size + 1)}


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "secret",
        "SG.…",
        "SG.xxx",
        "changeme",
        "SG.qqqqqqqqqqqqqqqqqqqqqqqqqqqq",
        "SG.Jq7vLw2xN9",
        "<a long random string>",
    ],
)
def test_a_weak_sendgrid_key_is_refused_naming_the_setting_without_echoing_it(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(mailer="sendgrid", sendgrid_api_key=key, survey_token_secret=STRONG_SECRET)
    message = str(caught.value)
    assert "MENTORFLOW_SENDGRID_API_KEY" in message
    assert caught.value.error_count() == 1
    assert "input_value" not in message
    if len(key) >= 4:
        assert not windows(key) & windows(message), "no run of four of the key's characters is in the message"


@pytest.mark.parametrize(
    "secret",
    ["a", "secret", "local-only-survey-secret", "<a long random string>", "abababababababababababab", "short-Secret-1"],
)
def test_a_weak_survey_secret_is_refused_once_links_leave_the_machine(secret: str) -> None:
    with pytest.raises(ValidationError, match="MENTORFLOW_SURVEY_TOKEN_SECRET") as caught:
        settings(mailer="sendgrid", sendgrid_api_key=STRONG_KEY, survey_token_secret=secret)
    assert secret not in str(caught.value) or len(secret) < 4


def test_a_chosen_survey_secret_must_be_real_even_locally_and_the_builtin_one_stays_local() -> None:
    assert settings().survey_token_secret.get_secret_value() == "local-only-survey-secret"
    with pytest.raises(ValidationError, match="MENTORFLOW_SURVEY_TOKEN_SECRET"):
        settings(survey_token_secret="secret")
    ok = settings(mailer="sendgrid", sendgrid_api_key=STRONG_KEY, survey_token_secret=STRONG_SECRET)
    assert ok.sendgrid_api_key is not None and ok.sendgrid_api_key.get_secret_value() == STRONG_KEY


def test_any_settings_error_hides_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        settings(http_timeout_seconds="Dana Levi dana@example.org")
    assert "dana" not in str(caught.value).casefold()


def test_the_documentation_placeholders_are_refused() -> None:
    """Every `MENTORFLOW_…=value` a doc shows for a secret is refused as it stands."""
    docs = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    shown = []
    for doc in docs:
        for line in doc.read_text(encoding="utf-8").splitlines():
            for name in ("MENTORFLOW_SENDGRID_API_KEY=", "MENTORFLOW_SURVEY_TOKEN_SECRET="):
                if name in line:
                    shown.append(line.split(name, 1)[1].split("#")[0].strip())
    assert shown, "the docs show how to set the secrets"
    assert all(weak_secret_reason(value) for value in shown), shown


def test_strong_secrets_pass() -> None:
    assert weak_secret_reason(STRONG_KEY) is None and weak_secret_reason(STRONG_SECRET) is None


def test_validation_errors_of_people_s_records_do_not_echo_them() -> None:
    from datetime import UTC, datetime

    from domain.models import MenteeApplication

    with pytest.raises(ValidationError) as caught:
        MenteeApplication.model_validate(
            {
                "response_id": "r1",
                "submitted_at": datetime(2026, 11, 1, tzinfo=UTC),
                "name": "Dana Levi",
                "email": "dana.levi-at-example.org",
                "languages": ["he"],
                "topics": ["python"],
                "career_stage": 9,
                "availability": [],
                "consent_contact": True,
                "goals": "x" * 5000,
                "accessibility_needs": 42,
            }
        )
    message = str(caught.value)
    assert "dana" not in message.casefold() and "xxxx" not in message
    assert "email" in message and "career_stage" in message, "the fields are still named"
