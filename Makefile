# nbsmt: two commands do everything on a fresh machine -- `make demo` and `make test`.
# Every target sets itself up first (a .venv with the project, and the system simulators).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NBSMT  := $(VENV)/bin/nbsmt
STAMP  := $(VENV)/.installed
BUILD  := build

.PHONY: setup demo test verilog lint clean

setup: $(STAMP)
	@./scripts/ensure-system-tools

# Re-install only when the dependency list changes; `pip install -e` picks up new modules.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

demo: setup
	$(NBSMT) demo --out $(BUILD)/demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

verilog: setup
	$(NBSMT) verilog --defaults -o $(BUILD)/verilog

lint: verilog
	$(PY) -m nbsmt.hw.lint $(BUILD)/verilog

clean:
	rm -rf $(BUILD) sim_build .pytest_cache .hypothesis
