"""lab.dashboard.files: the rows table's carbon, cost and roofline columns, and the energy note under it."""
from dashboard_rows import costed_rows


def _table(page: str) -> list[dict]:
    """The rows of table_html's <table> as {header: cell text} (pandas.read_html needs lxml, not installed)."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("th", "td"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("th", "td"):
                self.rows[-1].append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(page)
    header, *body = parser.rows
    return [dict(zip(header, row)) for row in body]


def test_the_table_shows_carbon_cost_and_roofline_under_headers_with_units():
    from lab.dashboard.files import table_html

    rows = _table(table_html(costed_rows()))
    assert {"CO2e (g / 1k samples)", "cost (USD / 1M samples)", "roofline (% of attainable)", "energy_source",
            "quant", "energy_mj_per_sample"} <= set(rows[0])
    newest = rows[0]                                            # newest first: bf16, batch 64
    assert (newest["quant"], newest["batch_size"]) == ("bf16", "64")
    assert (newest["CO2e (g / 1k samples)"], newest["cost (USD / 1M samples)"]) == ("0.246", "9.12")
    assert newest["roofline (% of attainable)"] == "40%" and newest["energy_source"] == "estimate"
    assert rows[-1]["roofline (% of attainable)"] == "1%"       # fp32, batch 1: 0.0125


def test_the_energy_assumption_shows_as_one_line_under_the_table_only_when_set():
    from lab.dashboard.files import table_html

    page = table_html(costed_rows())
    assert page.count("lab-energy-note") == 1
    note = page.split("lab-energy-note", 1)[1]
    assert "energy: estimate — 10 W per busy core" in note and "\n" not in note.strip()
    measured = costed_rows().assign(energy_source="rapl", energy_assumption="")
    assert "lab-energy-note" not in table_html(measured)
    long = costed_rows().assign(energy_assumption="x" * 500)
    shown = long.pipe(table_html).split("lab-energy-note", 1)[1]
    assert "…" in shown and "x" * 500 in shown                    # cut in the line, whole in its title
