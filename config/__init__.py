"""Settings, program rules, templates and sample data. Nothing here is read at import time."""
