"""Composition root: settings → rules, store and connectors, built once per process.

Flows and tasks ask :func:`current_services`; tests hand in their own with :func:`use_services`
(cosmicpython's ``bootstrap``), so nothing reads settings at import time and nothing patches globals.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from jinja2 import Environment

from config.rules import load_rules
from config.settings import Settings
from connectors.factory import Connectors, build_connectors
from domain.messages import template_env
from domain.rules import ProgramRules
from store.uow import Store


@dataclass
class Services:
    """What a flow run works with."""

    settings: Settings
    rules: ProgramRules
    store: Store
    connectors: Connectors

    @cached_property
    def install_id(self) -> str:
        return self.store.install_id()

    @cached_property
    def templates(self) -> Environment:
        return template_env()


def build_services(
    settings: Settings | None = None, connectors: Connectors | None = None, rules: ProgramRules | None = None
) -> Services:
    """Validate everything up front (rules, credentials, schema), so a run fails before any side effect."""
    settings = settings or Settings()
    rules = rules or load_rules(settings.rules_path)
    store = Store.open(settings.store_url())
    return Services(settings=settings, rules=rules, store=store, connectors=connectors or build_connectors(settings))


def _runtime_settings() -> Settings:
    """Inside a flow run, secrets the environment lacks come from Prefect Secret blocks; a lead's command
    (which never loads Prefect, to answer at once) reads the environment only."""
    if "prefect" not in sys.modules:
        return Settings()
    from mentorflow.blocks import settings_with_block_secrets

    return settings_with_block_secrets()


def services_despite_broken_rules(error: Exception) -> Services:
    """For the lead's report only, when the program's rules are broken: the shipped defaults with the program's
    own addresses, name and language where the broken file still gives them, so the report can go out and name
    the broken rule. Raises if even those cannot be had (then the failed run's automation tells the lead)."""
    import yaml

    from config import CONFIG_DIR

    settings = _runtime_settings()
    rules = yaml.safe_load((CONFIG_DIR / "program.yaml").read_text(encoding="utf-8"))
    try:
        own = yaml.safe_load(settings.rules_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        own = None
    if isinstance(own, dict):
        rules.update({k: v for k, v in own.items() if k in {"lead_email", "from_email", "program_name"}})
        digest = own.get("digest")
        if isinstance(digest, dict) and digest.get("language") in {"he", "en"}:
            rules["digest"]["language"] = digest["language"]
    return build_services(settings, rules=ProgramRules.model_validate(rules))


_lock = threading.Lock()
_current: Services | None = None


def current_services() -> Services:
    """The services of this process: the ones in use, or built from the environment on first call."""
    global _current
    with _lock:
        if _current is None:
            _current = build_services(_runtime_settings())
        return _current


@contextmanager
def use_services(services: Services) -> Iterator[Services]:
    """Run the enclosed flows with ``services`` (tests, the demo, the CLI)."""
    global _current
    with _lock:
        previous, _current = _current, services
    try:
        yield services
    finally:
        with _lock:
            _current = previous
