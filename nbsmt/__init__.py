"""nbsmt: generator and verification kit for NB-SMT (SySMT) deep-learning accelerators.

The arithmetic lives in `nbsmt.sim` (numpy golden model), the RTL generators in
`nbsmt.hw` (Amaranth), the cocotb testbenches in `nbsmt.tb` and the Yosys flows in
`nbsmt.synth`; the source folders are `sim/`, `hw/`, `tb/` and `synth/` at the top of
the repository.
"""

__version__ = "0.1.0"
