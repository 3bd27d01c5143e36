"""PNG plots of a peers run: LFW ROC curves of every embedding pipeline, and latency distributions."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edged.peers.bench import Curves

BLOCK_TITLES = {
    "lfw": "LFW image: detect + embed (detection only for SSD)",
    "masked_lfw": "masked LFW probe",
    "mask_photos": "mask photo: detect",
    "video": "portal clip frame: detect",
}


def roc(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, TAR) with "accept if score ≥ t" at every distinct score t, thresholds descending; tied
    scores are one point (pairs with a missed face share the lowest score and are accepted together)."""
    thresholds = np.unique(scores)[::-1]
    gen, imp = np.sort(scores[same]), np.sort(scores[~same])
    tar = (len(gen) - np.searchsorted(gen, thresholds, side="left")) / max(len(gen), 1)
    far = (len(imp) - np.searchsorted(imp, thresholds, side="left")) / max(len(imp), 1)
    return far, tar


def plot_roc(curves: Curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    for label, data, style in (("", curves.lfw, "-"), (" (masked probe)", curves.masked, "--")):
        for i, (name, (scores, same)) in enumerate(sorted(data.items())):
            far, tar = roc(scores, same)
            ax.step(np.maximum(far, 1e-4), tar, style, where="post", color=f"C{i}", label=f"{name}{label}")
    ax.set_xscale("log")
    ax.set_xlim(1e-3 / 3, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.axvline(1e-3, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("false accept rate (impostor pairs accepted)")
    ax.set_ylabel("true accept rate")
    ax.set_title("LFW View 2 pairs: ROC (edged bench peers)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_latency(curves: Curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    blocks = [b for b in BLOCK_TITLES if curves.times.get(b)]
    fig, axes = plt.subplots(len(blocks), 1, figsize=(6.4, 2.0 + 1.6 * len(blocks)), dpi=110, squeeze=False)
    for ax, block in zip(axes[:, 0], blocks, strict=True):
        data = curves.times[block]
        names = sorted(n for n in data if data[n])
        ax.boxplot([data[n] for n in names], orientation="horizontal", showfliers=False)
        ax.set_yticks(range(1, len(names) + 1), names)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(BLOCK_TITLES[block], fontsize=9)
        ax.grid(True, axis="x", which="both", alpha=0.3)
    axes[-1, 0].set_xlabel("milliseconds per call (box: quartiles, whiskers: 1.5 IQR)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(curves: Curves, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    roc_png, latency_png = directory / "peers-roc.png", directory / "peers-latency.png"
    plot_roc(curves, roc_png)
    plot_latency(curves, latency_png)
    return [roc_png, latency_png]
