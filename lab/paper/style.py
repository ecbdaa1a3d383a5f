"""One publication style for every paper figure, and the settings that make output deterministic.

    with paper_style():
        fig = Figure(figsize=figsize("single", panels=2))
        ...
        fig.savefig("f.svg", **save_kwargs("svg"))

Sizes are in inches: SINGLE_COLUMN (3.5 in) fits one column of a two-column
paper (IEEE 3.5 in, ACM 3.33 in), DOUBLE_COLUMN (7.0 in) the full text width.

Determinism: the same data gives the same SVG bytes. Matplotlib otherwise puts
a random salt into SVG element ids, the date and its own version into the
metadata, and picks fonts from whatever is installed. Here the salt is fixed,
dates are dropped, the creator is "Efficiency Lab <version>", and the only font
is DejaVu Sans, which ships inside matplotlib (no system fonts, no LaTeX).

svg.fonttype is "path": glyphs are drawn as outlines, so the SVG looks the same
in every viewer whatever fonts it has (with "none" a viewer without DejaVu Sans
substitutes another font and labels can overflow). The price is a larger file
and text that is not selectable; for a figure checked into a paper repository,
looking identical everywhere matters more. PDFs embed TrueType (fonttype 42),
which publishers' checkers accept (Type 3 fonts are often rejected).
"""
from __future__ import annotations

import contextlib

SINGLE_COLUMN = 3.5   # inches: one column of a two-column layout
DOUBLE_COLUMN = 7.0   # inches: full text width
ASPECT = 0.72         # height / width of one panel: golden-ish (0.618), a little taller so a
                      # long axis label with its unit fits beside a 3.5 in panel
SIZES = {"single": SINGLE_COLUMN, "double": DOUBLE_COLUMN}
PNG_DPI = 300
HASH_SALT = "efficiency-lab-paper"  # fixed: SVG ids are sha256(salt + content)
FONT = "DejaVu Sans"                # bundled with matplotlib, so present everywhere


def creator() -> str:
    """'Efficiency Lab <version>': the fixed Creator written into SVG and PDF metadata."""
    from lab.version import __version__

    return f"Efficiency Lab {__version__}"


def palette() -> list:
    """Seaborn's colour-blind-safe palette (10 colours, RGB tuples)."""
    import seaborn as sns  # lazy: only for the palette and the paper context

    return list(sns.color_palette("colorblind"))


def rc() -> dict:
    """The rcParams of the paper style: seaborn 'paper' context, 'ticks' axes, one bundled font,
    thin lines, the colour-blind palette and the deterministic-output settings."""
    import seaborn as sns
    from cycler import cycler

    params = dict(sns.axes_style("ticks"))
    params.update(sns.plotting_context("paper", font_scale=0.8))  # 7.7 pt labels, 7 pt ticks: column-sized
    params.update({
        # Only the bundled font: seaborn's list starts with Arial, which would make output machine-dependent.
        "font.family": ["sans-serif"], "font.sans-serif": [FONT], "mathtext.fontset": "dejavusans",
        "text.usetex": False,
        "axes.linewidth": 0.6, "lines.linewidth": 1.0, "lines.markersize": 3.5, "patch.linewidth": 0.5,
        "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.minor.width": 0.4, "ytick.minor.width": 0.4,
        "xtick.major.size": 3.0, "ytick.major.size": 3.0, "xtick.minor.size": 1.8, "ytick.minor.size": 1.8,
        "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=palette()),
        "legend.frameon": False, "legend.fontsize": 6.5, "legend.title_fontsize": 7.0,
        "figure.dpi": 100, "savefig.dpi": PNG_DPI,
        # The exact column width is the point: no bbox="tight" cropping; constrained layout instead.
        "savefig.bbox": None, "figure.constrained_layout.use": True,
        "svg.hashsalt": HASH_SALT, "svg.fonttype": "path",
        "pdf.fonttype": 42, "ps.fonttype": 42,
    })
    return params


@contextlib.contextmanager
def paper_style():
    """Apply the paper style inside the block and restore every rcParam afterwards.

    Starts from matplotlib's defaults, so a user's matplotlibrc or an earlier
    plt.style.use cannot change the output.
    """
    import matplotlib as mpl

    with mpl.rc_context():
        mpl.rcdefaults()
        mpl.rcParams.update(rc())
        yield


def figsize(size: str, panels: int = 1) -> tuple[float, float]:
    """(width, height) in inches. single: panels stacked vertically; double: side by side."""
    if size not in SIZES:
        raise ValueError(f"size={size!r} is not allowed: one of {', '.join(SIZES)}")
    width = SIZES[size]
    if size == "single":
        return width, round(width * ASPECT * panels, 3)
    if panels == 1:
        return width, round(width * 0.45, 3)  # a full-width single plot: wide, not golden-tall
    # Side by side: each panel gets width/panels; keep the figure no flatter than 2.6 in.
    return width, round(max(2.6, width / panels * ASPECT), 3)


def grid_figsize(size: str, rows: int, cols: int) -> tuple[float, float]:
    """(width, height) in inches of a ``rows`` x ``cols`` grid of panels at column ``size``: the
    column's width; each row as tall as its panels' width allows, 1.55 to 2.6 in (below 1.55 in a
    long y label with its unit no longer fits beside the ticks). A legend below is added by the caller."""
    if rows == cols == 1:
        return figsize(size, 1)
    figsize(size)  # checks size
    width = SIZES[size]
    panel = max(1.55, min(2.6, width / cols * (ASPECT if cols == 1 else 0.8)))
    return width, round(rows * panel, 3)


def save_kwargs(fmt: str) -> dict:
    """savefig keywords for ``fmt`` with metadata that does not vary between runs.

    svg: no date, fixed creator; pdf: no creation date, fixed creator and producer;
    png: 300 dpi, no 'Software' entry (matplotlib writes its version there).
    """
    if fmt == "svg":
        return {"format": "svg", "metadata": {"Date": None, "Creator": creator()}}
    if fmt == "pdf":
        return {"format": "pdf", "metadata": {"CreationDate": None, "ModDate": None, "Creator": creator(),
                                              "Producer": creator()}}
    if fmt == "png":
        return {"format": "png", "dpi": PNG_DPI, "metadata": {"Software": None}}
    raise ValueError(f"format={fmt!r} is not allowed: pdf, svg or png")
