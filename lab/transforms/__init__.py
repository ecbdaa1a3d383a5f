"""Model -> model transforms (precision, pruning, compile). They change models; they never measure."""
