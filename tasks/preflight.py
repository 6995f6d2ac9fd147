"""Before a run's first side effect: every credential it will use, checked with one cheap authenticated call."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import ConfigurationError
from mentorflow.bootstrap import current_services
from tasks.logs import log


@task(name="check-credentials", cache_policy=NO_CACHE)
def check_credentials(*, calendar: bool = False, mailer: bool = True) -> None:
    """Ask the mailer (and the calendar) to prove their credentials; a refused one raises ConfigurationError
    naming the setting, which stops the run before anything is sent or created."""
    connectors = current_services().connectors
    if mailer:
        connectors.mailer.check_credentials()
    if calendar:
        connectors.calendar.check_credentials()


@task(name="check-mailer", cache_policy=NO_CACHE)
def mailer_ready() -> bool:
    """Whether the mailer's credentials work now (one cheap call). For runs whose emails can wait (intake's
    acknowledgments and notes): a refused key skips them, logged, and the run goes on; a later run sends them."""
    try:
        current_services().connectors.mailer.check_credentials()
    except ConfigurationError:
        log("mailer credentials refused: this run's emails wait for a run with a good key")
        return False
    return True
