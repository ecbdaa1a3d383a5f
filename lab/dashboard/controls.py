"""Control values -> configurations: the dashboard's logic, without widgets (unit-tested).

    values = {"model": "digits-mlp", "quant": "bf16", "batch_sizes": (1, 8, 64), "device": "cpu", "threads": 2}
    configs_from_controls(values)    # three Configs, one per batch size, smallest first
    refusal(values)                  # why this hardware can't run the selection, or None
    option_reasons("cpu")            # {"quant": {"fp8": "...", ...}, "prune_method": {...}} for labels

The controls are the knobs that declare a widget (lab.config.KNOBS, ``widget=``),
named as the knobs are, except ``batch_sizes``: the set of batch sizes the curves
run over (the batch_size knob's 'toggles' widget). Values a control leaves out
take DEFAULTS. What a pruning method fixes (sparsity, fine-tuning) is
lab.config.implied; what this machine can run is lab.support, as when measuring.
"""
from __future__ import annotations

from typing import Iterable

from lab import hardware, support
from lab.cluster import names as device_names
from lab.config import KNOBS, Config, implied
from lab.errors import FieldError
from lab.models import registry

BATCH_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
# The knobs with a widget, in the knobs' order; batch_size becomes the set 'batch_sizes'.
CONTROLS = tuple("batch_sizes" if k == "batch_size" else k for k, s in KNOBS.items() if s.widget)
# A knob's default, except where a panel starts elsewhere: a model that measures in a second, three
# batch sizes for a curve, the sparsity slider at 0.5 (it is disabled while pruning is 'none').
DEFAULTS = {**{k: KNOBS[k].default for k in CONTROLS if k in KNOBS},
            "model": "digits-mlp", "batch_sizes": (1, 8, 64), "sparsity": 0.5}
SPARSITY_MAX = KNOBS["sparsity"].widget_max
SPARSITY_STEP = KNOBS["sparsity"].step
FINETUNE_MAX = int(KNOBS["finetune_epochs"].widget_max)  # the widget's range; Config allows more


def merged(values: dict) -> dict:
    """DEFAULTS overlaid with ``values``; an unknown control name is a FieldError naming it."""
    unknown = [k for k in values if k not in DEFAULTS]
    if unknown:
        raise FieldError(unknown[0], values[unknown[0]], "a dashboard control: one of " + ", ".join(CONTROLS))
    return {**DEFAULTS, **values}


def whole_numbers(field: str, value, *, example: str, one: str, low: int | None = None) -> tuple[int, ...]:
    """A control that selects several whole numbers at once (the 'toggles' widget: batch sizes, numbers
    of workers) as a sorted tuple of distinct values; a single number is one value. FieldError naming
    ``field`` otherwise: ``example`` shows the form ('(1, 8, 64)'), ``one`` names one value ('batch
    size'), ``low`` is the least value allowed (None: any; the configuration checks it)."""
    numbers = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(numbers, (str, bytes)) or not isinstance(numbers, Iterable):
        raise FieldError(field, value, f"one or more whole numbers, e.g. {example}")
    numbers = list(numbers)
    if not numbers:
        raise FieldError(field, (), f"at least one {one} (choose one or more)")
    for n in numbers:
        if isinstance(n, bool) or not isinstance(n, int) or (low is not None and n < low):
            raise FieldError(field, value, "whole numbers" + (f" of {low} or more" if low is not None else "")
                             + f", e.g. {example}")
    return tuple(sorted(set(numbers)))


def batch_sizes(value) -> tuple[int, ...]:
    """The batch sizes as a sorted tuple of distinct whole numbers of 1 or more (a single number is one size)."""
    return whole_numbers("batch_sizes", value, example="(1, 8, 64)", one="batch size", low=1)


def effective(values: dict) -> dict:
    """The knob values a selection really means: what the pruning method fixes (lab.config.implied),
    threads only on the CPU (None elsewhere), sparsity rounded to the slider's step
    (0.30000000000000004 -> 0.3: one config, one id)."""
    v = merged(values)
    KNOBS["prune_method"].check(v["prune_method"])
    v.update(implied(v))
    sparsity = v["sparsity"]
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity <= SPARSITY_MAX:
        raise FieldError("sparsity", sparsity, f"a fraction from 0 to {SPARSITY_MAX}")
    v["sparsity"] = round(float(sparsity), 4)
    device = v["device"]
    if isinstance(device, str):
        device = v["device"] = hardware.normalize_device(device)
    if device != "cpu":
        v["threads"] = None
    v["batch_sizes"] = batch_sizes(v["batch_sizes"])
    return v


def configs_from_controls(values: dict) -> list[Config]:
    """One Config per batch size, smallest first (the first point arrives soonest).

    Raises FieldError naming the field for a bad value (an unknown control, no batch size,
    a model that is not registered, threads out of range, ...)."""
    v = effective(values)
    knobs = {k: v[k] for k in CONTROLS if k != "batch_sizes"}
    return [Config(batch_size=size, **knobs) for size in v["batch_sizes"]]


def option_reasons(device: str) -> dict[str, dict[str, str | None]]:
    """For each quant scheme and pruning method: why ``device`` can't run it (one line), or None.
    A cluster node's device ('box/cuda:0') is asked as its kind of device; the node itself has the
    last word when measuring (an error row with its reason)."""
    return support.option_reasons(device_names.split_device(device)[1] if device_names.is_node_device(device)
                                  else device)


def device_options() -> list[str]:
    """The hardware dropdown: this machine's devices, then every cluster node's ('<node>/<device>')
    when a cluster is joined or $LAB_CLUSTER names one (lab.cluster; otherwise Ray is not imported)."""
    from lab.cluster import session

    cluster = session.current()
    return hardware.available_devices() + (cluster.devices() if cluster is not None else [])


def refusal(values: dict) -> str | None:
    """Why this hardware can't run the selection (the reason shown in the panel), or None:
    the same lab.support.why_not that turns such a configuration into an error row when measured."""
    configs = configs_from_controls(values)
    if configs and device_names.is_node_device(configs[0].device):
        return None  # the node answers, as an error row with its reason (this machine can't know)
    return support.why_not(configs[0]) if configs else None


def short_reason(reason: str) -> str:
    """An option label's suffix: the reason without its 'quant=x ' / 'prune_method=x ' prefix, short."""
    text = reason.split(" ", 1)[1] if reason.split(" ", 1)[0].count("=") == 1 else reason
    text = text.split(";")[0]
    return text if len(text) <= 48 else text[:47] + "…"


def device_label(device: str) -> str:
    """'cpu — AMD EPYC 7B13 (2 cores)', 'cuda:0 — NVIDIA H100 80GB HBM3', 'mps — Apple MPS (arm64)'."""
    if device == "cpu":
        return f"cpu — {hardware.cpu_model()} ({hardware.cpu_count()} cores)"
    if device_names.is_node_device(device):
        from lab.cluster import session

        node, local = device_names.split_device(device)
        dev = next((d for d in session.connect().describe(node)["devices"] if d["device"] == local), None)
        if dev is None:  # the node does not list it (anymore): its rows name it 'absent' too (lab.cluster.session)
            return f"{device} — absent (node {node} does not list it)"
        cores = f" ({dev['cores']} cores)" if local == "cpu" and "cores" in dev else ""
        return f"{device} — {dev['name']}{cores}"
    return f"{device} — {hardware.device_name(device)}"


def model_label(name: str) -> str:
    spec = registry.get(name)
    return f"{name} ({spec.metric})" if spec.metric != "accuracy" else name


def describe(config: Config) -> str:
    """One line naming a configuration, for status and error messages."""
    return describe_row(config.to_dict())


def describe_row(row) -> str:
    """One line naming a row's configuration (a dict or pandas Series with the knobs' columns; a Config
    through describe()): what status lines, errors and tooltips name."""
    def get(name, default=None):
        return row_value(row, name, default)

    parts = [str(get("model", "?")), f"batch {int(get('batch_size', 0))}", str(get("quant", "?"))]
    if get("prune_method", "none") != "none":
        parts.append(f"{get('prune_method')} {float(get('sparsity', 0)):g}")
    if get("finetune_epochs", 0):
        parts.append(f"+{int(get('finetune_epochs'))} ep")
    device = str(get("device", "cpu"))
    threads = get("threads")
    parts.append(device + (f"×{int(threads)}" if device == "cpu" and threads is not None else ""))
    if get("compile", False) in (True, "True", "true"):
        parts.append("compiled")
    return " · ".join(parts)


def row_value(row, name: str, default=None):
    """``row[name]`` (a dict or pandas Series), or ``default`` where the row lacks it, it is None, or it is
    NaN (a column other rows filled): what the one-line descriptions of rows read."""
    value = row.get(name, default) if hasattr(row, "get") else default
    return default if value is None or (not isinstance(value, str) and value != value) else value
