"""Your own model, first class: ``--import`` on every command, ``setup`` in a study file, the
signatures checked at registration, ``figures`` on rows of a model no longer registered, and the
model's fingerprint in the reuse rule (a changed weight, evaluation or architecture is measured anew;
a failed row is retried once fixed, without --force).

The user's code is a real file written into tmp_path with four tiny models (Conv1d + GRU + LayerNorm,
an LSTM, a transformer whose attention class has an arbitrary name, Conv1d + BatchNorm), all on
random data. Every test but one measures with the fake of tests/conftest.py; one runs the four
models for real with the quick budget.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import lab
from helpers import assert_one_error_line, lines, run_main
from lab import bench as bench_module, study as studies
from lab.models import registry
from lab.store import Store

NAMES = ("user-conv-gru", "user-lstm", "user-blender-transformer", "user-conv-bn")

MODELS = '''\
"""Four tiny classifiers on random data, registered with lab.register_model."""
import torch
from torch import nn

import lab

CHANNELS, STEPS, CLASSES = 4, 12, 3
SEED = 0


def _data(seed, n=48):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, CHANNELS, STEPS, generator=g), torch.randint(0, CLASSES, (n,), generator=g)


class ConvGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(CHANNELS, 8, 3, padding=1)
        self.gru = nn.GRU(8, 16, batch_first=True)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x):  # (n, channels, steps)
        out, _ = self.gru(torch.relu(self.conv(x)).transpose(1, 2))
        return self.head(self.norm(out[:, -1]))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(CHANNELS, 16, batch_first=True)
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x):  # (n, steps, channels)
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class Blender(nn.Module):
    """Multi-head self-attention under a name that says nothing about it."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / (d // self.heads) ** 0.5, dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(n, t, d))


class BlenderTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(CHANNELS, 16)
        self.norm1, self.mix = nn.LayerNorm(16), Blender()
        self.norm2, self.ff = nn.LayerNorm(16), nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16))
        self.head = nn.Linear(16, CLASSES)

    def forward(self, x):  # (n, steps, channels)
        h = self.embed(x)
        h = h + self.mix(self.norm1(h))
        h = h + self.ff(self.norm2(h))
        return self.head(h.mean(1))


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(CHANNELS, 8, 3), nn.BatchNorm1d(8), nn.ReLU(),
                                  nn.Conv1d(8, 8, 3), nn.BatchNorm1d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool1d(1), nn.Flatten())
        self.head = nn.Linear(8, CLASSES)

    def forward(self, x):  # (n, channels, steps)
        return self.head(self.body(x))


def _shaped(x, layout):
    return x if layout == "channels" else x.transpose(1, 2).contiguous()


def _builder(cls):
    def build():
        torch.manual_seed(SEED)
        return cls().eval()
    return build


def _inputs(layout):
    return lambda batch_size: _shaped(torch.randn(batch_size, CHANNELS, STEPS), layout)


def _accuracy(layout):
    def evaluate(model, device, dtype):
        x, y = _data(1)
        with torch.no_grad():
            predicted = model(_shaped(x, layout).to(device, dtype)).argmax(1).cpu()
        return sum(int(p == t) for p, t in zip(predicted, y)) / len(y)  # a generator: nested code
    return evaluate


def _train(layout):
    def train_data():
        x, y = _data(0)
        return _shaped(x, layout), y
    return train_data


def register():
    for name, cls, layout in (("user-conv-gru", ConvGRU, "channels"), ("user-lstm", LSTMClassifier, "steps"),
                              ("user-blender-transformer", BlenderTransformer, "steps"),
                              ("user-conv-bn", ConvBN, "channels")):
        lab.register_model(name, _builder(cls), make_input=_inputs(layout), evaluate=_accuracy(layout),
                           train_data=_train(layout), task="sequence classification (random data)")
'''


@pytest.fixture(autouse=True)
def _forget_user_models():
    """Keep the process-wide registry as other test modules expect it."""
    before = set(registry.names())
    yield
    for name in set(registry.names()) - before:
        registry._REGISTRY.pop(name, None)
    for module in [m for m in sys.modules if m.startswith(("lab_user_", "my_lab_models"))]:
        sys.modules.pop(module)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def models_file(tmp_path) -> Path:
    """The user's file, registering its models when imported."""
    return write(tmp_path / "user" / "my_models.py", MODELS + "\nregister()\n")


@pytest.fixture
def setup_file(tmp_path) -> Path:
    """The same models behind a function (``setup = "...:register"``): importing alone registers nothing."""
    return write(tmp_path / "user" / "model_setup.py", MODELS)


# --- registration: the signatures ----------------------------------------------------------------

def _register(**overrides):
    arguments = dict(name="user-sig", build=nn.Linear(4, 2), make_input=lambda n: torch.randn(n, 4))
    arguments.update(overrides)
    return lab.register_model(**arguments)


def one_argument(model):
    return 1.0


@pytest.mark.parametrize("argument,function,message", [
    ("evaluate", one_argument, "evaluate=<function one_argument> is not allowed: it takes 1 positional argument; "
                               "the lab calls evaluate(model, device, dtype)"),
    ("evaluate", lambda model, device, dtype, *, split: 1.0,
     "evaluate=<function <lambda>> is not allowed: it needs the keyword argument 'split'; "
     "the lab calls evaluate(model, device, dtype)"),
    ("make_input", lambda: torch.randn(1, 4), "make_input=<function <lambda>> is not allowed: it takes 0 positional "
                                              "arguments; the lab calls make_input(batch_size)"),
    ("train_data", one_argument, "train_data=<function one_argument> is not allowed: it takes 1 positional "
                                 "argument; the lab calls train_data()"),
    ("build", lambda width: nn.Linear(4, 2), "build=<function <lambda>> is not allowed: it takes 1 positional "
                                             "argument; the lab calls build()"),
    ("evaluate", "accuracy", "evaluate='accuracy' is not allowed: a function the lab calls as "
                             "evaluate(model, device, dtype)"),
])
def test_a_function_the_lab_cannot_call_is_refused_at_registration(argument, function, message):
    with pytest.raises(ValueError) as info:
        _register(**{argument: function})
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value) and " at 0x" not in str(info.value)
    assert "user-sig" not in registry.names()  # nothing half-registered


def test_functions_the_lab_can_call_are_accepted():
    class Evaluator:
        def __call__(self, model, device, dtype=torch.float32):
            return 0.5

    _register(evaluate=lambda model, device, dtype, extra=1: 0.5, train_data=lambda *args: (None, None))
    _register(evaluate=Evaluator(), make_input=lambda batch_size, seed=0: torch.randn(batch_size, 4))
    assert registry.get("user-sig").evaluate(None, None, None) == 0.5


def test_the_documented_signatures_are_in_the_docstring():
    doc = lab.register_model.__doc__
    for call in ("evaluate(model, device: torch.device, dtype: torch.dtype) -> float",
                 "make_input(batch_size: int) -> Tensor", "train_data() -> (X, y)"):
        assert call in doc


# --- --import on every command --------------------------------------------------------------------

def test_import_a_file_then_run_and_list_the_models(models_file, fake_measure):
    code, out, err = run_main(["run", "--import", models_file, "--model", ",".join(NAMES), "--batch", "1,4",
                               "--threads", "1", "--quick"])
    assert code == 0, err
    assert [c.model for c in fake_measure.calls] == [n for n in NAMES for _ in (1, 4)]
    assert [line.split()[0] for line in lines(out)[1:]] == [n for n in NAMES for _ in (1, 4)]
    stored = Store().rows()
    assert len(stored) == 8 and all(r["model_fingerprint"] for r in stored)

    code, out, err = run_main(["models", "--import", models_file, "--format", "json"])
    assert code == 0, err
    listed = {m["model"]: m for m in json.loads(out)}
    for name in NAMES:
        assert listed[name]["params"] == sum(p.numel() for p in registry.get(name).build().parameters())
    assert listed["user-conv-gru"]["params"] == (4 * 8 * 3 + 8) + 3 * (8 * 16 + 16 * 16 + 2 * 16) + 2 * 16 + 16 * 3 + 3


def test_import_a_module_from_the_current_directory_with_a_function(tmp_path, monkeypatch, fake_measure):
    write(tmp_path / "work" / "my_lab_models.py", MODELS)
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path / "work"))])
    code, out, err = run_main(["run", "--model", "user-lstm", "--import", "my_lab_models:register", "--quick",
                               "--threads", "1"])
    assert code == 0, err
    assert [c.model for c in fake_measure.calls] == ["user-lstm"]


def test_without_import_a_user_model_is_one_line_that_says_how(models_file):
    code, out, err = run_main(["run", "--model", "user-conv-gru", "--quick"])
    assert_one_error_line(code, out, err, "model", "user-conv-gru", "one of")


BROKEN = "raise RuntimeError('the user module is broken')\n"


@pytest.mark.parametrize("command", [
    ["env"], ["models"], ["run", "--model", "digits-mlp", "--quick"], ["sweep", "{study}"],
    ["export", "--out", "{tmp}/x.csv"], ["figures", "{study}", "--out", "{tmp}/figures"],
], ids=lambda c: c[0])
def test_every_command_runs_the_import_first(tmp_path, command, fake_measure):
    broken = write(tmp_path / "broken.py", BROKEN)
    study = write(tmp_path / "s.toml", 'name = "s"\n[grid]\nmodel = ["digits-mlp"]\n')
    argv = [part.format(study=study, tmp=tmp_path) for part in command] + ["--import", str(broken)]
    code, out, err = run_main(argv)
    assert_one_error_line(code, out, err, "import=", "broken.py", "RuntimeError: the user module is broken")
    assert fake_measure.calls == []


@pytest.mark.parametrize("spec,words", [
    ("{tmp}/missing.py", ("import=", "no such file")),
    ("my_models_nowhere_to_be_found", ("import=", "ModuleNotFoundError")),
    ("{models}:no_such_function", ("import=", "no function 'no_such_function'")),
    ("{syntax}", ("import=", "SyntaxError")),
])
def test_a_bad_import_is_one_line(tmp_path, models_file, spec, words):
    syntax = write(tmp_path / "syntax.py", "def broken(:\n")
    code, out, err = run_main(["models", "--import", spec.format(tmp=tmp_path, models=models_file, syntax=syntax)])
    assert_one_error_line(code, out, err, *words)


def test_import_runs_the_file_anew_each_time(tmp_path):
    path = write(tmp_path / "grows.py", "import lab, torch\nlab.register_model('user-a', torch.nn.Linear(2, 2), "
                                        "make_input=lambda n: torch.randn(n, 2))\n")
    assert registry.import_models(str(path)) == ["user-a"]
    path.write_text(path.read_text() + "lab.register_model('user-b', torch.nn.Linear(2, 3), "
                                       "make_input=lambda n: torch.randn(n, 2))\n")
    assert registry.import_models(str(path)) == ["user-a", "user-b"]
    assert registry.get("user-b").build().out_features == 3
    assert not (tmp_path / "__pycache__").exists()  # nothing written beside the user's file


# --- a study file's setup ---------------------------------------------------------------------------

STUDY = """\
name = "mine"
setup = "{setup}"
repeats = 2
budget = "quick"
[grid]
model = ["user-conv-gru", "user-blender-transformer"]
batch_size = [1, 4]
threads = [1]
[quality]
max_drop = 0.05
"""


def test_a_study_with_setup_sweeps_the_users_models_then_figures_draw_them_unregistered(
        tmp_path, setup_file, fake_measure, monkeypatch):
    study = write(tmp_path / "user" / "mine.toml", STUDY.format(setup="model_setup.py:register"))
    monkeypatch.chdir(tmp_path)  # the setup path is relative to the study file, not to here
    code, out, err = run_main(["sweep", study])
    assert code == 0, err
    assert sorted({c.model for c in fake_measure.calls}) == ["user-blender-transformer", "user-conv-gru"]
    assert len(fake_measure.calls) == 2 * 2 * 2
    manifest = json.loads((tmp_path / "user" / "mine" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["resolved"]["setup"] == "model_setup.py:register"

    # The same results, drawn with the models not registered: the setup line gone, nothing imported.
    for name in NAMES:
        registry._REGISTRY.pop(name, None)
    plain = write(tmp_path / "user" / "plain.toml", STUDY.replace('setup = "{setup}"\n', ""))
    assert "user-conv-gru" not in registry.names()
    code, out, err = run_main(["figures", plain, "--results", tmp_path / "user" / "mine", "--out", tmp_path / "figs",
                               "--size", "single", "--format", "svg"])
    assert code == 0, err
    written = [Path(line) for line in lines(out)]
    assert any(p.name == "accuracy-latency-single.svg" for p in written), out
    assert all(p.exists() for p in written)
    table = (tmp_path / "figs" / "results.md").read_text()
    assert "user-conv-gru" in table and "user-blender-transformer" in table
    assert "user-conv-gru" not in registry.names()  # figures measured nothing and registered nothing
    code, out, err = run_main(["figures", "--store", Store().path, "--out", tmp_path / "from-store", "--size", "single",
                               "--format", "svg"])
    assert code == 0, err
    assert "user-blender-transformer" in (tmp_path / "from-store" / "results.md").read_text()

    # Measuring that study is another matter: one line naming grid.model (not sensitivity.models).
    both = write(tmp_path / "user" / "both.toml", plain.read_text() + '[sensitivity]\nmodels = ["user-conv-gru"]\n')
    fake_measure.calls.clear()
    code, out, err = run_main(["sweep", both])
    assert_one_error_line(code, out, err, "grid.model='user-conv-gru' is not allowed", "setup =")
    assert fake_measure.calls == []


def test_a_study_setup_module_beside_the_study_file(tmp_path, monkeypatch):
    write(tmp_path / "user" / "my_lab_models_beside.py", MODELS)
    study = write(tmp_path / "user" / "beside.toml", STUDY.format(setup="my_lab_models_beside:register"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # import_models adds the study's directory
    loaded = studies.load(study)
    assert {c.model for c in loaded.configs()} == {"user-conv-gru", "user-blender-transformer"}
    assert str((tmp_path / "user").resolve()) in sys.path


@pytest.mark.parametrize("setup,words", [
    ("missing.py", ("setup='missing.py' is not allowed", "no such file")),
    ("model_setup.py:nothing_here", ("setup='model_setup.py:nothing_here'", "no function 'nothing_here'")),
    ("", ("setup=''", "module:function")),
])
def test_a_bad_setup_is_one_line_naming_the_file_and_setup(tmp_path, setup_file, setup, words):
    study = write(tmp_path / "user" / "bad.toml", STUDY.format(setup=setup))
    with pytest.raises(ValueError) as info:
        studies.load(study)
    message = str(info.value)
    assert message.startswith(f"{study}: ") and "\n" not in message
    for word in words:
        assert word in message


# --- the fingerprint decides reuse ----------------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return Net().eval()


def _served(bench: lab.Bench, name: str) -> bool:
    return bench.row(lab.Config(model=name, threads=1))["from_store"]


def test_a_changed_weight_is_measured_anew_and_an_identical_model_is_not(fake_measure):
    inputs = lambda n: torch.randn(n, 4)  # noqa: E731
    lab.register_model("user-fp", _net(), make_input=inputs)
    bench = lab.Bench()
    assert not _served(bench, "user-fp")
    lab.register_model("user-fp", _net(), make_input=inputs)  # registered again, the same model
    assert _served(bench, "user-fp")
    changed = _net()
    with torch.no_grad():
        changed.fc.weight[0, 0] += 1e-3
    lab.register_model("user-fp", changed, make_input=inputs)
    assert not _served(bench, "user-fp")
    assert len(fake_measure.calls) == 2


def _evaluate_argmax(model, device, dtype):
    return float(model(torch.ones(2, 4, device=device, dtype=dtype)).argmax(1).float().mean())


def _evaluate_argmin(model, device, dtype):  # the same bytecode; only the method name differs
    return float(model(torch.ones(2, 4, device=device, dtype=dtype)).argmin(1).float().mean())


def test_a_changed_evaluate_is_measured_anew(fake_measure):
    inputs = lambda n: torch.randn(n, 4)  # noqa: E731
    bench = lab.Bench()
    lab.register_model("user-eval", _net(), make_input=inputs, evaluate=_evaluate_argmax)
    assert not _served(bench, "user-eval")
    lab.register_model("user-eval", _net(), make_input=inputs, evaluate=_evaluate_argmax)
    assert _served(bench, "user-eval")
    lab.register_model("user-eval", _net(), make_input=inputs, evaluate=_evaluate_argmin)
    assert not _served(bench, "user-eval")


def test_a_file_imported_again_unchanged_is_served_and_an_edited_one_is_not(tmp_path, fake_measure):
    """Across imports (as across processes) the same code gives the same fingerprint, even with the
    generator expression in evaluate and the closures; an edit to evaluate, or to a layer's forward
    with the same submodules and weights (a different architecture under the same name), does not."""
    path = write(tmp_path / "my_models.py", MODELS + "\nregister()\n")
    registry.import_models(str(path))
    bench = lab.Bench()
    for name in NAMES:
        assert not _served(bench, name)
    registry.import_models(str(path))
    assert all(_served(bench, name) for name in NAMES)

    # evaluate scores the first 47 samples instead of 48: one constant in nested code
    path.write_text(MODELS.replace("zip(predicted, y)) / len(y)", "zip(predicted[:47], y)) / 47") + "\nregister()\n")
    registry.import_models(str(path))
    assert not any(_served(bench, name) for name in NAMES)

    # the attention class's forward changed (no scaling), submodules and weights the same
    before = lab.prepare.model_fingerprint("user-blender-transformer")
    old_model = registry.get("user-blender-transformer").build()
    path.write_text(path.read_text().replace(" / (d // self.heads) ** 0.5", ""))
    registry.import_models(str(path))
    new_model = registry.get("user-blender-transformer").build()
    assert repr(new_model) == repr(old_model)
    assert all(torch.equal(a, b) for a, b in zip(new_model.state_dict().values(), old_model.state_dict().values()))
    assert lab.prepare.model_fingerprint("user-blender-transformer") != before
    assert not _served(bench, "user-blender-transformer")
    assert _served(bench, "user-conv-gru")  # the other models did not change


def test_a_different_architecture_under_the_same_name_is_measured_anew(fake_measure):
    inputs = lambda n: torch.randn(n, 4)  # noqa: E731
    bench = lab.Bench()
    lab.register_model("user-arch", _net(), make_input=inputs)
    assert not _served(bench, "user-arch")
    torch.manual_seed(0)
    lab.register_model("user-arch", nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval(), make_input=inputs)
    assert not _served(bench, "user-arch")


# --- a failed row is retried once fixed, without --force -----------------------------------------

BUGGY = "        return sum(int(p == t) for p, t in zip(predicted, y)) / len(y)  # a generator: nested code"


def _measure_calling_evaluate(config, budget, **_):
    """A fake measure that runs the user's evaluate, as the real one does (and fails as it would)."""
    spec = registry.get(config.model)
    return {"latency_ms_p50": 1.0, "accuracy": spec.evaluate(spec.build(), torch.device("cpu"), torch.float32)}


def test_a_row_failed_in_evaluate_is_measured_again_once_evaluate_is_fixed(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_module, "default_measure", _measure_calling_evaluate)
    path = write(tmp_path / "my_models.py", MODELS.replace(BUGGY, "        return predicted.accuracy()")
                 + "\nregister()\n")
    argv = ["run", "--import", path, "--model", "user-conv-bn", "--threads", "1", "--quick"]
    code, out, err = run_main(argv)
    assert code == 1 and "1 of 1 configurations failed" in err
    assert "AttributeError" in Store().rows()[0]["error"]

    path.write_text(MODELS + "\nregister()\n")  # fixed; no --force
    code, out, err = run_main(argv)
    assert code == 0, err
    rows = Store().rows()
    assert len(rows) == 2 and rows[-1]["error"] is None and 0 <= rows[-1]["accuracy"] <= 1
    assert rows[0]["model_fingerprint"] != rows[-1]["model_fingerprint"]

    code, out, err = run_main(argv)  # and now it is served
    assert code == 0 and "1 of 1 configurations were already in" in err and len(Store()) == 2


def test_a_study_retries_its_failed_configurations_once_the_setup_code_is_fixed(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_module, "default_measure", _measure_calling_evaluate)
    setup = write(tmp_path / "model_setup.py", MODELS.replace(BUGGY, "        raise RuntimeError('not yet')"))
    study = write(tmp_path / "mine.toml", STUDY.format(setup="model_setup.py:register").replace(
        "[quality]\nmax_drop = 0.05\n", ""))
    code, out, err = run_main(["sweep", study])
    assert code == 1 and "4 of 4 configurations failed" in err, err
    setup.write_text(MODELS)
    code, out, err = run_main(["sweep", study])
    assert code == 0, err
    manifest = json.loads((tmp_path / "mine" / "manifest.json").read_text())
    assert [c["failed"] for c in manifest["configs"]] == [0, 0, 0, 0]
    assert [c["measured"] for c in manifest["configs"]] == [2, 2, 2, 2]


# --- one real run of the four models --------------------------------------------------------------

def test_the_four_models_measure_for_real(models_file):
    code, out, err = run_main(["run", "--import", models_file, "--model", ",".join(NAMES), "--batch", "2",
                               "--quant", "fp32,int8-dynamic", "--threads", "1", "--quick", "--format", "json"])
    assert code == 0, err
    rows = [json.loads(line) for line in lines(out)]
    assert [(r["model"], r["quant"]) for r in rows] == [(n, q) for n in NAMES for q in ("fp32", "int8-dynamic")]
    for row in rows:
        assert row["error"] is None, row["error"]
        assert row["latency_ms_p50"] > 0 and 0 <= row["accuracy"] <= 1
        assert row["params"] == sum(p.numel() for p in registry.get(row["model"]).build().parameters())


def test_a_file_may_import_its_sibling_modules_and_a_bad_registration_inside_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    write(tmp_path / "lib" / "user_sibling_helpers.py", "import torch\nWIDTH = 5\n")
    path = write(tmp_path / "lib" / "uses_sibling.py",
                 "import torch, lab\nfrom user_sibling_helpers import WIDTH\n"
                 "lab.register_model('user-sibling', torch.nn.Linear(WIDTH, 2),\n"
                 "                   make_input=lambda n: torch.randn(n, WIDTH))\n"
                 "lab.register_model('user-bad', torch.nn.Linear(2, 2), make_input=lambda n: torch.randn(n, 2),\n"
                 "                   evaluate=lambda model: 1.0)\n")
    code, out, err = run_main(["models", "--import", path])
    assert_one_error_line(code, out, err, "import=", "uses_sibling.py", "failed: ValueError: evaluate=<function "
                          "<lambda>> is not allowed: it takes 1 positional argument")
    assert registry.get("user-sibling").build().in_features == 5  # registered before the bad one
    sys.modules.pop("user_sibling_helpers", None)


def test_python_dash_m_lab_runs_the_import_from_its_own_argv(tmp_path):
    import subprocess

    broken = write(tmp_path / "broken.py", BROKEN)
    proc = subprocess.run([sys.executable, "-m", "lab", "models", "--import", str(broken)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 2 and proc.stdout == ""
    assert lines(proc.stderr) == [f"error: import='{broken}' failed: RuntimeError: the user module is broken"]
