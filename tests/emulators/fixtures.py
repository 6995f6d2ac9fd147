"""Pytest fixtures serving the emulators: one server per process (see ``shared``), reset for every test.

Use them with ``pytest_plugins = ["tests.emulators.fixtures"]`` in a test module or the root conftest. Outside
pytest (a demo, a benchmark), ``shared(FormsEmulator)`` gives the same running server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pytest

from tests.emulators.calendar import CalendarEmulator
from tests.emulators.forms import FormsEmulator, Question
from tests.emulators.google import GoogleEmulator
from tests.emulators.sendgrid import SendGridEmulator
from tests.emulators.server import shared


@pytest.fixture
def forms_emulator() -> FormsEmulator:
    """The Forms emulator (``.url``, ``.counts``, ``.forms``, ``fail_next``/``slow_next``/``fail_share``), empty."""
    server = shared(FormsEmulator)
    server.reset()
    return server


@pytest.fixture
def calendar_emulator() -> CalendarEmulator:
    """The Calendar emulator (``.url``, ``.counts``, ``.events()``, ``respond``, faults), empty."""
    server = shared(CalendarEmulator)
    server.reset()
    return server


@pytest.fixture
def sendgrid_emulator() -> SendGridEmulator:
    """The SendGrid emulator (``.url``, ``.api_key``, ``.accepted``, ``rate_limit_next``, faults), empty."""
    server = shared(SendGridEmulator)
    server.reset()
    return server


@pytest.fixture
def google_emulator() -> GoogleEmulator:
    """Forms and Calendar behind one URL (what one ``MENTORFLOW_GOOGLE_API_ENDPOINT`` points at), empty."""
    server = shared(GoogleEmulator)
    server.reset()
    return server


def seed_form(
    emulator: FormsEmulator,
    form_id: str,
    questions: Sequence[Question | str],
    responses: Iterable[Mapping[str, str | list[str]]] = (),
    *,
    title: str = "Form",
) -> list[str]:
    """Create a form with ``questions`` and submit ``responses`` (see :meth:`FormsEmulator.seed`)."""
    return emulator.seed(form_id, questions, responses, title=title)
