r"""Statistics over seeds of the engine's tidy results tables, and the one verdict rule.

The functions live in three modules, one job each, and are gathered here: means, intervals and
paired differences in :mod:`glth_core.analysis.intervals`; compression with censoring in
:mod:`glth_core.analysis.compression`; the verdict rule in :mod:`glth_core.analysis.verdicts`.

Input: a table with one row per run and round, as :func:`glth_core.runs.sweep.sweep`
and :func:`glth_core.engine.lottery.run_imp` return (``glth_core.engine.lottery.TABLE_COLUMNS``).
Accuracies there are **fractions in [0, 1]**; every function here keeps the
units of the column it reads. Only :func:`~glth_core.analysis.verdicts.verdict_sentence` converts, with its
``scale`` (default 100: a difference of fractions printed in percentage points).

The sample is the seed: a configuration run with ``n`` seeds gives ``n``
independent values. A seed fixes the initial weights and the data order, so two
arms run with the same seed (ticket and control, or two bases) are *paired*.

* :func:`~glth_core.analysis.intervals.summarize`: per configuration, mean, sd, ``n`` and the two-sided
  Student-t interval ``mean +- t_{(1+c)/2, n-1} sd / sqrt(n)``.
* :func:`~glth_core.analysis.intervals.paired_difference`: ``treatment - reference`` at matched (seed, round),
  the same t interval on the differences and the paired t-test p-value
  (``scipy.stats.ttest_rel``).
* :func:`~glth_core.analysis.compression.compression`: per seed, the sparsity at which accuracy first leaves the
  band ``[reference - tolerance, inf)``, interpolated linearly in
  ``log(density)`` between the last round inside and the first round outside;
  compression = ``density_0 / density*`` (``1 / density*`` for density). A run
  that never leaves the band is *right-censored*: its compression is only a
  lower bound (``">= 126x"``), taken at its sparsest round.
* :func:`~glth_core.analysis.compression.summarize_compression` and :func:`~glth_core.analysis.compression.compression_ratio`: the geometric mean
  over seeds (of compression, or of the paired basis/reference ratio) with,
  by default (``method="t"``), the Student-t interval of the mean log,
  ``exp(mean log +- t_{(1+c)/2, n-1} sd(log) / sqrt(n))``: exact coverage for
  log-normal values at every ``n >= 2`` (``tests/test_stats.py`` checks 95% by
  simulation at n = 3, 5 and 10, where the percentile bootstrap of earlier
  versions covers far less at n = 3). The bootstrap methods of
  ``scipy.stats.bootstrap`` remain available (``method="percentile"``,
  ``"basic"``, ``"BCa"``). Censored values enter at their bound, recorded in the
  column ``bound`` (below).
* :func:`~glth_core.analysis.verdicts.verdict`: the rule every chapter uses. With the interval ``[lo, hi]``
  of an effect and a ``null`` value (0 for a difference, 1 for a ratio), for a
  claimed side ``"greater"``: **holds** if ``lo > null``, **contradicted** if
  ``hi < null``, **inconclusive** otherwise (an interval touching the null is
  inconclusive); ``"less"`` mirrors it. An effect with a censored side
  (``bound`` not ``"exact"``) is **censored**, whatever its interval: a t
  interval is not monotone in each value (a larger censored value can widen
  it), so an interval computed from bounds is no bound of the true interval,
  and the comparison must be pruned further before it can hold.

``bound`` of an effect: ``"exact"``; ``"lower"`` when the true values can only be
larger than those used (censored treatment runs); ``"upper"`` the mirror
(censored reference runs); ``"unknown"`` when censoring acts both ways.
"""
from __future__ import annotations

from .intervals import (CONFIDENCE, SIDES, t_interval, summarize, with_dense_round, paired_values,
                        paired_difference)  # noqa: F401 (re-exported)
from .intervals import _as_list, _check_columns  # noqa: F401 (the checks the other analysis modules call)
from .verdicts import BOUNDS, VERDICTS, verdict, verdict_sentence, with_verdicts  # noqa: F401 (re-exported)
from .compression import (COMPRESSION_METHODS, sparsest_within, crossing, compression, summarize_compression,
                          compression_ratio, format_compression)  # noqa: F401 (re-exported)

__all__ = [
    "CONFIDENCE",
    "SIDES",
    "VERDICTS",
    "BOUNDS",
    "COMPRESSION_METHODS",
    "t_interval",
    "summarize",
    "with_dense_round",
    "paired_values",
    "paired_difference",
    "sparsest_within",
    "crossing",
    "compression",
    "summarize_compression",
    "compression_ratio",
    "format_compression",
    "verdict",
    "verdict_sentence",
    "with_verdicts",
]
