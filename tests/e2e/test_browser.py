"""The live dashboard in a real browser: JupyterLab, Chromium, notebooks/00_tour.ipynb.

What the unit tests of lab/widgets can't see: that the panel renders in JupyterLab,
that a user's clicks and keys reach the kernel, and that the plot redraws. The test
opens the tour, runs all cells, waits for the dashboard's plot, then as a user would:
chooses a pruning method (the sparsity slider is disabled without one), moves the
sparsity slider with the keyboard and picks another quant scheme. It checks that
new points were measured (the panel's point count and table grew), that the plot
image changed, that the panel shows no error, that the browser console logged
none, and that the plot doesn't cover the controls. A screenshot goes to
test-artifacts/browser/00_tour.png (failure.png on failure).

Skipped, saying how to enable it, without Chromium or playwright (see conftest.py).
"""
from __future__ import annotations

import hashlib
import re
import time

import pytest

from lab.config import KNOBS  # the widgets are labelled as the knobs are declared

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = "00_tour.ipynb"
PRUNE_METHOD = "unstructured"
NEW_QUANT = "bf16"  # runs on the CPU, so the panel measures it rather than refusing it
SLIDER_STEPS = 2  # ArrowRight presses: 0.50 -> 0.60 at the slider's 0.05 step
BATCH_SIZES = (1, 16)  # the tour's dashboard in smoke mode: one point per size and selection
# Generous for a shared 2-core machine, but bounded so a hang fails in minutes, not hours.
LOAD_TIMEOUT_MS = 90_000  # the JupyterLab page and its kernel becoming idle
RUN_ALL_TIMEOUT_MS = 180_000  # every cell of the tour in smoke mode, first measurements included
MEASURE_TIMEOUT_MS = 90_000  # one change of the controls: a pruned model, two batch sizes

# The kernel status item of JupyterLab's status bar reads "<kernel name> | <status>".
KERNEL_IDLE = """() => [...document.querySelectorAll("#jp-main-statusbar .jp-StatusBar-TextItem")]
    .some(item => /^(?!No Kernel).+ \\| Idle$/.test(item.textContent.trim()))"""

# The panel's parts, by the CSS classes lab/widgets/ gives them for tests like this one.
DASHBOARD = ".lab-dashboard"
PLOT, POINTS, STATUS, ERROR, TABLE = ".lab-plot", ".lab-points", ".lab-status", ".lab-error", ".lab-table"


def _points(page) -> int:
    text = page.locator(POINTS).inner_text().strip()
    return int(text) if text.isdigit() else 0


def _table_rows(page) -> int:
    return page.locator(f"{TABLE} tbody tr").count()


def _plot_digest(page) -> str:
    """A digest of the PNG the plot shows. The <img> src is a blob: URL that ipywidgets
    revokes when the image changes, so a fetch can lose the race: try again."""
    for _ in range(10):
        digest = page.evaluate("""async (selector) => {
            const img = document.querySelector(selector);
            if (!img || !img.src) return null;
            try {
                const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
                return Array.from(bytes).join(",");
            } catch (e) { return null; }
        }""", PLOT)
        if digest:
            return hashlib.sha256(digest.encode()).hexdigest()
        time.sleep(0.2)
    raise AssertionError(f"could not read the plot image ({PLOT} <img> src)")


def _wait_for_measured(page, points_before: int, quant: str, prune_method: str, sparsity: float) -> int:
    """Wait until the panel is done and its table holds a row per batch size for this selection.

    Naming the configuration, not just "more points", matters for the slider: on a slow
    machine two key presses can land on either side of the debounce, and the panel then
    measures 0.55 before 0.60; the test must wait for the selection it made."""
    page.wait_for_function(
        """([table, status, quant, method, sparsity, want]) => {
            const t = document.querySelector(table + " table");
            if (!t || !(document.querySelector(status)?.textContent || "").startsWith("done")) return false;
            const names = [...t.querySelectorAll("thead th")].map(th => th.textContent.trim());
            const col = name => names.indexOf(name);
            const rows = [...t.querySelectorAll("tbody tr")].map(tr => [...tr.children].map(td => td.textContent.trim()));
            return rows.filter(r => r[col("quant")] === quant && r[col("prune_method")] === method
                                    && Math.abs(parseFloat(r[col("sparsity")]) - sparsity) < 1e-6).length >= want;
        }""", arg=[TABLE, STATUS, quant, prune_method, sparsity, len(BATCH_SIZES)], timeout=MEASURE_TIMEOUT_MS)
    points = _points(page)
    print(f"{quant} · {prune_method} {sparsity:g}: {points_before} -> {points} points; "
          f"status: {page.locator(STATUS).inner_text()}")
    return points


def _assert_controls_uncovered(page) -> None:
    """The plot sits right of the controls, not over them: in an output area narrower than
    both, a plot that won't shrink squeezes the controls' column and hides the slider's
    readout and the dropdowns' reasons under the image."""
    plot_left = page.locator(PLOT).bounding_box()["x"]
    for control in (".lab-sparsity", ".lab-quant"):
        box = page.locator(control).bounding_box()
        assert box["x"] + box["width"] <= plot_left + 1, (
            f"the plot (left edge at {plot_left:.0f} px) covers {control} ({box['x']:.0f}-"
            f"{box['x'] + box['width']:.0f} px)")


def _select_in_dropdown(page, description: str, option: str) -> None:
    """Pick an option of the dashboard dropdown labelled ``description`` (an ipywidgets Dropdown
    is a <select>; its option labels may carry a reason after the name)."""
    select = page.locator(f"{DASHBOARD} .widget-dropdown", has=page.locator(
        "label.widget-label", has_text=re.compile(f"^{re.escape(description)}$"))).locator("select")
    labels = select.locator("option").all_inner_texts()
    assert option in labels, f"{description} dropdown has no option {option!r}: {labels}"
    select.select_option(label=option)


def test_dashboard_measures_what_the_user_turns(jupyter_lab, browser, artifacts):
    console: list[str] = []  # every console message, for the failure report
    errors: list[str] = []  # console errors and uncaught page exceptions
    # A laptop-sized window with the file browser open: the output area is narrower than the
    # controls plus the full-size plot, the case where the plot used to cover the controls.
    page = browser.new_page(viewport={"width": 1600, "height": 1000})

    def on_console(message):
        console.append(f"{message.type}: {message.text}")
        if message.type == "error":
            errors.append(f"console.error: {message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{jupyter_lab['url']}/lab/tree/{NOTEBOOK}?token={jupyter_lab['token']}",
                  timeout=LOAD_TIMEOUT_MS)
        # DESIGN: wait for the kernel status "Idle" before Run All: cells run while the kernel
        # is still connecting are silently skipped. The status bar's "Python 3 (ipykernel) | Idle"
        # is the one to trust; the toolbar's indicator says "idle" even while "No Kernel | Initializing".
        page.wait_for_function(KERNEL_IDLE, timeout=LOAD_TIMEOUT_MS)

        page.get_by_role("menubar").get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

        page.wait_for_selector(f"{PLOT}[src]", state="visible", timeout=RUN_ALL_TIMEOUT_MS)
        # All cells ran when every code cell shows its execution count ("[*]" while queued)
        # and the kernel is idle. Controls changed before that would queue behind the
        # notebook's own sweep in the kernel.
        page.wait_for_function(
            f"""() => {{
                const prompts = [...document.querySelectorAll(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt")];
                return ({KERNEL_IDLE})() && prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }}""", timeout=RUN_ALL_TIMEOUT_MS)
        points = _wait_for_measured(page, 0, "fp32", "none", 0.0)
        points_before, rows_before, plot_before = points, _table_rows(page), _plot_digest(page)
        page.locator(DASHBOARD).scroll_into_view_if_needed()
        _assert_controls_uncovered(page)

        _select_in_dropdown(page, KNOBS["prune_method"].label, PRUNE_METHOD)
        points = _wait_for_measured(page, points, "fp32", PRUNE_METHOD, 0.5)

        handle = page.locator(".lab-sparsity .noUi-handle")
        handle.focus()
        for _ in range(SLIDER_STEPS):
            handle.press("ArrowRight")
        points = _wait_for_measured(page, points, "fp32", PRUNE_METHOD, 0.6)
        readout = page.locator(".lab-sparsity .widget-readout").inner_text()
        assert readout.strip() == "0.60", f"sparsity slider shows {readout!r} after {SLIDER_STEPS} ArrowRight"

        _select_in_dropdown(page, KNOBS["quant"].label, NEW_QUANT)
        points = _wait_for_measured(page, points, NEW_QUANT, PRUNE_METHOD, 0.6)

        rows_after, plot_after = _table_rows(page), _plot_digest(page)
        assert points > points_before, f"no new points measured: {points_before} -> {points}"
        assert rows_after > rows_before, f"the table did not grow: {rows_before} -> {rows_after} rows"
        assert plot_after != plot_before, "the plot image is the same after three changes of the controls"
        panel_error = page.locator(ERROR).inner_text().strip()
        assert not panel_error, f"the dashboard shows an error: {panel_error}"
        assert not errors, "the browser logged errors:\n" + "\n".join(errors)
        page.screenshot(path=str(artifacts / "00_tour.png"), full_page=True)
    except Exception as exc:
        raise AssertionError(f"{exc}\n\n{_diagnostics(page, artifacts, console, errors, jupyter_lab['log'])}") from exc
    finally:
        page.close()


def _diagnostics(page, artifacts, console: list[str], errors: list[str], server_log) -> str:
    """What CI output needs to explain a failure: a screenshot, the panel's text, the console."""
    lines = []
    try:
        page.screenshot(path=str(artifacts / "failure.png"), full_page=True)
        lines.append(f"screenshot: {artifacts / 'failure.png'}")
    except Exception as exc:  # the page may be gone; the text below still helps
        lines.append(f"no screenshot: {exc}")
    for name, selector in (("status", STATUS), ("points", POINTS), ("panel error", ERROR)):
        try:
            lines.append(f"{name}: {page.locator(selector).first.inner_text(timeout=2_000)!r}")
        except Exception:
            lines.append(f"{name}: (not on the page)")
    lines.append("browser errors:\n  " + "\n  ".join(errors or ["(none)"]))
    lines.append("last console messages:\n  " + "\n  ".join(console[-20:] or ["(none)"]))
    try:
        lines.append("server log (tail):\n" + "\n".join(server_log.read_text(errors="replace").splitlines()[-20:]))
    except OSError:
        pass
    return "\n".join(lines)
