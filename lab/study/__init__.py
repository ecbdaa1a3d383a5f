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
succeeded and serve the study's budget; only the missing repeats are measured.
A configuration whose latest row in this environment *failed* is not measured
again, in this run or on resume, unless ``force``: a deterministic failure (a
scheme the device lacks, out of memory) would otherwise be re-run on every
resume. Its failed row is listed in the manifest. ``force`` re-measures every repeat.
Summaries (median and interval over repeats, the quality budget) are in lab.summary.
"""
from lab.study.spec import Quality, Sensitivity, Study, load
from lab.study.sweep import MANIFEST, ROWS, load_results, load_sensitivity, run
from lab.summary import DEFAULT_BASELINE, summarize, within_quality_budget

__all__ = ["Study", "Quality", "Sensitivity", "load", "run", "load_results", "load_sensitivity", "summarize",
           "within_quality_budget", "DEFAULT_BASELINE", "MANIFEST", "ROWS"]
