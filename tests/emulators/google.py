"""Forms and Calendar on one server, for settings with a single ``MENTORFLOW_GOOGLE_API_ENDPOINT``."""

from __future__ import annotations

from typing import Any

from tests.emulators.calendar import CalendarEmulator
from tests.emulators.forms import FormsEmulator
from tests.emulators.server import ApiError


class GoogleEmulator(FormsEmulator, CalendarEmulator):
    """Both emulators' routes (``/v1/forms/…`` and ``/calendar/v3/…``) and state on one port."""

    def error_body(self, error: ApiError) -> Any:
        forms = FormsEmulator.error_body(self, error)["error"]
        calendar = CalendarEmulator.error_body(self, error)["error"]
        return {"error": {**calendar, "status": forms["status"]}}  # Google's shared shape carries both
