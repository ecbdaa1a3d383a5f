"""The shipped reference study redraws byte for byte: the SVGs in data/reference/figures were
written by `python -m lab figures data/reference/reference.toml --out data/reference/figures
--format svg`, and drawing them again from data/reference's rows gives the same bytes, each
figure with its sidecar naming the rows drawn."""
import json
from pathlib import Path

import matplotlib
import pytest

from lab import paper

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "data" / "reference" / "reference.toml"
SHIPPED = ROOT / "data" / "reference" / "figures"
PINNED = next(line.split("==")[1].strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line.startswith("matplotlib=="))


@pytest.fixture(scope="module")
def redrawn(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    rows, provenance, scans = paper.from_study(REFERENCE)
    entries = paper.write_figures(rows, out, provenance=provenance, sensitivity=scans, formats=("svg",))
    return out, entries, rows


def test_the_reference_study_has_every_figure(redrawn):
    out, entries, _ = redrawn
    skipped = {e["figure"]: e["skipped"] for e in entries if e["skipped"]}
    assert not skipped
    assert {p.name for p in SHIPPED.glob("*.svg")} == {p.name for p in out.glob("*.svg")}


@pytest.mark.skipif(matplotlib.__version__ != PINNED,
                    reason=f"SVG bytes depend on matplotlib's version: constraints.txt pins {PINNED}")
def test_the_reference_svgs_redraw_byte_for_byte(redrawn):
    out, _, _ = redrawn
    shipped = sorted(SHIPPED.glob("*.svg"))
    assert shipped
    different = [p.name for p in shipped if (out / p.name).read_bytes() != p.read_bytes()]
    assert not different


def test_every_reference_figure_has_its_sidecar_naming_the_rows_drawn(redrawn):
    out, _, rows = redrawn
    ids = set(rows["id"])
    for svg in out.glob("*.svg"):
        card = json.loads(svg.with_suffix(".json").read_text())
        assert card["row_ids"] and set(card["row_ids"]) <= ids or card["figure"] == "sensitivity", svg.name
        assert card["manifest"]["study"] == "reference"
        assert card["study_file"].endswith("reference.toml")
