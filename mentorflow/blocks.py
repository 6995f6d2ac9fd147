"""Secrets at run time from Prefect Secret blocks (made by ``mentorflow setup-prefect``).

A setting given in the worker's environment wins; a block fills in only what the environment lacks, so a
deployment's stored job variables never hold a secret.
"""

from __future__ import annotations

import json
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


def read_secret(name: str) -> str | None:
    """The text kept in the Secret block ``name``, as it was stored; None when there is no such block.

    Not ``Secret.get()``: it parses text that reads as JSON, so the Google credentials came back as a dict.
    """
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)  # type: ignore[union-attr]
    except ValueError:  # no such block
        return None
    value = block.value.get_secret_value()  # type: ignore[union-attr]
    text = value if isinstance(value, str) else json.dumps(value)  # a value made in the UI may be JSON
    return text or None


def settings_with_block_secrets() -> Settings:
    """Settings from the environment, with the secrets it lacks read from the program's Secret blocks."""
    overrides: dict[str, Any] = {}
    for field, block in SECRET_BLOCKS.items():
        env = "MENTORFLOW_GOOGLE_CREDENTIALS_FILE" if field == "google_credentials" else f"MENTORFLOW_{field.upper()}"
        if os.environ.get(env):
            continue
        value = read_secret(block)
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
