# Two commands on a machine with only Python 3.11 and pip:
#   make run    set up .venv, validate the shipped data and solve it, writing to reports/
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

run: setup
	$(BIN)/blocmodel validate
	$(BIN)/blocmodel solve --out reports/baseline
	$(BIN)/blocmodel solve --scenario data/scenarios/full_bloc.toml --out reports/full_bloc
	$(BIN)/blocmodel compare --out reports

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
