"""Builders of the Google and SendGrid connectors from settings (called by :mod:`connectors.factory`).

Each fails fast with :class:`~connectors.base.ConfigurationError` naming the missing setting.
"""

from __future__ import annotations

from typing import Any

from config.rules import RulesError, load_rules
from config.settings import Settings
from connectors.base import Address, ConfigurationError, SurveyError, SurveyUnavailable
from connectors.google.auth import CALENDAR_SCOPES, FORMS_SCOPES, GoogleClient
from connectors.google.calendar import GoogleCalendar
from connectors.google.forms import FormReader, GoogleFormsIntake, GoogleFormsRoster, GoogleFormsSurveys
from connectors.sendgrid import SendGridMailer


def _form_reader(settings: Settings, form_id: str | None, setting: str, **kinds: Any) -> FormReader:
    if not form_id or not form_id.strip():
        raise ConfigurationError(f"{setting} is not set; it names the Google Form to read")
    return FormReader(
        GoogleClient(settings, "forms", "v1", "", FORMS_SCOPES), form_id.strip(), setting=setting, **kinds
    )


def build_google_intake(settings: Settings) -> GoogleFormsIntake:
    """Mentee answers from the form ``MENTORFLOW_GOOGLE_MENTEE_FORM_ID``."""
    return GoogleFormsIntake(_form_reader(settings, settings.google_mentee_form_id, "MENTORFLOW_GOOGLE_MENTEE_FORM_ID"))


def build_google_roster(settings: Settings) -> GoogleFormsRoster:
    """The mentor roster from the registration form ``MENTORFLOW_GOOGLE_MENTOR_FORM_ID``."""
    return GoogleFormsRoster(_form_reader(settings, settings.google_mentor_form_id, "MENTORFLOW_GOOGLE_MENTOR_FORM_ID"))


def build_google_surveys(settings: Settings) -> GoogleFormsSurveys:
    """Survey answers from the form ``MENTORFLOW_GOOGLE_SURVEY_FORM_ID``."""
    reader = _form_reader(
        settings,
        settings.google_survey_form_id,
        "MENTORFLOW_GOOGLE_SURVEY_FORM_ID",
        error=SurveyError,
        unavailable=SurveyUnavailable,
    )
    return GoogleFormsSurveys(reader)


def build_google_self_service(settings: Settings) -> GoogleFormsSurveys:
    """Self-service answers from the form ``MENTORFLOW_GOOGLE_SELF_SERVICE_FORM_ID`` (questions titled token,
    action, until, capacity, reason)."""
    reader = _form_reader(
        settings,
        settings.google_self_service_form_id,
        "MENTORFLOW_GOOGLE_SELF_SERVICE_FORM_ID",
        error=SurveyError,
        unavailable=SurveyUnavailable,
    )
    return GoogleFormsSurveys(reader)


def build_google_calendar(settings: Settings) -> GoogleCalendar:
    """Meetings in ``MENTORFLOW_GOOGLE_CALENDAR_ID`` (default: the organizer's primary calendar)."""
    client = GoogleClient(settings, "calendar", "v3", "calendar/v3/", CALENDAR_SCOPES)
    return GoogleCalendar(client, settings.google_calendar_id or "primary")


def build_sendgrid_mailer(settings: Settings) -> SendGridMailer:
    """SendGrid with ``MENTORFLOW_SENDGRID_API_KEY``; the sender is ``from_email`` of the program rules."""
    key = settings.sendgrid_api_key.get_secret_value().strip() if settings.sendgrid_api_key else ""
    if not key:
        raise ConfigurationError("MENTORFLOW_SENDGRID_API_KEY is not set; MENTORFLOW_MAILER=sendgrid needs it")
    try:
        rules = load_rules(settings.rules_path)
    except RulesError as exc:
        raise ConfigurationError(f"the sender address comes from the program rules, which failed: {exc}") from exc
    return SendGridMailer(
        key,
        Address(email=rules.from_email, name=rules.program_name),
        host=settings.sendgrid_host,
        sandbox=settings.sendgrid_sandbox,
        unsubscribe_group=settings.sendgrid_unsubscribe_group,
        timeout_seconds=settings.http_timeout_seconds,
        send_delay_seconds=settings.sendgrid_send_delay_seconds,
    )
