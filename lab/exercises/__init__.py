"""Checks for the notebooks' exercises: the student writes a small function or number, a check cell calls one of these.

    from lab import exercises
    exercises.check_summary_prediction(predicted)   # 01: mean, p50 and p99 of a slow tail
    exercises.check_serving_batch(serving_batch)    # 02: the batch size that keeps a p99 promise
    exercises.check_zero_fraction(zero_fraction)    # 03: the fraction of a tensor's weights that are zero
    exercises.check_scale(int8_scale)               # 04: the symmetric int8 scale of a tensor
    exercises.check_electricity_cost(electricity_usd_per_1m)   # 05: a million inferences' electricity bill
    exercises.check_dominates(dominates)            # 07: Pareto dominance of two configurations
    exercises.check_stall_fraction(stall_fraction)  # 09: the share of a loop's time spent waiting for data
    exercises.check_energy_to_accuracy(energy_to_accuracy)     # 10: energy-to-accuracy from a training curve

Each check calls the student's code on a few fixed cases, compares the answer with the lab's own
(lab.teach, lab.measure.timing, lab.costs), prints ``right`` or ``not yet: <why>`` (with a hint where the
wrong answer is a common one) and returns True or False. It never raises: a placeholder that raises
NotImplementedError, a function that crashes or returns the wrong type, all come back as "not yet",
so Run All goes on.
"""
from lab.exercises.arithmetic import check_electricity_cost, check_summary_prediction
from lab.exercises.choices import check_dominates, check_serving_batch
from lab.exercises.data import check_stall_fraction
from lab.exercises.tensors import check_scale, check_zero_fraction
from lab.exercises.training import check_energy_to_accuracy

__all__ = ["check_summary_prediction", "check_serving_batch", "check_zero_fraction", "check_scale",
           "check_electricity_cost", "check_dominates", "check_stall_fraction",
           "check_energy_to_accuracy"]
