"""Area and timing: Yosys synthesis for area (NAND2 GE against the OS-SA), mapping onto
a timing library and OpenSTA, and the one cell-library (Liberty) reader both share."""
