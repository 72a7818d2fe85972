# nbsmt: two commands do everything on a fresh machine -- `make demo` and `make test`.
# Every target sets itself up first (a .venv with the project, and the system simulators).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NBSMT  := $(VENV)/bin/nbsmt
STAMP  := $(VENV)/.installed
BUILD  := build

.PHONY: setup demo test soak verilog lint sim synth scale eval models sweep formal energy energy-options technology bench clean

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

# The layer contracts first (pyproject.toml [tool.importlinter]: an upward import fails), then
# every test.
test: setup
	$(PY) scripts/lint_imports.py
	$(PY) -m pytest $(PYTEST_ARGS)

# Soak, not part of `make test`: every PE configuration of the regression on both
# simulators for 10^6 random cycles each; 8x8 1T/2T/4T arrays on Verilator for 10^6
# cycles each of random GEMMs with random back-pressure (the stimulus player); then
# random GEMM shapes with random back-pressure on random arrays for SOAK_SECONDS; and every
# hostile-input case of every command (tests/test_hostile.py, NBSMT_HOSTILE=full; CI runs a
# sample) and a signal at 20 random moments of every command (tests/test_signals.py,
# NBSMT_SIGNALS=full; CI runs the quick commands) and the study of every topology model of
# the onnx package on one image (tests/test_models.py, NBSMT_MODELS=full). A fresh seed each
# run, printed;
# `make soak SEED=<seed>` reruns it, SOAK_ARGS="-k 'icarus and 2-trunc'" picks cases.
SOAK_SECONDS ?= 600
soak: setup
	@seed=$${SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "soak seed $$seed (rerun: make soak SEED=$$seed)"; \
	start=$$(date +%s); \
	NBSMT_SEED=$$seed NBSMT_PE_CYCLES=1000000 NBSMT_SOAK_SECONDS=$(SOAK_SECONDS) NBSMT_HOSTILE=full NBSMT_SIGNALS=full NBSMT_MODELS=full \
	  nice $(PY) -m pytest -p no:cacheprovider -v -s --durations=0 \
	  tests/test_hostile.py tests/test_signals.py tests/test_models.py tests/test_pe.py tests/soak_array.py $(SOAK_ARGS); \
	status=$$?; echo "soak seed $$seed: wall time $$(( $$(date +%s) - start )) s"; exit $$status

verilog: setup
	$(NBSMT) verilog --defaults -o $(BUILD)/verilog

lint: verilog
	$(PY) -m nbsmt.hw.lint $(BUILD)/verilog

sim: setup
	$(PY) bench/sim_demo.py --out $(BUILD)/sim-demo

synth: setup
	$(NBSMT) synth --out $(BUILD)/synth

# Does the array keep its clock as it grows? 8/16/32 x T x depth 0/2 timed (docs/timing.md),
# then a 32x32 4T GEMM on Verilator through the stimulus player (build time, cycles/s).
scale: setup
	$(PY) -m nbsmt.synth.scale --sizes 8 16 32 --out $(BUILD)/scale
	$(PY) bench/array_bench.py --scale --out $(BUILD)/scale/rtl.json

eval: setup
	$(NBSMT) eval --out $(BUILD)/eval

# ONNX models (docs/models.md): the MNIST LeNet on its 1,250 test images; ResNet-18 (40 %
# pruned) and the onnx package's ResNet-50, random weights, on 2 synthetic images; cycles,
# time (build/synth/timing.json) and energy (build/energy/energy.json) per inference when
# those reports exist. About 25 min with the energy report, most of it pricing ResNet's GEMMs.
LIGHT_RESNET50 = $$($(PY) -c "import onnx, pathlib; print(pathlib.Path(onnx.__file__).parent / 'backend/test/data/light/light_resnet50.onnx')")
models: setup
	$(NBSMT) export mnist -o $(BUILD)/models/mnist.onnx
	$(NBSMT) eval --model $(BUILD)/models/mnist.onnx --data mnist --out $(BUILD)/models/mnist
	$(NBSMT) export resnet18 -o $(BUILD)/models/resnet18.onnx
	$(NBSMT) eval --model $(BUILD)/models/resnet18.onnx --synthetic 2 --calib 4 --random-weights 1 \
	  --prune 0.4 --workers 0 --out $(BUILD)/models/resnet18
	$(NBSMT) eval --model $(LIGHT_RESNET50) --synthetic 2 --calib 4 --random-weights 1 \
	  --workers 0 --out $(BUILD)/models/resnet50

# A small design-space sweep on a local Dask cluster (one worker per core): 4x4 and 8x8
# arrays, 1/2/4 threads, windows 2/5, rne/trunc, on the `make sim` GEMM; area, cycles and
# accuracy (the measured configuration of docs/sweep.md; add timing to SWEEP_ARGS's
# --metrics for clocks and speedup in time, at the cost of one OpenSTA run per design).
SWEEP_ARGS ?= --sizes 4 8 --threads 1 2 4 --windows 2 5 --rounding rne trunc \
              --metrics area,cycles,accuracy
sweep: setup
	$(NBSMT) sweep $(SWEEP_ARGS) --out $(BUILD)/sweep

# Proofs: every PE (T = 1, 2, 4 x the regression's policies) against the SPEC reference,
# the PE registers, the array stream properties to depth 40, and the mutants that must
# fail (docs/formal.md). Solvers run niced, one per core.
formal: setup
	nice $(NBSMT) formal --out $(BUILD)/formal

# Gate-level energy of the demo GEMM's PEs on the OSU 0.18 um library (docs/energy.md).
energy: setup
	nice $(NBSMT) energy --demo --sparsity-sweep --out $(BUILD)/energy

# The same with each design option the savings may need: its own report per option.
# The trade-off across nodes (docs/technology.md): 8x8 OS-SA, 2T, 4T at depths 0 and 2 on
# OSU 0.18 um, SKY130, GF180MCU and ASAP7 (the last three from $$PDK_ROOT or ../shared/pdk):
# area, clock, like-for-like speedups, pJ/MAC under both glitch models. Not in `make test`.
technology: setup
	nice $(PY) -m nbsmt.energy.technology --out $(BUILD)/technology

energy-options: setup
	nice $(NBSMT) energy --demo --sparsity-sweep --operand-isolation --out $(BUILD)/energy-iso
	nice $(NBSMT) energy --demo --sparsity-sweep --clock-gating --out $(BUILD)/energy-cg
	nice $(NBSMT) energy --demo --sparsity-sweep --pipeline 2 --out $(BUILD)/energy-p2

# Benchmarks print figures; they are not timed tests. One BLAS thread for the emulator
# (see docs/eval.md for both settings).
bench: setup
	OPENBLAS_NUM_THREADS=1 $(PY) bench/emulator_bench.py --json $(BUILD)/bench/emulator.json
	$(PY) bench/array_bench.py --out $(BUILD)/bench/array.json
	OPENBLAS_NUM_THREADS=1 $(PY) bench/models_bench.py --json $(BUILD)/bench/models.json

clean:
	rm -rf $(BUILD) sim_build .pytest_cache .hypothesis
