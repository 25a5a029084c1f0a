# Commands on a machine with only Python 3.11 and pip:
#   make run    set up .venv, validate the shipped data and solve it, writing to reports/
#   make test   set up .venv and run the quick tier of the test suite (CI runs this)
#   make test-all  every test, the slow tier too (2,000 random equilibria)
#   make lint   ruff over the package, tests and scripts
#   make optimize  optimal NdPr floors and MSP external tariff, the frontier, the full bloc's coalition analysis
#   make batch     the NdPr floor x mechanism lines, the 1,000-scenario design grid and the Monte Carlo bands
#   make notebooks run every notebook in notebooks/ and save it with its outputs (then `.venv/bin/jupyter lab`)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-all lint setup clean optimize batch notebooks

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,notebooks]"
	touch $@

run: setup
	$(BIN)/blocmodel validate
	$(BIN)/blocmodel solve --out reports/baseline
	$(BIN)/blocmodel solve --scenario data/scenarios/full_bloc.toml --out reports/full_bloc
	$(BIN)/blocmodel calibration --out reports/calibration
	$(BIN)/blocmodel compare --out reports

# The least-cost NdPr floors per mechanism (each answer refined until its first-order condition holds: optimum.json
# carries the certificate), the MSP's optimal external tariff, the frontier and the full bloc's coalition analysis
# (most of the time is the ~8,000 coalitions of the Shapley values, solved on two Dask workers). The stockpile target
# is unreachable by design (a reserve buying members' output raises their users' non-member share): exit 5, ignored.
optimize: setup
	$(BIN)/blocmodel optimize --scenario data/scenarios/optimize_ndpr_floor_variable_levy.toml --out reports/optimize_ndpr_floor_variable_levy
	$(BIN)/blocmodel optimize --scenario data/scenarios/optimize_ndpr_floor_deficiency_payment.toml --out reports/optimize_ndpr_floor_deficiency_payment
	$(BIN)/blocmodel optimize --scenario data/scenarios/optimize_ndpr_floor_price_support.toml --out reports/optimize_ndpr_floor_price_support
	-$(BIN)/blocmodel optimize --scenario data/scenarios/optimize_ndpr_floor_stockpile.toml --out reports/optimize_ndpr_floor_stockpile
	$(BIN)/blocmodel optimize --scenario data/scenarios/optimize_cet_msp.toml --out reports/optimize_cet_msp
	$(BIN)/blocmodel frontier --scenario data/scenarios/bloc_ministerial.toml --product ndpr_oxide \
		--targets 0.8,0.7,0.6,0.5,0.4,0.3 --bounds 40000,200000 --out reports/frontier_ndpr_oxide
	$(BIN)/blocmodel coalition --scenario data/scenarios/full_bloc.toml --permutations 200 --seed 1 --workers 2 \
		--out reports/coalition_full_bloc

# Resumable: run again after an interruption (Ctrl-C prints the command) and it finishes what is left.
batch: setup
	$(BIN)/blocmodel batch data/sweeps/ndpr_floor_mechanisms.toml --out reports/batch_ndpr_floor_mechanisms --workers 2
	$(BIN)/blocmodel batch data/sweeps/ndpr_floor_grid.toml --out reports/batch_ndpr_floor_grid --workers 2
	$(BIN)/blocmodel batch data/sweeps/headline_uncertainty.toml --out reports/batch_headline_uncertainty --workers 2

# The .ipynb twins are committed without outputs (jupytext keeps them in step with the .py
# sources); this runs each one from notebooks/ and writes its outputs into it, in place.
notebooks: setup
	cd notebooks && for nb in [0-9][0-9]_*.ipynb; do $(abspath $(BIN))/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=900 "$$nb" || exit 1; done

test: setup
	$(BIN)/python -m pytest -q -m "not slow"

test-all: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check blocmodel tests scripts

clean:
	rm -rf $(VENV) .pytest_cache
