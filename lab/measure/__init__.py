"""Measuring: timing, memory, energy, accuracy. No plotting, pandas or widgets here."""
