"""Prefect flows: orchestration only.

These modules do not use ``from __future__ import annotations``: a worker loads a flow from its entrypoint
in a fresh process and validates the run's parameters against the annotations, which must then be real
types, not strings (a served ``match`` run failed that way; tests/test_approval.py runs one for real).
"""
