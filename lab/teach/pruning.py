"""Three pruning masks on one weight matrix, and the figures that show what each removes.

    masks(weight, sparsity)            -> {'unstructured': keep, '2:4': keep, 'channels': keep}  (bool, True = kept)
    draw_masks(axes, weight, sparsity) -> the three masks as images on a crop of the matrix
    draw_histograms(ax, weight, mask)  -> the weight histogram before and after

- 'unstructured': the round(sparsity * n) weights of smallest |w| (L1 magnitude) anywhere in the matrix;
- '2:4': in every group of 4 consecutive weights along the input dimension (a row), the 2 of largest
  |w| are kept: always half, whatever ``sparsity`` says (the pattern GPUs' sparse kernels run);
- 'channels': the round(sparsity * rows) whole output rows of smallest L2 norm: the layer really shrinks.

The same sparsity removes the same share of *this* matrix for 'unstructured' and 'channels', but a
removed output channel also removes the next layer's matching input column (lab.transforms.prune's
'structured'), so over a model it removes more than its sparsity says.
"""
from __future__ import annotations

import torch

from lab.errors import FieldError
from lab.plots import palette

SPARSITY_ALLOWED = "a fraction of the weights to remove, from 0 up to (not including) 1"
KINDS = ("unstructured", "2:4", "channels")
TITLES = {"unstructured": "unstructured (smallest |w| anywhere)", "2:4": "2:4 (2 largest of every 4 kept)",
          "channels": "channels (whole rows, smallest L2 norm)"}


def check_sparsity(sparsity) -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) or not 0 <= sparsity < 1:
        raise FieldError("sparsity", sparsity, SPARSITY_ALLOWED)
    return float(sparsity)


def _matrix(weight) -> torch.Tensor:
    w = torch.as_tensor(weight).detach()
    if w.dim() < 2 or w.numel() == 0 or not w.is_floating_point():
        raise FieldError("weight", tuple(w.shape), "a floating-point weight of at least 2 dimensions "
                                                   "(output channels first)")
    return w.float().reshape(w.shape[0], -1)


def masks(weight, sparsity: float) -> dict[str, torch.Tensor]:
    """Boolean keep-masks (True = kept) of ``weight``'s shape, one per kind (KINDS)."""
    sparsity = check_sparsity(sparsity)
    w = _matrix(weight)
    rows, cols = w.shape
    if cols % 4:
        raise FieldError("weight", tuple(torch.as_tensor(weight).shape),
                         "a weight whose input dimension is a multiple of 4 (the 2:4 mask takes groups of 4)")

    unstructured = torch.ones(w.numel(), dtype=torch.bool)
    removed = round(sparsity * w.numel())  # as torch.nn.utils.prune counts: round(amount * n)
    unstructured[w.abs().reshape(-1).argsort(stable=True)[:removed]] = False

    groups = w.abs().reshape(rows, cols // 4, 4)
    two_four = torch.zeros_like(groups, dtype=torch.bool)
    two_four.scatter_(2, groups.topk(2, dim=2).indices, True)

    channels = torch.ones(rows, dtype=torch.bool)
    channels[w.norm(dim=1).argsort(stable=True)[:round(sparsity * rows)]] = False

    shape = torch.as_tensor(weight).shape
    return {"unstructured": unstructured.reshape(shape), "2:4": two_four.reshape(shape),
            "channels": channels[:, None].expand(rows, cols).reshape(shape).clone()}


def removed_fraction(mask: torch.Tensor) -> float:
    return 1.0 - float(mask.float().mean())


def draw_masks(axes, weight, sparsity: float, *, rows: int = 16, cols: int = 32):
    """The three masks on the top-left ``rows`` x ``cols`` crop of ``weight``, one per Axes in ``axes``
    (three of them, in KINDS order): kept weights dark, removed ones pale. Titles give the share of
    the whole layer's weights each removes. Returns ``axes``."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    axes = list(axes)
    if len(axes) != len(KINDS):
        raise FieldError("axes", f"{len(axes)} Axes", f"{len(KINDS)} Axes, one per mask: {', '.join(KINDS)}")
    w = _matrix(weight)
    found = masks(w, sparsity)
    rows, cols = min(rows, w.shape[0]), min(cols, w.shape[1])
    kept_colour, removed_colour = palette()[0], (0.93, 0.93, 0.93)
    cmap = ListedColormap([removed_colour, kept_colour])
    for ax, kind in zip(axes, KINDS):
        mask = found[kind]
        ax.imshow(mask[:rows, :cols].numpy(), cmap=cmap, vmin=0, vmax=1, interpolation="nearest",
                  aspect="equal")
        if kind == "2:4":  # the groups of 4, so the pattern reads
            for x in range(4, cols, 4):
                ax.axvline(x - 0.5, color="black", linewidth=1.0, alpha=0.5)
        ax.set_title(f"{TITLES[kind]}\n{100 * removed_fraction(mask):.1f} % of the layer's weights removed",
                     fontsize="medium")
        ax.set_xlabel(f"input (column; first {cols} of {w.shape[1]})")
        ax.set_ylabel(f"output channel (row; first {rows} of {w.shape[0]})")
    axes[-1].legend(handles=[Patch(color=kept_colour, label="kept"), Patch(color=removed_colour, label="removed (0)")],
                    loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small", frameon=False)
    return axes


def draw_histograms(ax, weight, mask):
    """The histogram of ``weight`` before pruning (filled) and of the weights ``mask`` keeps (outline),
    on the same bins; the removed ones become exact zeros, counted in the legend, not drawn (their
    spike at 0 would flatten the rest). Returns ``ax``."""
    w = _matrix(weight).reshape(-1)
    mask = torch.as_tensor(mask)
    if mask.dtype != torch.bool or mask.numel() != w.numel():
        raise FieldError("mask", tuple(mask.shape), f"a boolean keep-mask of the weight's shape "
                                                    f"{tuple(torch.as_tensor(weight).shape)} (True = kept)")
    mask = mask.reshape(-1)
    before, after = w.numpy(), w[mask].numpy()
    low, high = float(w.min()), float(w.max())
    bins = torch.linspace(low, high, 101).numpy()
    blue, orange = palette()[0], palette()[1]
    removed = w.numel() - len(after)
    ax.hist(before, bins=bins, color=blue, alpha=0.45, label=f"before: all {w.numel():,} weights")
    ax.hist(after, bins=bins, histtype="step", color=orange, linewidth=1.8,
            label=f"after: {len(after):,} kept\n({removed:,} removed, now exactly 0: not drawn)")
    ax.set_xlabel("weight value (real number, as stored in fp32)")
    ax.set_ylabel("weights (count)")
    ax.set_title(f"Weights before and after pruning: {100 * removed / w.numel():.1f} % removed")
    ax.legend(loc="upper right", fontsize="small", framealpha=0.9)
    return ax
