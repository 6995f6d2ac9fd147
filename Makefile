# Two commands for a newcomer: `make demo` and `make test`. Both create .venv from a lock file first:
# the runtime lock (what the demo, a worker and a deployment install) or the development lock (runtime + tests,
# lint and benchmarks; same pins for every runtime package).
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-$(shell cksum requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
DEV     := $(VENV)/.dev-$(shell cksum requirements-dev.lock pyproject.toml | cksum | cut -d' ' -f1)
PIP     := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: setup setup-runtime demo test test-fast bench bench-mapping lint lock clean bench-pipeline bench-google bench-email simulate

setup-runtime: $(RUNTIME)
setup: $(DEV)

# Each lock is complete (every transitive pin, hashed), so pip installs it as is, without resolving.
$(RUNTIME): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --no-deps --require-hashes -r requirements.lock
	$(BIN)/python -m pip check --disable-pip-version-check
	$(PIP) --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.runtime-* && touch $@

$(DEV): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --no-deps --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip check --disable-pip-version-check
	$(PIP) --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.dev-* && touch $@

demo: setup-runtime  ## run the whole program on the sample data (no credentials, SQLite, local files)
	$(BIN)/mentorflow demo

test: setup  ## the whole test suite (SQLite, plus PostgreSQL when MENTORFLOW_TEST_POSTGRES_URL is set)
	$(BIN)/python -m pytest

test-fast: setup  ## the inner loop: no Prefect server, no PostgreSQL
	$(BIN)/python -m pytest -m "not prefect and not postgres" -q

bench: setup  ## matching benchmark against the tools programs use today
	$(BIN)/python benchmarks/matching.py

bench-mapping: setup  ## free-text mentor lines → topics, against a labelled set (share with a hit, precision)
	$(BIN)/python benchmarks/topic_mapping.py --misses

bench-pipeline: setup  ## every stage under a Prefect server, SQLite and PostgreSQL, beside main's figures
	$(BIN)/python benchmarks/pipeline.py --compare benchmarks/results/pipeline-base.json

bench-google: setup  ## Google API calls per endpoint for ~1,000 matches, beside the floor and main's counts
	$(BIN)/python benchmarks/google_calls.py --baseline benchmarks/results/google_calls_main.json

bench-email: setup  ## email fault campaign: 1,000 mentees, newsletter of 1,400, 20 % SendGrid faults, 3 kills
	$(BIN)/python benchmarks/email_faults.py --out benchmarks/results/email_faults.jsonl

simulate: setup  ## the program simulation: 10 seeds x 12 weeks, 10% connector faults -> benchmarks/results/simulation.*
	$(BIN)/python benchmarks/simulation.py --seeds 10 --weeks 12 --mentees 100 --mentors 30 --faults 0.1

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy domain connectors store config tasks flows mentorflow

lock:  ## re-resolve both locks from pyproject.toml (needs uv: pip install uv); dev pins follow the runtime ones
	uv pip compile pyproject.toml --extra build --python-version 3.11 --generate-hashes -o requirements.lock
	uv pip compile pyproject.toml --extra build --extra dev --python-version 3.11 --generate-hashes \
		--constraint requirements.lock -o requirements-dev.lock

clean:
	rm -rf $(VENV) demo-output .pytest_cache
