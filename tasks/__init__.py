"""Thin Prefect tasks: call domain logic and connectors, record in the store."""
