"""Studies: a TOML file names a grid, its repeats and seeds; ``run`` measures it into the store.

    study = lab.study.load("examples/study.toml")
    manifest = lab.study.run(study)                  # resumes: only missing repeats are measured
    df, manifest = lab.study.load_results(study)     # rows.jsonl + manifest.json, no store needed

A study's results directory (default: beside the file, named after its stem, so
``data/reference/digits.toml`` -> ``data/reference/digits/``) holds
``manifest.json`` (resolved settings, environment, times, row ids),
``rows.jsonl`` (every row, self-contained, shippable) and
``sensitivity-<model>.csv`` when a sensitivity scan is asked for.

Resuming: a configuration counts the rows this environment already holds that
the reuse rule serves (lab.bench: same measuring code and model fingerprint, a
budget at least as strict, no error, not contended); only the missing repeats
are measured. A failed configuration gets no further repeats in the run it
failed in, and is tried again by the next run (a stored failure answers
nothing), so a fixed model or evaluation is measured without ``force``. Its
failed rows are listed in the manifest. ``force`` re-measures every repeat.

Your own models: ``setup = "my_models:register"`` (or ``"my_models.py"``, relative
to the study file) registers them before the grid is checked. A study naming a
model not registered in this process still loads, for reading its results;
``run`` refuses it with one line naming ``grid.model``.
Summaries (median and interval over repeats, the quality budget) are in lab.summary.
"""
from lab.study.spec import Quality, Sensitivity, Study, load
from lab.study.sweep import MANIFEST, ROWS, load_results, load_sensitivity, run
from lab.summary import DEFAULT_BASELINE, summarize, within_quality_budget

__all__ = ["Study", "Quality", "Sensitivity", "load", "run", "load_results", "load_sensitivity", "summarize",
           "within_quality_budget", "DEFAULT_BASELINE", "MANIFEST", "ROWS"]
