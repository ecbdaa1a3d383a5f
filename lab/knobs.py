"""What a knob is: name, type, unit, allowed values or range, default, help — declared once.

The declarations themselves are the fields of ``lab.config.Config``
(``batch_size: int = knob(1, kind=int, low=1, high=..., label="batch size (samples)", ...)``);
this module is the machinery every front end derives from them:

- ``Knob.check(value)``: the validation, raising ``FieldError(field, value, allowed)``;
- ``Knob.parse(text)``: one value from a CLI string (``"on"`` -> True);
- ``Knob.allowed()``: the words every message, flag help and widget tooltip use;
- ``Knob.label``: the axis, legend and widget label, with its unit;
- ``Knob.flag``, ``grid``, ``series``, ``table``, ``baseline``, ``widget``: where the knob appears;
- ``check_fields``: every knob of a config checked at once (each side's ``__post_init__``);
- ``grid_axes``, ``grid_product``: the cartesian product every side's ``grid()`` builds.

Adding a knob is one field in Config (see the README's "Adding a knob").
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Callable, Sequence

from lab.errors import FieldError

REQUIRED = dataclasses.MISSING


@dataclasses.dataclass(frozen=True)
class Knob:
    """One knob.

    name:     the field, column, study key and widget name (the vocabulary's word)
    kind:     int, float, str or bool
    default:  the value when not given (REQUIRED: must be given; None: resolved when the config is made)
    help:     one sentence for --help, tooltips and the column docs
    label:    axis / legend / widget label, with the unit in parentheses where it has one
    choices:  callable -> the allowed values (registries grow at run time), or None
    low, high: the range of a number; ``high_open``: ``high`` itself is not allowed
    flag:     the CLI flag (``--batch``); ``aliases`` more spellings
    late:     added after the first release: left out of config_id at its default, so older rows still match
    grid:     a key of a study's [grid] table (device and seed have top-level keys instead)
    series:   tells one plotted series (or table row) from another
    table:    'always' or 'varying' (shown in paper tables only when it varies), or None
    baseline: a quality baseline holds this knob at its default (fp32, unpruned, width 1, ...)
    widget:   'dropdown', 'slider', 'toggles' (several values at once) or 'checkbox' on the dashboard; None: none
    widget_max: the slider's end where it is narrower than ``high`` (sparsity 0.95, 10 epochs)
    step:     the slider's step (values are rounded to it on the dashboard)
    meaning:  per-value meaning where one word is not enough (what sparsity means for each method)
    allowed_text: what is allowed, in words, where neither choices nor a range says it (device)
    """

    name: str
    kind: type
    default: Any
    help: str
    label: str
    choices: Callable[[], Sequence] | None = None
    low: float | None = None
    high: float | None = None
    high_open: bool = False
    flag: str | None = None
    aliases: tuple[str, ...] = ()
    late: bool = False
    grid: bool = True
    series: bool = True
    table: str | None = "varying"
    baseline: bool = False
    widget: str | None = None
    widget_max: float | None = None
    step: float | None = None
    meaning: dict = dataclasses.field(default_factory=dict)
    allowed_text: str | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        """What this knob accepts, in words (the end of every 'is not allowed' message)."""
        if self.allowed_text is not None:
            return self.allowed_text
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices())
        if self.kind is bool:
            return "true or false"
        if self.kind is int:
            return f"a whole number from {int(self.low)} to {int(self.high)}"
        if self.kind is float:
            if self.high_open:
                return f"a number from {self.low:g} up to (not including) {self.high:g}"
            return f"a number from {self.low:g} to {self.high:g}"
        return f"a {self.kind.__name__}"

    def fail(self, value, allowed: str | None = None):
        raise FieldError(self.name, value, allowed or self.allowed())

    def check(self, value):
        """``value`` if allowed (ints as floats for a float knob); FieldError naming this knob otherwise."""
        if self.kind is bool:
            if not isinstance(value, bool):
                self.fail(value)
            return value
        if self.kind in (int, float):
            number = (int,) if self.kind is int else (int, float)
            if isinstance(value, bool) or not isinstance(value, number) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                self.fail(value)
            if not self.low <= value <= self.high or (self.high_open and value == self.high):
                self.fail(value)
            value = self.kind(value)
        elif not isinstance(value, self.kind):
            self.fail(value)
        if self.choices is not None and value not in self.choices():
            self.fail(value)
        return value

    def parse(self, text: str):
        """One value from its text (a CLI comma list's item); FieldError naming the knob otherwise."""
        text = text.strip()
        try:
            if self.kind is bool:
                lowered = text.lower()
                if lowered in ("on", "true", "yes", "1"):
                    return True
                if lowered in ("off", "false", "no", "0"):
                    return False
                raise ValueError(text)
            return self.kind(text)
        except ValueError:
            allowed = "on or off (true or false)" if self.kind is bool else self.allowed()
            raise FieldError(self.name, text, allowed) from None

    def parse_list(self, text: str) -> list:
        """'a,b,c' -> [a, b, c]; an empty item ('1,,2') or an empty list is refused, naming the knob."""
        items = text.split(",")
        if not text.strip() or any(not item.strip() for item in items):
            raise FieldError(self.name, text, f"a comma list without empty items, each {self.allowed()}")
        return [self.parse(item) for item in items]


def knob(default=REQUIRED, **spec) -> dataclasses.Field:
    """A Config field that declares a knob: ``batch_size: int = knob(1, kind=int, ...)``."""
    return dataclasses.field(default=default, metadata={"knob": spec})


def collect(cls) -> dict[str, Knob]:
    """The Knob of every field of a dataclass declared with ``knob(...)``, in field order."""
    return {f.name: Knob(name=f.name, default=f.default, **f.metadata["knob"])
            for f in dataclasses.fields(cls) if "knob" in f.metadata}


def check_fields(config, declared: dict[str, Knob]) -> None:
    """Check every knob field of a frozen dataclass in place (its ``__post_init__``): each value is
    replaced by what ``Knob.check`` returns; None stays None where None is the knob's default ("unset")."""
    for name, spec in declared.items():
        value = getattr(config, name)
        if value is None and spec.default is None:
            continue
        object.__setattr__(config, name, spec.check(value))


def grid_axes(knobs: dict[str, Any], declared: dict[str, Knob], what: str = "a knob") -> dict[str, list]:
    """The values a grid asked for, each knob's as a list (one value or a list/tuple/range of them).

    Refuses a name that is not in ``declared`` (the message: "``what``: one of ...") and an empty list.
    """
    unknown = [k for k in knobs if k not in declared]
    if unknown:
        raise FieldError(unknown[0], knobs[unknown[0]], f"{what}: one of " + ", ".join(declared))
    axes = {}
    for name, value in knobs.items():
        values = list(value) if isinstance(value, (list, tuple, range)) else [value]
        if not values:
            raise FieldError(name, value, "at least one value")
        axes[name] = values
    return axes


def grid_product(axes: dict[str, list], make: Callable[..., Any],
                 adjust: Callable[[dict], None] | None = None) -> list:
    """``make(**point)`` for every combination of the axes, in the order the lists are nested.

    adjust(point) may change a point in place first (each side's rule for knobs that mean nothing at
    some other knob's value); points that then make equal configs give one, where it first appears.
    """
    configs = []
    for combo in itertools.product(*axes.values()):
        point = dict(zip(axes, combo))
        if adjust is not None:
            adjust(point)
        config = make(**point)
        if config not in configs:
            configs.append(config)
    return configs
