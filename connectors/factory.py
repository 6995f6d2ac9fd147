"""The one place that turns settings into connector instances (local by default, Google/SendGrid by setting)."""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import Settings
from connectors.base import Calendar, IntakeSource, Mailer, RosterSource, SurveySource


@dataclass(frozen=True)
class Connectors:
    """Every door to the outside a flow may use. Tests build one directly with fakes or emulator clients."""

    intake: IntakeSource
    roster: RosterSource
    calendar: Calendar
    mailer: Mailer
    surveys: SurveySource
    # self-service answers (withdraw, pause, …): the same kind of form as the surveys; None reads none
    actions: SurveySource | None = None


def build_connectors(settings: Settings) -> Connectors:
    """Build each connector of the kind the settings name; remote kinds are imported only when chosen."""
    from connectors.local.calendar import IcsCalendar
    from connectors.local.intake import FileIntake
    from connectors.local.outbox import EmlOutbox
    from connectors.local.roster import FileRoster
    from connectors.local.surveys import FileSurveys

    if {settings.intake, settings.roster, settings.calendar, settings.surveys} & {
        "google"
    } or settings.mailer == "sendgrid":
        from connectors import remote
    intake: IntakeSource = (
        remote.build_google_intake(settings) if settings.intake == "google" else FileIntake(settings.inbox())
    )
    roster: RosterSource = (
        remote.build_google_roster(settings) if settings.roster == "google" else FileRoster(settings.roster_file())
    )
    calendar: Calendar = (
        remote.build_google_calendar(settings)
        if settings.calendar == "google"
        else IcsCalendar(settings.invites_dir(), settings.timezone)
    )
    mailer: Mailer = (
        remote.build_sendgrid_mailer(settings) if settings.mailer == "sendgrid" else EmlOutbox(settings.outbox())
    )
    surveys: SurveySource = (
        remote.build_google_surveys(settings) if settings.surveys == "google" else FileSurveys(settings.survey_inbox())
    )
    actions: SurveySource | None = FileSurveys(settings.self_service_inbox(), name="self-service")
    if settings.surveys == "google":
        actions = remote.build_google_self_service(settings) if settings.google_self_service_form_id else None
    return Connectors(intake=intake, roster=roster, calendar=calendar, mailer=mailer, surveys=surveys, actions=actions)
