"""Model -> model transforms (precision, pruning, compile). They change models; they never measure."""


class Unsupported(Exception):
    """This transform cannot run here (device, dtype, model); str() is the reason, one line.

    The runner stores it as the row's ``error`` ("unsupported: ...") and the sweep goes on."""
