"""Loads and validates the program rules YAML, with messages that name the offending key."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from domain.fields import format_errors
from domain.rules import ProgramRules


class RulesError(ValueError):
    """The program rules file is missing or invalid; the message says where, ``keys`` which rules."""

    def __init__(self, message: str, keys: list[str] | None = None) -> None:
        super().__init__(message)
        self.keys = keys or []


def load_rules(path: Path) -> ProgramRules:
    """Read ``path`` and return validated rules, or raise RulesError listing every problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"program rules not found at {path}") from exc
    except yaml.YAMLError as exc:
        raise RulesError(f"program rules at {path} are not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RulesError(f"program rules at {path} must be a mapping at the top level")
    try:
        return ProgramRules.model_validate(raw)
    except ValidationError as exc:
        keys = [".".join(str(p) for p in err["loc"]) or "(top)" for err in exc.errors()]
        problems = "; ".join(format_errors(exc))
        raise RulesError(f"program rules at {path} are invalid: {problems}", keys) from None  # the chain quotes values
