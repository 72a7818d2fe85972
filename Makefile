# nbsmt: two commands do everything on a fresh machine -- `make demo` and `make test`.
# Every target sets itself up first (a .venv with the project, and the system simulators).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NBSMT  := $(VENV)/bin/nbsmt
STAMP  := $(VENV)/.installed
BUILD  := build

.PHONY: setup demo test verilog lint sim synth eval energy bench clean

setup: $(STAMP)
	@./scripts/ensure-system-tools

# Re-install only when the dependency list changes; `pip install -e` picks up new modules.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[test]'
	@touch $@

# The main job: Verilog of the default PEs, then the SySMT demo in RTL (a 64x256x64 GEMM
# on 8x8 OS-SA, SySMT-2T and SySMT-4T arrays, checked against the golden model).
demo: verilog sim

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

verilog: setup
	$(NBSMT) verilog --defaults -o $(BUILD)/verilog

lint: verilog
	$(PY) -m nbsmt.hw.lint $(BUILD)/verilog

sim: setup
	$(PY) bench/sim_demo.py --out $(BUILD)/sim-demo

synth: setup
	$(NBSMT) synth --out $(BUILD)/synth

eval: setup
	$(NBSMT) eval --out $(BUILD)/eval

# Gate-level energy of the demo GEMM's PEs on the OSU 0.18 um library (docs/energy.md).
energy: setup
	nice $(NBSMT) energy --demo --sparsity-sweep --out $(BUILD)/energy

# Benchmarks print figures; they are not timed tests. One BLAS thread for the emulator
# (see docs/eval.md for both settings).
bench: setup
	OPENBLAS_NUM_THREADS=1 $(PY) bench/emulator_bench.py --json $(BUILD)/bench/emulator.json
	$(PY) bench/array_bench.py --out $(BUILD)/bench/array.json

clean:
	rm -rf $(BUILD) sim_build .pytest_cache .hypothesis
