"""Local HTTP emulators of Google Forms, Google Calendar and SendGrid Mail Send, for tests and demos."""

from tests.emulators.calendar import CalendarEmulator
from tests.emulators.forms import FormsEmulator, Question
from tests.emulators.google import GoogleEmulator
from tests.emulators.sendgrid import SendGridEmulator
from tests.emulators.server import Emulator, Fault

__all__ = ["CalendarEmulator", "Emulator", "Fault", "FormsEmulator", "GoogleEmulator", "Question", "SendGridEmulator"]
