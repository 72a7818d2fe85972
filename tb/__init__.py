"""cocotb testbenches (run by pytest through cocotb_tools.runner)."""
