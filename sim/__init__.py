"""Golden model, cycle model and emulator of NB-SMT arithmetic (numpy)."""

from nbsmt.sim.arith import contribution, reduce_activation, reduce_weight, wrap
from nbsmt.sim.gemm import GemmResult, golden_gemm, lane_operands

__all__ = ["contribution", "reduce_activation", "reduce_weight", "wrap",
           "GemmResult", "golden_gemm", "lane_operands"]
