"""Formal verification of the generated RTL: proofs against an independent reference.

- `reference`: the SPEC §3-§6 PE arithmetic written from the SPEC alone (no code shared
  with `nbsmt.hw.pe`), the gold side of every PE proof.
- `harness`: the Amaranth wrappers the solver sees: the PE miter, the PE register-step
  harness and the array stream monitor; each exposes `ok_*` and `cover_*` ports.
- `smt`: Yosys to SMT-LIB (`write_smt2 -stbv`) and a Bitwuzla unrolling over it.
- `mutants`: small bugs injected into a copy of the generated Verilog (a proof that
  cannot fail is worth nothing).
- `proofs`: the proof matrix, run in parallel, with reports and counterexamples.

docs/formal.md says what is proven, for which parameters and to which depth.
"""
