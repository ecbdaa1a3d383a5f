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

from lab.train.config import GRID_KNOBS, KNOBS, grid

KIND = "training"
KINDS = ("inference", KIND)

# What differs from an inference study; lab.study.spec checks the [grid] and names a bad value's field
# (grid.<knob>, seeds, ...) the same way for both kinds.
GRID = {"knobs": GRID_KNOBS, "example": 'model = ["digits-cnn"]', "noun": "training knob"}
MAKE = grid  # the study's configurations: lab.train.TrainConfig, grid knobs nested as written, then device, seed
FIELD_KNOBS = tuple(KNOBS)  # a FieldError on one of these is the study's grid.<knob>
