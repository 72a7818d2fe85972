"""Amaranth generators for NB-SMT PEs, the SySMT array and the baseline OS-SA."""
