"""The PNG of the robustness benchmark (matplotlib, the ``bench`` extra): recall against
threshold per transform family, one line per hasher, and the genuine / impostor
distance histograms. Thresholds are drawn as a fraction of the hash's bits so 64- and
256-bit hashes share an axis."""

from __future__ import annotations

import math

import numpy as np

from .run import HASHERS

COLOURS = {"pdq": "#1f77b4", "pdq-dihedral": "#2ca02c", "phash": "#d62728",
           "phash-256": "#9467bd"}


def _rebin(counts, step: int) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    c = np.concatenate([c, np.zeros(-len(c) % step)])
    return c.reshape(-1, step).sum(axis=1)


def write_plot(figures: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display; must come before pyplot
    import matplotlib.pyplot as plt

    hashers = [h for h in HASHERS if h in figures["families"]]
    families = list(figures["families"][hashers[0]])
    hist_hashers = [h for h in ("pdq", "pdq-dihedral", "phash-256", "phash") if h in hashers]
    panels = len(families) + len(hist_hashers)
    cols = 4
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    axes = axes.ravel()
    target = figures["meta"]["primary_target"]
    for ax, family in zip(axes, families):
        for h in hashers:
            fam = figures["families"][h][family]
            bits = HASHERS[h][0]
            curve = np.array(fam["curve"])
            # pdq-dihedral equals pdq except where a copy is turned or mirrored: dashed
            ax.plot(np.arange(bits + 1) / bits, curve, color=COLOURS[h], lw=1.5,
                    ls="--" if h == "pdq-dihedral" else "-", label=f"{h} ({bits} bits)")
            th = next((g["threshold"] for g in figures["guidance"][h]
                       if g["target_fpr"] == target), None)
            if th is not None:
                ax.plot([th / bits], [curve[th]], "o", color=COLOURS[h], ms=4)
        ax.axvline(31 / 256, color="grey", ls=":", lw=1)
        ax.set_title(f"{family} ({figures['families'][hashers[0]][family]['pairs']} copies)",
                     fontsize=10)
        ax.set_xlim(0, 0.5)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("threshold / hash bits", fontsize=8)
        ax.set_ylabel("recall", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    for ax, h in zip(axes[len(families):], hist_hashers):
        imp = figures["impostors"][h]
        bits = HASHERS[h][0]
        step = 4 if bits > 64 else 1  # PDQ distances are even: 4-bit bins
        edges = np.arange(0, bits + step + 1, step)
        gen, unr = (_rebin(imp[k], step) for k in ("genuine_histogram", "histogram"))
        ax.stairs(gen / max(gen.sum(), 1), edges - 0.5, fill=True, color="#2ca02c", alpha=0.55,
                  label=f"copies ({int(gen.sum()):,})")
        ax.stairs(unr / max(unr.sum(), 1), edges - 0.5, fill=True, color="#d62728", alpha=0.55,
                  label=f"unrelated ({int(unr.sum()):,})")
        ax.set_xlim(-1, bits * 0.75)
        th = next((g["threshold"] for g in figures["guidance"][h]
                   if g["target_fpr"] == target), None)
        if th is not None:
            ax.axvline(th + 0.5, color="black", ls="--", lw=1,
                       label=f"T = {th} (FPR <= {target:g})")
        ax.set_yscale("log")
        ax.set_title(f"{h}: distance histograms", fontsize=10)
        ax.set_xlabel("Hamming distance (bits)", fontsize=8)
        ax.set_ylabel("fraction of pairs", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in axes[panels:]:
        ax.axis("off")
    fig.suptitle(f"tidehash bench robustness: {figures['meta']['sample_short']} "
                 f"(dots: threshold for FPR <= {target:g}; dotted: 31/256)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
