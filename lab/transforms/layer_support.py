"""Which layer types each quantization scheme and prune method acts on, from their registry
entries (``Scheme.layer_types`` / ``PruneMethod.layer_types`` and ``layer_note``): for
``python -m lab models --schemes`` (``rows()``) and the README (``markdown()``)."""
from __future__ import annotations

from lab.transforms import prune, quantize


def rows() -> list[dict]:
    """One dict per scheme, then per prune method: kind ('quant' / 'prune_method'), name,
    layers (the layer types it acts on, comma-separated), leaves (what it leaves, and why)."""
    out = [{"kind": "quant", "name": s.name, "layers": ", ".join(s.layer_types), "leaves": s.layer_note}
           for s in quantize.SCHEMES.values()]
    out += [{"kind": "prune_method", "name": m.name, "layers": ", ".join(m.layer_types) or "none",
             "leaves": m.layer_note} for m in prune.METHODS.values()]
    return out


def markdown() -> str:
    """``rows()`` as a Markdown table."""
    lines = ["| kind | name | layer types it acts on | what it leaves |", "|---|---|---|---|"]
    lines += [f"| {r['kind']} | `{r['name']}` | {r['layers']} | {r['leaves']} |" for r in rows()]
    return "\n".join(lines)
