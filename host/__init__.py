"""The host model of the array: tile a GEMM, map K onto lanes, pack beats, generate
operand families, and check what an array returned against the golden model. Used by
the cocotb benches (`nbsmt.tb`), the energy flow, the sweeps and the CLI."""
