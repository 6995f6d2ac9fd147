"""The embedded defaults: files on disk (CSV/JSON/YAML in, .ics and .eml out)."""
