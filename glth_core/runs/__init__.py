"""Layer 4, orchestration of runs (sweeps, result archives): it cannot change a number."""
