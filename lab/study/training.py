"""Training studies: ``kind = "training"`` in a study file, a [grid] of lab.train's knobs.

    name = "noise-cost"
    kind = "training"
    seeds = [0, 1, 2]              # top level, as for inference studies; repeats too
    [grid]
    model = ["digits-cnn"]
    label_noise = [0.0, 0.2, 0.4]
    target_accuracy = [0.9]

Each grid knob is a lab.train.TrainConfig knob (declared once in lab.train.config); seed and device
are top-level keys. A training study has no [quality] or [sensitivity] section (its quality is the
target accuracy). ``python -m lab sweep`` trains what the store cannot serve (lab.train.TrainBench's
reuse rule), and ``python -m lab figures STUDY.toml`` draws ETA against TTA and the accuracy curves.
"""
from __future__ import annotations

from lab.errors import FieldError
from lab.train.config import GRID_KNOBS, KNOBS, grid

KIND = "training"
KINDS = ("inference", KIND)


def grid_table(check, table) -> dict:
    """The [grid] of a training study, each knob a list; FieldError naming ``grid.<knob>`` otherwise."""
    if not isinstance(table, dict) or not table:
        check.fail("grid", table, 'a [grid] table of training knobs, e.g. model = ["digits-cnn"] (required)')
    for knob, value in table.items():
        if knob in ("device", "seed"):
            check.fail(f"grid.{knob}", value, f"set it at the top level: {knob}{'s' if knob == 'seed' else ''} = ...")
        if knob not in GRID_KNOBS:
            check.fail(f"grid.{knob}", value, "a training knob: one of " + ", ".join(k for k in GRID_KNOBS))
        if isinstance(value, dict):
            check.fail(f"grid.{knob}", value, "a value or a list of values")
    if "model" not in table:
        check.fail("grid.model", None, 'a list of model names (required), e.g. model = ["digits-cnn"]')
    return {knob: check.values(f"grid.{knob}", value, "a list of values") for knob, value in table.items()}


def configs(study) -> list:
    """The study's TrainConfigs: the grid's knobs nested as written, then device, then seed; FieldError
    naming the file and the study's field (``grid.label_noise``, ``seeds``, ...) for a bad value."""
    try:
        return grid(**study.grid, device=list(study.devices), seed=list(study.seeds))
    except FieldError as exc:
        name = {"seed": "seeds", "device": "device"}.get(exc.field, f"grid.{exc.field}" if exc.field in KNOBS
                                                          else exc.field)
        raise FieldError(name, exc.value, exc.allowed, where=str(study.path)) from None
