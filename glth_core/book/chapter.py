r"""The book's chapters as one object: parameters checked and resolved, named runs, glue, verdicts.

A chapter's cell after its papermill ``parameters`` cell is::

    from glth_core.book.chapter import Chapter
    ch = Chapter("01_canonical", globals())

which refuses an undeclared ``-p NAME`` (:func:`check_parameters`), resolves the
profile (:func:`glth_core.book.profiles.chapter_parameters`), checks every parameter
in seconds (:func:`check_common`: data set, model, counts and their limits
``GLTH_MAX_<NAME>``, device, scheduler, results folder; then the chapter's rules of
:data:`glth_core.book.chapter_runs.SPECS`, through the engine's own
:func:`glth_core.engine.hparams.validate`) and prints the resolved settings. Then an
experiment is one call (``table = ch.sweep("tickets")``), a number or sentence for
the Markdown one ``ch.glue(key, value)``, and the verdicts one
``ch.verdicts(table, TESTS)`` over declared :class:`Test` s.

The parameter checks themselves live in :mod:`glth_core.book.chapter_checks`, the
verdicts in :mod:`glth_core.book.chapter_verdicts`; both are re-exported here.
"""
from __future__ import annotations

from typing import Sequence

from .chapter_checks import (INJECTED_CELL_HEADER, check_common, check_hparams, check_parameters,  # noqa: F401
                             check_results_folder, log_percent_axis, require_bool, require_fraction, require_int,
                             require_names, require_nonnegative, smoke_scheduler)
from .chapter_verdicts import VERDICT_COLUMNS, Test, compute_verdicts, family, record_verdicts, recorded_verdicts

__all__ = [
    "Chapter", "Test", "require_bool", "require_int", "require_fraction", "require_nonnegative", "require_names",
    "check_common", "check_parameters", "check_hparams", "check_results_folder", "smoke_scheduler",
    "log_percent_axis", "record_verdicts", "recorded_verdicts", "VERDICT_COLUMNS", "family",
]

#: Parameters of every experiment chapter that no profile sets: name -> default.
PLACE_PARAMETERS = {"device": "auto", "scheduler": "auto", "results_dir": None}


class Chapter:
    """One chapter of the book: its resolved parameters, runs, glue and verdicts.

    Args:
        name: the chapter (a key of :data:`glth_core.book.profiles.CHAPTERS` and of
            :data:`glth_core.book.chapter_runs.SPECS`), e.g. ``"01_canonical"``.
        namespace: the chapter's ``globals()``, right after its parameters cell.

    Attributes:
        params: the resolved parameters (profile values for ``None``, smoke overrides), with
            ``profile``, ``smoke`` and the chapter's extras.
        smoke, profile, device, scheduler, results_dir: as given (the scheduler of a smoke run
            is this process, :func:`smoke_scheduler`).
        seeds: ``list(range(params["seeds"]))`` (empty for a chapter without seeds).

    Raises:
        ValueError, TypeError: a parameter that is undeclared or invalid, named with what is allowed.
    """

    def __init__(self, name: str, namespace: dict):
        from .chapter_runs import SPECS
        from .profiles import CHAPTERS, chapter_parameters

        check_parameters(namespace)
        if name not in SPECS or name not in CHAPTERS:
            raise ValueError(f"unknown chapter {name!r}; chapters: {sorted(set(SPECS) & set(CHAPTERS))}")
        self.name, self.spec = name, SPECS[name]
        self.smoke, self.profile = namespace.get("smoke", False), namespace.get("profile", "quick")
        require_bool("smoke", self.smoke)
        declared = CHAPTERS[name].get(self.profile, {}) if isinstance(self.profile, str) else {}
        given = {k: namespace.get(k) for k in declared}
        self.params = chapter_parameters(name, self.profile, smoke=self.smoke, **given)
        self.params.update({k: namespace[k] for k in self.spec.extras})
        for param, chosen in self.spec.restricted_defaults.items():
            if given.get(param) is None and isinstance(self.params.get(param), list):
                self.params[param] = [v for v in self.params[param] if v in self.params[chosen]]
        self.device, self.scheduler, self.results_dir = (namespace.get(k, v) for k, v in PLACE_PARAMETERS.items())
        if self.spec.trains:
            self._check_training()
        else:
            check_results_folder(self.results_dir)
        for rule in self.spec.rules:
            rule(self.params)
        if self.smoke:
            self.scheduler = smoke_scheduler(self.scheduler)
        self.seeds = list(range(self.params["seeds"])) if "seeds" in self.params else []
        print(self.settings())

    def _check_training(self) -> None:
        p, spec = self.params, self.spec
        model = p.get("model")
        if "models" in p:  # a chapter of several models (05): each must be allowed, the first stands for all
            from ..engine.models import MODELS

            require_names("models", p["models"], spec.models or list(MODELS))
            model = p["models"][0]
        check_common(smoke=self.smoke, dataset=p["dataset"], model=model, device=self.device,
                     scheduler=self.scheduler, results_dir=self.results_dir, models=spec.models,
                     **{k: (p[k], minimum) for k, minimum in spec.integers.items()})

    def settings(self) -> str:
        """The resolved settings in one line (``profile quick: seeds=5, ...``)."""
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items() if k not in ("profile", "smoke"))
        return f"profile {self.profile}{' (smoke)' if self.smoke else ''}" + (f": {shown}" if shown else "")

    # ------------------------------------------------------------------------------------------ runs

    def groups(self) -> list[str]:
        """The names of the chapter's run groups."""
        return list(self.spec.runs)

    def runs(self, group: str, params: dict | None = None) -> list:
        """The runs (ImpHparams / SubspaceHparams) of the named ``group`` under ``params`` (default: the chapter's).

        Raises:
            ValueError: an unknown group, with the chapter's groups.
        """
        if group not in self.spec.runs:
            raise ValueError(f"chapter {self.name} has no run group {group!r}; its groups: {self.groups()}")
        return self.spec.runs[group](self.params if params is None else params)

    def sweep(self, group: str):
        """Train (or read from the results folder) every run of ``group``; their tidy table.

        Runs on the chapter's device, scheduler and results folder, with ``errors="raise"``:
        a failed run stops the chapter with its error.
        """
        from ..runs.sweep import sweep

        return sweep(self.runs(group), scheduler=self.scheduler, device=self.device, results_dir=self.results_dir,
                     progress=False, errors="raise")

    def cost_table(self):
        """Estimated training hours of all the chapter's groups under each profile (not smoke), CPU and GPU.

        Returns:
            A text DataFrame indexed by profile: ``runs``, ``CPU``, ``GPU`` (``"0.12 h"``, or "not measured").
        """
        import pandas as pd

        from .profiles import PROFILES, chapter_parameters, estimated_cost_hours

        rows = {}
        for profile in PROFILES:
            params = {**chapter_parameters(self.name, profile), **{k: self.params[k] for k in self.spec.extras}}
            planned = [hp for group in self.groups() for hp in self.runs(group, params)]
            hours = {d.upper(): estimated_cost_hours(planned, d) for d in ("cpu", "gpu")}
            rows[profile] = {"runs": str(len(planned)),
                             **{d: "not measured" if h is None else f"{h:.2f} h" for d, h in hours.items()}}
        return pd.DataFrame(rows).T.rename_axis("profile").reset_index()

    # ------------------------------------------------------------------------------------ glue, verdicts

    def glue(self, key: str, value) -> None:
        """Glue ``value`` under ``key`` for the Markdown (``{glue:text}`key```), without displaying it.

        Numbers are glued as Python ``int``/``float`` (format them in the role: ``key:.2f``); a
        Matplotlib figure is glued and closed (``{glue:figure}``); text as it is.
        """
        import numbers

        from myst_nb import glue

        if hasattr(value, "savefig"):
            import matplotlib.pyplot as plt

            glue(key, value, display=False)
            plt.close(value)
            return
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value)
        glue(key, value, display=False)

    def verdicts(self, table, tests: Sequence[Test] = (), *, not_run: str | None = None, effects=None, **context):
        """Compute ``tests`` on ``table``, record them for the summary, glue each sentence under its key.

        Args:
            table: the runs' table (or a compression table, for compression tests); or a list of
                ``(table, tests)`` pairs, e.g. ``[(runs, TESTS), (per_seed, RATIO_TESTS)]``: every
                pair is computed, and the rows of all are recorded together, in this order, once.
            tests: the chapter's declared :class:`Test` s (with one table; a test carrying its own
                ``effect``, e.g. of a :func:`~glth_core.book.chapter_verdicts.family`, needs no table
                rows). Only the tests with ``glue=True`` are glued.
            not_run: if given, a test whose treatment or reference arm has no rows in ``table`` (a
                control that the parameters left out) is neither computed nor recorded, and this text
                is glued under its key; if None, such a test raises.
            effects: test key -> an effect computed elsewhere, used for that test instead of the table
                (see :func:`glth_core.book.chapter_verdicts.compute_verdicts`).
            **context: values of the ``{name}`` fields of the comparison labels; ``{model}`` (its
                reader label) and ``{dataset}`` default to the chapter's.

        Returns:
            The verdict rows (:func:`glth_core.book.chapter_verdicts.compute_verdicts`), in the tests' order.
        """
        import pandas as pd

        from .labels import model_label

        defaults = {"dataset": self.params.get("dataset")}
        if "model" in self.params:
            defaults["model"] = model_label(self.params["model"])
        if isinstance(table, list) and tests:
            raise ValueError("give the tests inside the (table, tests) pairs, or one table and its tests, not both")
        pairs = table if isinstance(table, list) else [(table, tests)]
        parts = []
        for table, tests in pairs:
            if not_run is not None:
                missing = [t for t in tests if t.kind == "difference" and t.effect is None
                           and t.key not in (effects or {}) and not {t.treatment, t.reference} <= set(table[t.arm])]
                for test in missing:
                    self.glue(test.key, not_run)
                tests = [t for t in tests if t not in missing]
            parts.append(compute_verdicts(table, tests, chapter=self.name, effects=effects, **{**defaults, **context}))
        rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        keys = list(rows.key)
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicated Test keys: {sorted({k for k in keys if keys.count(k) > 1})}")
        record_verdicts(self.name, rows, profile=self.profile, smoke=self.smoke, results_dir=self.results_dir)
        for row in rows[rows["glue"].astype(bool)].itertuples():
            self.glue(row.key, row.glued_sentence)
        return rows

    @staticmethod
    def show(frame, columns: Sequence[str] | None = None):
        """``frame`` (or its ``columns``) as a Markdown table for the book (text for nbval)."""
        from ..analysis.verdict_tables import MarkdownText, markdown_table

        return MarkdownText(markdown_table(frame if columns is None else frame[list(columns)]))
