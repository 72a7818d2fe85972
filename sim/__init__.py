"""Golden model, cycle model and emulator of NB-SMT arithmetic (numpy)."""

from .arith import contribution, reduce_activation, reduce_weight, wrap
from .gemm import GemmResult, golden_gemm, lane_operands

__all__ = ["contribution", "reduce_activation", "reduce_weight", "wrap",
           "GemmResult", "golden_gemm", "lane_operands"]
