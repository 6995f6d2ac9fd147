"""Secrets from Prefect Secret blocks when a setting names one, else from the environment; checked the same way."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import Settings

pytestmark = pytest.mark.usefixtures("prefect_server")

KEY = "SG.Jq7vLw2xN9cR4tY6uB1eA3.kD8fH5gZ0mP2sV7wX4yQ9nT6rE1uI3oL5aC8bF0dG"
LINK_SECRET = "u4Xr9Qm2Lz7Tb1Kc8Vn3Wp6Hy0Sd5Fg"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_secrets_are_read_from_named_blocks() -> None:
    from prefect.blocks.system import Secret

    Secret(value=KEY).save("mentorflow-sendgrid-key", overwrite=True)
    Secret(value=LINK_SECRET).save("mentorflow-link-secret", overwrite=True)
    got = settings(
        mailer="sendgrid",
        sendgrid_api_key_block="mentorflow-sendgrid-key",
        survey_token_secret_block="mentorflow-link-secret",
    )
    assert got.sendgrid_api_key is not None and got.sendgrid_api_key.get_secret_value() == KEY
    assert got.survey_token_secret.get_secret_value() == LINK_SECRET
    assert KEY not in repr(got) and LINK_SECRET not in repr(got)


def test_a_weak_value_in_a_block_is_refused_like_one_from_the_environment() -> None:
    from prefect.blocks.system import Secret

    Secret(value="changeme").save("mentorflow-weak-key", overwrite=True)
    with pytest.raises(ValidationError, match="MENTORFLOW_SENDGRID_API_KEY is missing or a placeholder"):
        settings(mailer="sendgrid", sendgrid_api_key_block="mentorflow-weak-key", survey_token_secret=LINK_SECRET)


def test_a_missing_block_falls_back_to_the_environment_or_names_the_setting() -> None:
    got = settings(
        mailer="sendgrid", sendgrid_api_key=KEY, sendgrid_api_key_block="no-such-block", survey_token_secret=LINK_SECRET
    )
    assert got.sendgrid_api_key is not None and got.sendgrid_api_key.get_secret_value() == KEY
    with pytest.raises(ValidationError, match="MENTORFLOW_SENDGRID_API_KEY_BLOCK names a Secret block") as caught:
        settings(mailer="sendgrid", sendgrid_api_key_block="no-such-block", survey_token_secret=LINK_SECRET)
    assert caught.value.error_count() == 1
