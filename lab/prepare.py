"""Build and transform a model once per transform group: the same model answers every batch size
and thread count of a sweep.

    cache = PreparedCache()
    prepared = cache.get(config)          # built, pruned, fine-tuned, quantized, compiled: once
    prepared.model, prepared.facts        # the model, and the columns the transforms decide
    prepared.accuracy(evaluate)           # evaluated once per transformed model

A transform group is everything that changes the model: model (and its registration),
width, pruning method and sparsity, fine-tuning, seed, scheme, device and compile. Batch
size and threads don't: they are how the model is run. Accuracy does not depend on them
either, so it is evaluated once per group and reused, with a note saying so.
"""
from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import hashlib
import time

import torch

from lab import code_hash
from lab.config import Config
from lab.errors import Unsupported
from lab.measure import energy, memory
from lab.measure.flops import count_flops
from lab.models import registry
from lab.transforms import finetune, prune, quantize
from lab.transforms import compile as compile_transform

EXAMPLE_BATCH = 8
TRANSFORM_KNOBS = ("model", "width", "prune_method", "sparsity", "finetune_epochs", "seed", "quant", "device",
                   "compile")


@functools.lru_cache(maxsize=8)
def _base_model(spec: registry.ModelSpec, width: float = 1.0) -> torch.nn.Module:
    # Keyed by the spec object, so a model registered again under the same name is built anew.
    # Weights are loaded and hash-checked once per process; each config gets a deep copy.
    return spec.build() if width == 1.0 else spec.build_width(width)


def base_model(name: str, width: float = 1.0) -> torch.nn.Module:
    """The registered model ``name`` as built (shared: deep-copy before changing it)."""
    return _base_model(registry.get(name), width)


@functools.lru_cache(maxsize=32)
def _fingerprint(spec: registry.ModelSpec) -> str:
    digest = hashlib.sha256()
    model = _base_model(spec, 1.0)  # the same cache key as transform()'s call
    digest.update(repr(model).encode())
    for key, tensor in model.state_dict().items():
        digest.update(key.encode())
        if isinstance(tensor, torch.Tensor):
            code_hash.hash_tensor(digest, tensor)
    seen: set[int] = set()
    # The user's own layer classes: a changed forward() with the same submodules is another model.
    for cls in sorted({type(m) for m in model.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        if not cls.__module__.startswith("torch."):
            for name, member in sorted(vars(cls).items()):
                if callable(member) or isinstance(member, (staticmethod, classmethod, property)):
                    digest.update(name.encode())
                    code_hash.hash_callable(digest, getattr(member, "__func__", getattr(member, "fget", member)), seen)
    for fn in (spec.evaluate, spec.make_input, spec.train_data):
        digest.update(b"|")
        code_hash.hash_callable(digest, fn, seen)
    digest.update(repr(spec.prune_ignore).encode())  # what pruning keeps whole is part of the model
    return digest.hexdigest()[:16]


def model_fingerprint(name: str | None) -> str | None:
    """A hash of the model's structure, weights and evaluation code, or None for an unknown name.

    Part of the reuse rule: a model registered again with other weights or code is measured anew."""
    try:
        spec = registry.get(name)
    except (ValueError, TypeError):
        return None
    return _fingerprint(spec)


def to_args(x, device=None, dtype_of=None):
    """A model input (tensor or tuple of tensors) as a tuple of forward() args, moved / cast."""
    args = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    if dtype_of is not None:
        args = tuple(quantize.cast_input(a, dtype_of) for a in args)
    return tuple(a.to(device) for a in args) if device is not None else args


def transform(config: Config, spec: registry.ModelSpec, device: torch.device,
              energy_source: energy.EnergySource) -> tuple[torch.nn.Module, dict]:
    """The configured model and the columns the transforms decide: prune and fine-tune in fp32,
    count what is left, then precision / quantization, then kernels, then compile."""
    facts: dict = {}
    model = copy.deepcopy(_base_model(spec, config.width)).eval().to(device)
    # One example batch for every batch size of the group (tracing, FLOPs per sample, export): 8, not 1,
    # since torch.export specializes a dimension of size 1 and the model must run at any batch size.
    fp32_args = to_args(spec.make_input(EXAMPLE_BATCH), device)
    params_before, flops_before = prune.nonzero_by_type(model), count_flops(model, fp32_args)
    model = prune.prune(model, config.prune_method, config.sparsity, example_input=fp32_args, device=config.device,
                        seed=config.seed, ignored_layers=spec.prune_ignore)
    if config.finetune_epochs:
        if spec.train_data is None:
            raise Unsupported(f"finetune_epochs needs a training split; model {config.model} has none")
        if spec.evaluate is not None:
            facts["accuracy_before_finetune"] = spec.evaluate(model, device, torch.float32)
        started, joules_before = time.perf_counter(), energy_source.read_joules()
        facts.update(finetune.finetune(model, spec.train_data(), config.finetune_epochs, device=config.device,
                                       seed=config.seed))
        facts["finetune_energy_j"] = energy_source.read_joules() - joules_before
        facts["finetune_s"] = time.perf_counter() - started
    facts.update(prune.sparsity_report(model))
    facts["flops"] = count_flops(model, fp32_args)
    facts.update(prune.coverage(params_before, model, flops_before=flops_before, flops_after=facts["flops"]))

    needs_calibration = quantize.get(config.quant).needs_calibration
    calibration = spec.train_data()[0] if needs_calibration and spec.train_data is not None else None
    model = quantize.quantize(model, config.quant, config.device,
                              example_input=to_args(fp32_args, dtype_of=config.quant), calibration=calibration)
    facts.update(quantize.coverage(model))
    model = prune.accelerate(model, config.prune_method, config.device)
    # After the sparse-kernel conversion: 2:4 weights are stored in their compressed form from here on.
    facts["model_size_mib"] = memory.model_size_mib(model)
    if config.compile:
        model = compile_transform.compile_model(model)
    return model, facts



@dataclasses.dataclass
class Prepared:
    """A transformed model and what its transforms decided (``facts``: columns), built once."""

    key: tuple
    spec: registry.ModelSpec
    model: torch.nn.Module
    facts: dict
    accuracy_from: int | None = None  # the batch size of the row that evaluated it
    _accuracy: float | None = None
    uses: int = 0

    def accuracy(self, batch_size: int) -> tuple[float | None, str | None]:
        """(the model's quality metric on held-out data, where it came from), evaluated once."""
        if self.spec.evaluate is None:
            return None, None
        if self.accuracy_from is None:
            device = next((p.device for p in self.model.parameters()), torch.device("cpu"))
            self._accuracy = self.spec.evaluate(self.model, device, quantize.get(self.key[6]).input_dtype)
            self.accuracy_from = batch_size
            return self._accuracy, "evaluated on held-out data"
        return self._accuracy, (f"reused: evaluated on this transformed model for the batch-{self.accuracy_from} "
                                "row (accuracy does not depend on batch size or threads)")


def transform_key(config: Config, spec: registry.ModelSpec) -> tuple:
    """What identifies a transformed model: the spec object (a re-registered model is another) and
    the knobs that change the model (TRANSFORM_KNOBS; quant is at index 6)."""
    return (id(spec),) + tuple(getattr(config, k) for k in TRANSFORM_KNOBS[1:])


class PreparedCache:
    """The last ``size`` transformed models (least recently used goes first): a sweep's batch sizes
    and thread counts reuse one. A Bench keeps one for its lifetime (the dashboard's toggles too)."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: collections.OrderedDict[tuple, Prepared] = collections.OrderedDict()
        self.built = 0  # transforms run (tests, benchmarks)

    def get(self, config: Config, energy_source: energy.EnergySource | None = None) -> Prepared:
        """The transformed model of ``config``'s group: from the cache, else built now (on config.device)."""
        spec = registry.get(config.model)
        key = transform_key(config, spec)
        prepared = self._items.pop(key, None)
        if prepared is None:
            source = energy_source or energy.choose_source(config.device)
            model, facts = transform(config, spec, torch.device(config.device), source)
            prepared = Prepared(key, spec, model, facts)
            self.built += 1
        prepared.uses += 1
        self._items[key] = prepared
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return prepared
