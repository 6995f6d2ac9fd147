"""Secrets at run time from Prefect Secret blocks (made by ``mentorflow setup-prefect``).

A setting given in the worker's environment wins; a block fills in only what the environment lacks, so a
deployment's stored job variables never hold a secret.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from config.settings import Settings

# setting → Secret block name (the same names setup-prefect writes)
SECRET_BLOCKS = {
    "sendgrid_api_key": "mentorflow-sendgrid-api-key",
    "survey_token_secret": "mentorflow-survey-token-secret",
    "google_credentials": "mentorflow-google-credentials",
}


def _block_value(name: str) -> str | None:
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()  # type: ignore[union-attr]
    except ValueError:  # no such block
        return None
    return str(value) if value else None


def settings_with_block_secrets() -> Settings:
    """Settings from the environment, with the secrets it lacks read from the program's Secret blocks."""
    overrides: dict[str, Any] = {}
    for field, block in SECRET_BLOCKS.items():
        env = "MENTORFLOW_GOOGLE_CREDENTIALS_FILE" if field == "google_credentials" else f"MENTORFLOW_{field.upper()}"
        if os.environ.get(env):
            continue
        value = _block_value(block)
        if value is None:
            continue
        if field == "google_credentials":
            overrides["google_credentials_file"] = _private_file(value)
        else:
            overrides[field] = value
    return Settings(**overrides)


def _private_file(content: str) -> Path:
    """The credentials JSON in a file only this user can read (the Google client wants a path)."""
    fd, name = tempfile.mkstemp(prefix="mentorflow-google-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return Path(name)
