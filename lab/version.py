"""The lab's version, and the version of its measuring code.

``MEASUREMENT_VERSION`` is part of the identity that decides whether a stored
row may answer a request (lab.bench): bump it whenever a change alters what a
row's numbers mean or how they are measured (the timer, memory, energy, FLOPs,
what a transform does), so rows measured by older code are measured again
instead of being served forever. The README's "Measurement version" section
lists each bump and why.
"""
__version__ = "0.2.0"

# 1: rows before this field existed (lab 0.1.0)
# 2: contention on every row, FLOPs with attention, coverage of transforms, portable memory,
#    ceilings per row, cost without a guessed price, 2:4 size after conversion
# 3: transforms on real architectures (unstructured and int8-dynamic cover GRU / LSTM / attention,
#    structured keeps attention found by structure), coverage flags, minilm on lab.models.bert
MEASUREMENT_VERSION = 3
