"""The DET plot of ``edged eval openset --plot DIR``: FNIR against FPIR per gallery size (threshold swept,
no margin), unmasked and masked probes, with the shipped operating point marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FLOOR = 1e-4  # log axes: rates of 0 are drawn here


def plot_det(result: dict[str, Any], folder: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    sides = [("unmasked", result, "-")]
    if result.get("masked"):
        sides.append(("masked probes", result["masked"], "--"))
    for name, side, style in sides:
        for colour, (label, det) in zip(colours, side["det"].items(), strict=False):
            size = side["gallery_size"][label]
            fp = [max(x, FLOOR) for x in det["fpir"]]
            fn = [max(x, FLOOR) for x in det["fnir"]]
            ax.plot(fp, fn, style, color=colour, label=f"{name}, N={size}")
            ax.plot(max(side["fpir"][label], FLOOR), max(side["fnir"][label], FLOOR), "o", color=colour, ms=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FPIR (strangers accepted as somebody)")
    ax.set_ylabel("FNIR (enrolled people not accepted as themselves)")
    ax.set_title("open-set LFW; dots: shipped thresholds, no margin")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "openset-det.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
