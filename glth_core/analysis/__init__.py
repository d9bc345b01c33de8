"""Layer 5, analysis of finished runs: statistics, compression, compaction, truncation, plots, verdicts."""
