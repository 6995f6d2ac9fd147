"""Before a run's first side effect: every credential it will use, checked with one cheap authenticated call."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from mentorflow.bootstrap import current_services


@task(name="check-credentials", cache_policy=NO_CACHE)
def check_credentials(*, calendar: bool = False, mailer: bool = True) -> None:
    """Ask the mailer (and the calendar) to prove their credentials; a refused one raises ConfigurationError
    naming the setting, which stops the run before anything is sent or created."""
    connectors = current_services().connectors
    if mailer:
        connectors.mailer.check_credentials()
    if calendar:
        connectors.calendar.check_credentials()
