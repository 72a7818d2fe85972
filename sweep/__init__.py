"""Design-space sweeps: area, clock, cycles and accuracy per design point, on Dask."""
