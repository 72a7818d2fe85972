"""Yosys synthesis flows reporting area relative to the baseline OS-SA."""
