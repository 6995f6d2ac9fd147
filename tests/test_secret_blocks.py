"""Inside a flow run, the secrets the environment lacks come from the Secret blocks ``setup-prefect`` writes; a
value in the environment wins; a block's value is checked like one from the environment."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from mentorflow.blocks import SECRET_BLOCKS, settings_with_block_secrets

pytestmark = pytest.mark.usefixtures("prefect_server")

KEY = "SG.Jq7vLw2xN9cR4tY6uB1eA3.kD8fH5gZ0mP2sV7wX4yQ9nT6rE1uI3oL5aC8bF0dG"
OTHER_KEY = "SG.Zr4nQ8wT2yK6pV1mX9cB3.hL7dF5gJ0sA2eU8iO4tR6yW1qN3vM5bC9kE0xP"
LINK_SECRET = "u4Xr9Qm2Lz7Tb1Kc8Vn3Wp6Hy0Sd5Fg"
GOOGLE_JSON = '{"type": "service_account", "client_email": "bot@example.iam.gserviceaccount.com"}'


@pytest.fixture
def blocks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The program's three blocks, a clean environment that sends mail through SendGrid."""
    from prefect.blocks.system import Secret

    for name in ("SENDGRID_API_KEY", "SURVEY_TOKEN_SECRET", "GOOGLE_CREDENTIALS_FILE"):
        monkeypatch.delenv(f"MENTORFLOW_{name}", raising=False)
    monkeypatch.setenv("MENTORFLOW_MAILER", "sendgrid")
    monkeypatch.chdir(tmp_path)  # no .env file here
    values = {"sendgrid_api_key": KEY, "survey_token_secret": LINK_SECRET, "google_credentials": GOOGLE_JSON}
    for field, value in values.items():
        Secret(value=value).save(SECRET_BLOCKS[field], overwrite=True)
    return values


def _delete(name: str) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.delete_block_document(client.read_block_document_by_name(name, "secret").id)


def test_the_secrets_the_environment_lacks_come_from_the_blocks(blocks: dict[str, str]) -> None:
    got = settings_with_block_secrets()
    assert got.sendgrid_api_key is not None and got.sendgrid_api_key.get_secret_value() == KEY
    assert got.survey_token_secret.get_secret_value() == LINK_SECRET
    path = got.google_credentials_file
    assert path is not None and path.read_text(encoding="utf-8") == GOOGLE_JSON
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "the credentials file is the worker user's only"
    assert KEY not in repr(got) and LINK_SECRET not in repr(got)


def test_a_setting_in_the_environment_wins_over_its_block(
    blocks: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MENTORFLOW_SENDGRID_API_KEY", OTHER_KEY)
    got = settings_with_block_secrets()
    assert got.sendgrid_api_key is not None and got.sendgrid_api_key.get_secret_value() == OTHER_KEY
    assert got.survey_token_secret.get_secret_value() == LINK_SECRET


def test_a_weak_value_in_a_block_is_refused_like_one_from_the_environment(blocks: dict[str, str]) -> None:
    from prefect.blocks.system import Secret

    Secret(value="changeme").save(SECRET_BLOCKS["sendgrid_api_key"], overwrite=True)
    with pytest.raises(ValidationError, match="MENTORFLOW_SENDGRID_API_KEY is missing or a placeholder"):
        settings_with_block_secrets()


def test_without_a_block_the_environment_decides(blocks: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _delete(SECRET_BLOCKS["sendgrid_api_key"])
    with pytest.raises(ValidationError, match="MENTORFLOW_SENDGRID_API_KEY is missing"):
        settings_with_block_secrets()
    monkeypatch.setenv("MENTORFLOW_SENDGRID_API_KEY", OTHER_KEY)
    got = settings_with_block_secrets()
    assert got.sendgrid_api_key is not None and got.sendgrid_api_key.get_secret_value() == OTHER_KEY
