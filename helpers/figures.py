"""The figures in ``images/``, drawn by code. Regenerate them all with ``python -m helpers.figures``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # this module only writes files
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

IMAGES_DIR = Path(__file__).resolve().parent.parent / "images"


def classifier_pipeline(path: Path) -> None:
    """00_setup: photo -> preprocess -> normalization inside the model -> network -> top-5."""
    steps = [
        ("photo", "any size,\nuint8 / float", "#dddddd"),
        ("preprocess", "1x3x224x224\nfloat in [0, 1]", "#cfe2f3"),
        ("Normalize\n(first layer)", "(x - 0.5) / 0.5\nin [-1, 1]", "#fde9c9"),
        ("EfficientNet-\nLite0", "4.7M parameters\n296 tensors", "#fde9c9"),
        ("softmax\ntop-5", "1000 ImageNet\nclasses", "#d9ead3"),
    ]
    fig, ax = plt.subplots(figsize=(11, 2.6))
    ax.set_xlim(0, len(steps) * 2.2)
    ax.set_ylim(0, 2.6)
    ax.set_axis_off()
    for i, (name, detail, colour) in enumerate(steps):
        x = 0.15 + i * 2.2
        ax.add_patch(FancyBboxPatch((x, 0.9), 1.7, 1.2, boxstyle="round,pad=0.05", fc=colour, ec="#555555"))
        ax.text(x + 0.85, 1.5, name, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x + 0.85, 0.55, detail, ha="center", va="center", fontsize=8.5, color="#333333")
        if i:
            ax.add_patch(FancyArrowPatch((x - 0.45, 1.5), (x - 0.05, 1.5), arrowstyle="-|>", mutation_scale=14))
    ax.add_patch(FancyBboxPatch((4.45, 0.05), 4.3, 2.35, boxstyle="round,pad=0.05", fc="none", ec="#cc7a00", ls="--"))
    ax.text(6.6, 2.5, "load_classifier() returns this whole box", ha="center", fontsize=9, color="#cc7a00")
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


FIGURES: dict[str, Callable[[Path], None]] = {"00_classifier_pipeline.png": classifier_pipeline}


def make_figures(out_dir: str | Path = IMAGES_DIR) -> list[Path]:
    """Draw every figure into ``out_dir`` (created if needed); returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, draw in FIGURES.items():
        draw(out / filename)
        written.append(out / filename)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(IMAGES_DIR), help="folder to write into (default: images/)")
    for path in make_figures(parser.parse_args(argv).out):
        print(path)


if __name__ == "__main__":
    main()
