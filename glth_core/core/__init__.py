"""Layer 1, the core: orthonormal bases and transforms, the generalized parametrization, pruning,
export and tickets. Depends on nothing else in the package (only :mod:`glth_core.storage` below it)."""
