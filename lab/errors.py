"""The lab's two exceptions, at the bottom of the import graph so every layer can raise them.

``FieldError`` is bad input: it carries the field, the value and what is allowed,
so the CLI, study files and widgets report it without parsing a message::

    >>> raise FieldError("batch_size", 0, "a whole number from 1 to 1048576")
    FieldError: batch_size=0 is not allowed: a whole number from 1 to 1048576

``Unsupported`` is a transform or device that cannot run here; the row stores
its reason as ``error`` and a sweep goes on.
"""
from __future__ import annotations


class FieldError(ValueError):
    """Bad input for one field. ``str()`` is one line: ``<where>: <field>=<value> is not allowed: <allowed>``.

    field:   the name as the user wrote it (a knob, a CLI flag's knob, ``grid.batch_size`` in a study)
    value:   the value given
    allowed: what would have been accepted, in words
    where:   optional prefix, e.g. the study file's path
    """

    def __init__(self, field: str, value, allowed: str, where: str | None = None):
        self.field, self.value, self.allowed, self.where = field, value, allowed, where
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}{field}={shown} is not allowed: {allowed}")

    def within(self, where: str | None = None, prefix: str = "") -> "FieldError":
        """The same error named inside a container: ``prefix + field`` (``grid.`` + ``batch_size``), in ``where``."""
        return FieldError(prefix + self.field, self.value, self.allowed, where or self.where)


class Unsupported(Exception):
    """This transform or device cannot run here (device, dtype, model); str() is the reason, one line.

    The runner stores it as the row's ``error`` ("unsupported: ...") and the sweep goes on."""
