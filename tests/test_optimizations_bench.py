"""benchmarks/optimizations.py with a fake measure (nothing is timed): every case is bracketed by
fp32 runs, a failed case prints NOT MEASURED, and a missing value is NOT MEASURED, never MET."""
import io

import pytest

from helpers import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("optimizations")


class FakeMeasure:
    """fp32 runs alternate 10 ms and 12 ms at every batch (a machine changing speed), so each case's
    brackets are one of each and its reference is their mean, 11 ms. Every case takes 5.5 ms: a
    speed-up of exactly 2.0 against the mean (2.2 or 1.83 against one bracket alone)."""

    def __init__(self, fail=(), missing=()):
        self.fail, self.missing, self.calls, self.fp32_runs = set(fail), missing, [], {}

    def __call__(self, model, batch, budget, threads, **knobs):
        label = knobs.get("quant") or knobs.get("prune_method") or "fp32"
        self.calls.append((label, batch))
        if not knobs:
            n = self.fp32_runs[batch] = self.fp32_runs.get(batch, -1) + 1
            return {"error": None, "latency_ms_p50": 10.0 if n % 2 == 0 else 12.0, "noisy": False,
                    "model_size_mib": 8.0, "accuracy": 0.98, "finetune_s": None}
        if label in self.fail:
            raise RuntimeError(f"{label} is not supported here")
        row = {"error": None, "latency_ms_p50": 5.5, "noisy": False, "model_size_mib": 2.0, "accuracy": 0.975,
               "finetune_s": 4.0 if knobs.get("finetune_epochs") else None}
        for key in self.missing:
            row.pop(key, None)
        return row


def run(bench, fake, model):
    return bench.compare(model, budget=None, threads=1, log=lambda m: None, measure_fn=fake)


def test_every_case_is_bracketed_by_fp32_runs_and_compared_with_their_mean(bench):
    fake = FakeMeasure()
    result = run(bench, fake, "digits-mlp")
    labels = [label for label, knobs in bench.cases("digits-mlp")]
    # fp32, case 1, fp32, case 2, ..., fp32: each case sits between two reference runs.
    sequence = [label for label, batch in fake.calls if batch == 64]
    assert sequence[0::2] == ["fp32"] * (len(labels) + 1)
    assert len(sequence) == 2 * len(labels) + 1 and "fp32" not in sequence[1::2]
    for case in result["cases"]:
        assert case["error"] is None
        assert case["fp32_bracket_ms_b64"] in ([10.0, 12.0], [12.0, 10.0])
        assert case["fp32_p50_ms_b64"] == pytest.approx(11.0)
        assert case["speedup_b1"] == pytest.approx(2.0) and case["speedup_b64"] == pytest.approx(2.0)
        assert abs(case["bracket_spread_b64"]) == pytest.approx(0.2) or \
            case["bracket_spread_b64"] == pytest.approx(10 / 12 - 1)
    out = io.StringIO()
    bench.print_model(result, out)
    assert "10.000-12.000 ms (+20.0 %)" in out.getvalue() and "12.000-10.000 ms (-16.7 %)" in out.getvalue()


def test_a_failed_case_prints_not_measured_with_its_error_and_the_rest_go_on(bench):
    result = run(bench, FakeMeasure(fail={"int8-dynamic"}), "digits-mlp")
    failed = next(c for c in result["cases"] if c["case"] == "int8-dynamic")
    assert failed["error"] == "RuntimeError: int8-dynamic is not supported here"
    assert all(c["error"] is None for c in result["cases"] if c is not failed)
    out = io.StringIO()
    bench.print_model(result, out)
    assert "NOT MEASURED: RuntimeError: int8-dynamic is not supported here" in out.getvalue()
    targets = bench.check_targets({"digits-mlp": result})
    assert any(t.startswith("NOT MEASURED int8-dynamic speed-up") and "not supported here" in t for t in targets)
    assert any(t.startswith("NOT MEASURED int8-dynamic weights smaller") for t in targets)
    assert any(t.startswith("MET    bf16 speed-up at batch 64 on digits-mlp: 2.00x") for t in targets)


def test_a_missing_value_is_not_measured_never_met(bench):
    cnn = run(bench, FakeMeasure(missing=("accuracy", "finetune_s")), "digits-cnn")
    targets = bench.check_targets({"digits-cnn": cnn}, skipped={"digits-mlp": "no weights"})
    [lost] = [t for t in targets if "accuracy lost" in t]
    assert lost.startswith("NOT MEASURED") and "no accuracy_delta_pts and no finetune_s" in lost
    assert not any(t.startswith("MET") and "accuracy" in t for t in targets)
    assert any(t.startswith("MET    structured 50 % speed-up") for t in targets)
    # A model that was skipped, or a case never run, is NOT MEASURED too, with the reason.
    assert any(t.startswith("NOT MEASURED int8-dynamic speed-up") and "digits-mlp skipped: no weights" in t
               for t in targets)
    # With every value present, the same target is judged: 0.5 points lost in 4 s is MET.
    whole = bench.check_targets({"digits-cnn": run(bench, FakeMeasure(), "digits-cnn")})
    assert any(t.startswith("MET    accuracy lost after fine-tuning on digits-cnn: 0.50 points in 4.0 s")
               for t in whole)


def test_a_failed_reference_bracket_leaves_its_case_not_measured(bench):
    class BrokenSecondReference(FakeMeasure):
        def __call__(self, model, batch, budget, threads, **knobs):
            row = super().__call__(model, batch, budget, threads, **knobs)
            if not knobs and self.fp32_runs[batch] == 1:
                return {"error": "ValueError: out of memory"}
            return row

    result = run(bench, BrokenSecondReference(), "digits-mlp")
    first, second = result["cases"][:2]
    assert first["error"] == second["error"] == "fp32 reference: ValueError: out of memory"
    assert result["cases"][2]["error"] is None
