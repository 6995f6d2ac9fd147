"""The one settings class: where things are and which connector implementation to use.

Read from the environment (prefix ``MENTORFLOW_``) and a ``.env`` file for local use. Program rules
(topics, weights, cadence, wording) live in ``config/program.yaml`` instead, see :mod:`config.rules`.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config import CONFIG_DIR

LOCAL_SURVEY_SECRET = "local-only-survey-secret"
# Values people copy from docs and examples, including this project's own (README, docs/connect-google-sendgrid.md).
PLACEHOLDERS = {
    "",
    "changeme",
    "change-me",
    "xxx",
    "todo",
    "your-key",
    "your_api_key",
    "sg.xxx",
    "placeholder",
    "secret",
    "password",
    "sg.…",
    "sg...",
    "<a long random string>",
    "a long random string",
    LOCAL_SURVEY_SECRET,
}
PLACEHOLDER_MARKS = ("…", "<", ">", "changeme", "change-me", "your-key", "your_api_key", "placeholder", "example")
MIN_SECRET_LENGTH = 16
MIN_SECRET_BITS = 60.0  # length × Shannon entropy of the characters: a crude floor, not a strength proof


def weak_secret_reason(value: str) -> str | None:
    """Why ``value`` is not a usable secret (missing, a placeholder, too short, too repetitive), or None.

    The reason never quotes the value.
    """
    value = value.strip()
    folded = value.casefold()
    if folded in PLACEHOLDERS or any(mark in folded for mark in PLACEHOLDER_MARKS):
        return "is missing or a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    counts = Counter(value)
    bits = -sum(n * math.log2(n / len(value)) for n in counts.values())
    if bits < MIN_SECRET_BITS:
        return "is too predictable (too few different characters); use a long random string"
    return None


def default_data_dir() -> Path:
    """The user's data directory for mentorflow: independent of the current folder and out of any git clone."""
    from platformdirs import user_data_path

    return user_data_path("mentorflow", appauthor=False)


class Settings(BaseSettings):
    """Where mentorflow keeps its state and which connectors it talks to."""

    model_config = SettingsConfigDict(
        env_prefix="MENTORFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A validation error must never print what was given (a key, a secret, a path with a name in it).
        hide_input_in_errors=True,
    )

    data_dir: Path = Field(
        default_factory=lambda: default_data_dir(),
        description="local state: database, inbox, roster, outbox, invites, digests; default: the user's data "
        "directory (~/.local/share/mentorflow on Linux), the same whatever the current folder",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store; default: a SQLite file in data_dir (PostgreSQL: postgresql+psycopg://…)",
    )
    rules_path: Path = Field(CONFIG_DIR / "program.yaml", description="the program rules YAML")
    timezone: str = Field("Asia/Jerusalem", description="the program's time zone (IANA name)")

    intake: Literal["local", "google"] = Field("local", description="where mentee answers come from")
    roster: Literal["local", "google"] = Field("local", description="where the mentor roster comes from")
    calendar: Literal["local", "google"] = Field("local", description="where meetings are created")
    mailer: Literal["local", "sendgrid"] = Field("local", description="how email is sent")
    surveys: Literal["local", "google"] = Field("local", description="where survey answers come from")

    intake_dir: Path | None = Field(
        None, description="local intake: folder of form exports (CSV/JSON); default data_dir/inbox"
    )
    roster_path: Path | None = Field(
        None, description="local roster: mentors CSV, YAML or the mentors page (.md); default data_dir/mentors.yaml"
    )
    survey_dir: Path | None = Field(None, description="local surveys: folder of answer CSVs; default data_dir/surveys")
    self_service_dir: Path | None = Field(
        None, description="local self-service answers (withdraw, pause, …): CSV folder; default data_dir/self-service"
    )

    google_credentials_file: Path | None = Field(
        None, description="service-account JSON (with domain-wide delegation) or an OAuth token file"
    )
    google_subject: str | None = Field(None, description="the organizer account a service account acts as")
    google_api_endpoint: str | None = Field(None, description="override Google's base URL (staging or emulator)")
    google_mentee_form_id: str | None = Field(None, description="Forms id of the mentee intake form")
    google_mentor_form_id: str | None = Field(None, description="Forms id of the mentor registration form, if any")
    google_survey_form_id: str | None = Field(None, description="Forms id of the follow-up survey")
    google_self_service_form_id: str | None = Field(
        None, description="Forms id of the self-service form (read when surveys come from Google)"
    )
    google_calendar_id: str = Field("primary", description="calendar the meetings are created in")

    sendgrid_api_key: SecretStr | None = Field(None, description="SendGrid API key (Mail Send permission only)")
    sendgrid_host: str = Field("https://api.sendgrid.com", description="SendGrid base URL (override for staging)")
    sendgrid_sandbox: bool = Field(False, description="validate messages at SendGrid without delivering them")
    sendgrid_unsubscribe_group: int | None = Field(None, description="ASM group id honoured by the digest")
    sendgrid_webhook_public_key: str | None = Field(
        None,
        description="optional: the verification key (base64) of SendGrid's signed Event Webhook; with it "
        "`mentorflow webhook` honours unsubscribes, spam reports and bounces",
    )
    sendgrid_send_delay_seconds: int = Field(
        900,
        ge=720,
        le=72 * 3600,
        description="every SendGrid message is scheduled this far ahead, so an unknown outcome can be cancelled "
        "(SendGrid allows that until 10 minutes before the send time)",
    )
    survey_token_secret: SecretStr = Field(
        SecretStr(LOCAL_SURVEY_SECRET),
        description="HMAC key of survey and self-service links; a real secret (16+ random characters) whenever "
        "surveys or mail leave this machine",
    )
    http_timeout_seconds: float = Field(20.0, gt=0, le=300, description="timeout of every outside HTTP call")

    @model_validator(mode="after")
    def _credentials_present(self) -> Settings:
        if self.mailer == "sendgrid":
            key = self.sendgrid_api_key.get_secret_value() if self.sendgrid_api_key else ""
            reason = weak_secret_reason(key)
            if reason:
                raise ValueError(f"MENTORFLOW_SENDGRID_API_KEY {reason}, and MENTORFLOW_MAILER=sendgrid needs it")
        leaves_machine = self.mailer == "sendgrid" or self.surveys == "google"
        secret = self.survey_token_secret.get_secret_value()
        # The built-in local secret is fine while nothing leaves the machine; any value someone chose must be real.
        if leaves_machine or secret != LOCAL_SURVEY_SECRET:
            reason = weak_secret_reason(secret)
            if reason:
                raise ValueError(
                    f"MENTORFLOW_SURVEY_TOKEN_SECRET {reason}"
                    + (", and survey links leave this machine" if leaves_machine else "")
                )
        uses_google = "google" in {self.intake, self.roster, self.calendar, self.surveys}
        if uses_google and self.google_credentials_file is None and self.google_api_endpoint is None:
            raise ValueError("MENTORFLOW_GOOGLE_CREDENTIALS_FILE is missing, and a connector is set to google")
        return self

    # Derived locations (kept as methods so that nothing touches the disk at import or validation time).
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mentorflow.db').resolve()}"

    def inbox(self) -> Path:
        return self.intake_dir or self.data_dir / "inbox"

    def roster_file(self) -> Path:
        return self.roster_path or self.data_dir / "mentors.yaml"

    def survey_inbox(self) -> Path:
        return self.survey_dir or self.data_dir / "surveys"

    def self_service_inbox(self) -> Path:
        return self.self_service_dir or self.data_dir / "self-service"

    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def invites_dir(self) -> Path:
        return self.data_dir / "invites"

    def digests_dir(self) -> Path:
        return self.data_dir / "digests"
