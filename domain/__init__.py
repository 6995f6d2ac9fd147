"""Pure program logic over pydantic models: no I/O, no Prefect, no connectors."""
