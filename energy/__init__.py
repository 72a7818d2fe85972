"""Gate-level energy: simulate the mapped netlist, price every net's toggles with the
cell library's power tables, per-action energy tables of PE and array, the report."""
