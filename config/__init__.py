"""Settings, program rules, templates and sample data. Nothing here is read at import time."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = CONFIG_DIR / "templates"
SAMPLES_DIR = CONFIG_DIR / "samples"
