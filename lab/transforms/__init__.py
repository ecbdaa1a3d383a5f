"""Model -> model transforms (precision, pruning, compile). They change models; they never measure."""
from lab.errors import Unsupported

__all__ = ["Unsupported"]
