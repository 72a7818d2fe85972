"""nbsmt: generator and verification kit for NB-SMT (SySMT) deep-learning accelerators.

One importable package whose subpackages live in top-level folders (pyproject.toml maps
them): `nbsmt.core` (core/: policy, files, caches), `nbsmt.hw` (hw/: Amaranth
generators and the `Design` value), `nbsmt.sim` (sim/: numpy golden model, cycle model,
emulator, CNN study), `nbsmt.host` (host/: the array's host model), `nbsmt.tb` (tb/:
cocotb benches and their runner), `nbsmt.synth` (synth/: area and timing),
`nbsmt.energy` (energy/: gate-level energy), `nbsmt.formal`, `nbsmt.sweep`; this
folder holds only the command line (`nbsmt.cli`, `nbsmt.commands`).
"""

__version__ = "0.1.0"
