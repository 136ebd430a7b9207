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


def _box(ax, x, y, w, h, title, detail="", colour="#dddddd"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#555555"))
    ax.text(x + w / 2, y + h / 2 + (0.12 if detail else 0), title, ha="center", va="center", fontsize=10.5,
            weight="bold")
    if detail:
        ax.text(x + w / 2, y + h / 2 - 0.22, detail, ha="center", va="center", fontsize=8.5, color="#333333")


def _arrow(ax, start, end, **style):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, **style))


def attack_as_optimisation(path: Path) -> None:
    """01: the attack trains the image, not the network: the gradient flows back to the pixels."""
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.5, 3.2)
    ax.set_axis_off()
    _box(ax, 0.2, 1.3, 2.2, 1.1, "image x", "trainable; starts as\nnoise or as the cat", "#cfe2f3")
    _box(ax, 3.2, 1.3, 2.2, 1.1, "EfficientNet-Lite0", "frozen weights", "#fde9c9")
    _box(ax, 6.2, 1.3, 1.6, 1.1, "softmax", "y_hat(x)", "#fde9c9")
    _box(ax, 8.5, 1.3, 2.3, 1.1, "loss", "L(y_hat, iguana)\n+ lam ||x - x_cat||^2", "#d9ead3")
    for start, end in [((2.45, 1.85), (3.15, 1.85)), ((5.45, 1.85), (6.15, 1.85)), ((7.85, 1.85), (8.45, 1.85))]:
        _arrow(ax, start, end)
    _arrow(ax, (9.65, 1.25), (1.3, 1.25), connectionstyle="arc3,rad=-0.25", color="#cc0000", ls="--")
    ax.text(5.5, -0.35, "gradient dL/dx: update the pixels, leave the weights alone", ha="center",
            fontsize=9.5, color="#cc0000")
    ax.text(5.5, 2.85, "forward: what does the network think x is?", ha="center", fontsize=9.5)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def pluggable_gradient(path: Path) -> None:
    """02: one attack loop; white box and black box differ only in where the gradient comes from."""
    fig, ax = plt.subplots(figsize=(11, 4.3))
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.7, 3.6)
    ax.set_axis_off()
    _box(ax, 0.2, 1.2, 3.0, 1.3, "pgd(model, x, ...)",
         r"step: $x + \alpha\,\mathrm{sign}(g)$" "\nproject to eps-ball, clamp [0, 1]", "#cfe2f3")
    # What g is: up the true label's loss, or (targeted) down the target's loss, as attack_objective defines it
    ax.text(0.1, 0.85, r"non-targeted: $g = \nabla_x L(x, y_\mathrm{true})$" "\n"
            r"    step up the true label's loss" "\n"
            r"targeted: $g = -\nabla_x L(x, y_\mathrm{target})$, so the step is" "\n"
            r"    $x - \alpha\,\mathrm{sign}(\nabla_x L(x, y_\mathrm{target}))$" "\n"
            r"    step down the target's loss",
            ha="left", va="top", fontsize=9, linespacing=1.6, color="#1f3b73")
    rows = [
        ("autograd_grad", "white box: backprop\n1 forward + 1 backward", "#fde9c9", 2.55),
        ("FiniteDifference", "black box: 2 queries\nper pixel (301,056 on ImageNet)", "#d9ead3", 1.3),
        ("NES", "black box: 2K queries,\nwhatever the image size", "#d9ead3", 0.05),
    ]
    for name, detail, colour, y in rows:
        _box(ax, 4.6, y, 2.8, 1.0, name, detail, colour)
        _arrow(ax, (4.55, y + 0.5), (3.25, 1.85), color="#555555")
    _box(ax, 8.6, 1.2, 2.2, 1.3, "the model", "weights (white box)\nor outputs only", "#eeeeee")
    for _, _, _, y in rows:
        _arrow(ax, (7.45, y + 0.5), (8.55, 1.85), color="#999999", ls=":")
    ax.text(3.9, 3.45, "grad_fn = ...", ha="center", fontsize=9.5, style="italic")
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)



def defenses_map(path: Path) -> None:
    """04: where each defense acts: on the training data, inside the training loss, or beside the model."""
    fig, ax = plt.subplots(figsize=(11, 4.6))
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.1, 5.2)
    ax.set_axis_off()
    ax.text(0.1, 4.75, "training", fontsize=11, weight="bold", color="#555555")
    _box(ax, 0.2, 2.9, 2.4, 1.1, "training data", "(x, y)", "#cfe2f3")
    _box(ax, 3.6, 2.9, 3.2, 1.1, "loss", "L(x,y) + lam L(x_adv,y)  or\nL(x,y) + lam ||f(x) - f(x_adv)||^2",
         "#d9ead3")
    _box(ax, 7.8, 2.9, 2.9, 1.1, "weights W, b", "one optimiser step", "#fde9c9")
    _arrow(ax, (2.65, 3.45), (3.55, 3.45))
    _arrow(ax, (6.85, 3.45), (7.75, 3.45))
    _arrow(ax, (9.25, 4.05), (5.2, 4.05), connectionstyle="arc3,rad=0.2", color="#cc0000", ls="--")
    ax.text(7.2, 4.75, "adversarial training, logit pairing: PGD forges x_adv against\nthe current weights, anew "
            "at every step", ha="center", fontsize=8.5, color="#cc0000")
    ax.text(1.4, 2.55, "+ a fixed set of labelled adversarial\nexamples, forged once against the\nstandard "
            "model (then stale)", ha="center", va="top", fontsize=8.5, color="#7a4d00")
    ax.plot([0, 11], [1.55, 1.55], color="#bbbbbb", lw=0.8)
    ax.text(0.1, 1.3, "use", fontsize=11, weight="bold", color="#555555")
    _box(ax, 0.2, 0.15, 1.9, 0.9, "input x'", "clean or attacked", "#cfe2f3")
    _box(ax, 3.0, 0.15, 2.6, 0.9, "classifier", "late ReLU layer", "#fde9c9")
    _box(ax, 6.5, 0.15, 1.6, 0.9, "label", "", "#fde9c9")
    _box(ax, 8.6, 0.15, 2.2, 0.9, "SafetyNet", "quantized codes + SVM", "#d9ead3")
    _arrow(ax, (2.15, 0.6), (2.95, 0.6))
    _arrow(ax, (5.65, 0.6), (6.45, 0.6))
    _arrow(ax, (4.3, 1.1), (9.7, 1.1), connectionstyle="arc3,rad=-0.2", color="#38761d")
    ax.text(9.7, -0.05, "clean / adversarial: refuse?", ha="center", va="top", fontsize=8.5, color="#38761d")
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def gan_minimax(path: Path) -> None:
    """05: the two players. z -> G -> G(z); a real x or G(z) -> D -> P(real); what each one wants."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    ax.set_xlim(0, 11)
    ax.set_ylim(-0.7, 3.6)
    ax.set_axis_off()
    _box(ax, 0.1, 0.55, 1.7, 0.9, "z ~ N(0, I)", "16 random numbers", "#eeeeee")
    _box(ax, 2.3, 0.55, 1.7, 0.9, "generator G", "transposed convs", "#cfe2f3")
    _box(ax, 4.5, 0.55, 1.7, 0.9, "G(z)", "a fake 16x16 digit", "#cfe2f3")
    _box(ax, 4.5, 2.35, 1.7, 0.9, "x", "a real 16x16 digit", "#d9ead3")
    _box(ax, 6.9, 1.45, 1.8, 0.9, "discriminator D", "strided convs", "#fde9c9")
    _box(ax, 9.2, 1.45, 1.7, 0.9, "D(.) in (0, 1)", "P(input is real)", "#fde9c9")
    for start, end in [((1.85, 1.0), (2.25, 1.0)), ((4.05, 1.0), (4.45, 1.0)), ((6.25, 1.0), (6.85, 1.7)),
                       ((6.25, 2.8), (6.85, 2.1)), ((8.75, 1.9), (9.15, 1.9))]:
        _arrow(ax, start, end)
    _arrow(ax, (10.05, 1.4), (3.15, 0.5), connectionstyle="arc3,rad=-0.12", color="#1f3b73", ls="--")
    ax.text(5.5, -0.65, "min over G, max over D:  E[log D(x)] + E[log(1 - D(G(z)))]", ha="center", fontsize=11,
            color="#1f3b73")
    ax.text(10.05, 3.0, "D: push D(x) -> 1\nand D(G(z)) -> 0", ha="center", fontsize=9, color="#cc7a00")
    ax.text(1.9, 2.6, "G: push D(G(z)) -> 1;\nits only signal is D's gradient (dashed)", ha="center", fontsize=9,
            color="#1f3b73")
    fig.savefig(path, dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def cyclegan_cycle(path: Path) -> None:
    """08: two generators, two discriminators, and the losses that tie them: adversarial, cycle, identity."""
    fig, ax = plt.subplots(figsize=(11, 5.6))
    ax.set_xlim(0, 11)
    ax.set_ylim(-2.0, 5.4)
    ax.set_axis_off()
    rows = [(3.6, True, "horse a", "A", "G", "A -> B", "G(a)", "zebra", "F", "B -> A", "F(G(a))", "D_B", "zebras"),
            (0.0, False, "zebra b", "B", "F", "B -> A", "F(b)", "horse", "G", "A -> B", "G(F(b))", "D_A", "horses")]
    for y, top, src, domain, gen1, map1, mid, kind, gen2, map2, back, disc, real in rows:
        _box(ax, 0.1, y, 1.5, 0.9, src, f"domain {domain}", "#d9ead3")
        _box(ax, 2.1, y, 1.6, 0.9, gen1, map1, "#cfe2f3")
        _box(ax, 4.2, y, 1.5, 0.9, mid, f"a fake {kind}", "#cfe2f3")
        _box(ax, 6.2, y, 1.6, 0.9, gen2, map2, "#cfe2f3")
        _box(ax, 8.3, y, 1.6, 0.9, back, "back again?", "#cfe2f3")
        for x in (1.65, 3.75, 5.75, 7.85):
            _arrow(ax, (x, y + 0.45), (x + 0.4, y + 0.45))
        d_y = y - 1.15 if top else y + 1.3
        _box(ax, 4.2, d_y, 1.5, 0.75, disc, "PatchGAN", "#fde9c9")
        _arrow(ax, (4.95, y - 0.05 if top else y + 0.95), (4.95, d_y + 0.8 if top else d_y - 0.05), color="#cc7a00")
        ax.text(5.9, d_y + 0.38, f"LSGAN: {disc} scores each patch,\nreal {real} -> 1, fakes -> 0",
                fontsize=8.5, color="#cc7a00", va="center")
        _arrow(ax, (9.1, y + 0.95 if top else y - 0.05), (0.85, y + 0.95 if top else y - 0.05),
               connectionstyle=f"arc3,rad={0.12 if top else -0.12}", color="#1f3b73", ls="--")
        ax.text(5.0, y + 1.62 if top else y - 0.95, f"cycle: 10 |{back} - {src[-1]}|_1", ha="center",
                fontsize=9, color="#1f3b73")
    ax.text(5.5, -1.45, "identity: 0.5 x 10 x (|G(b) - b|_1 + |F(a) - a|_1): fed its own target domain, a "
            "generator should leave it alone", ha="center", fontsize=8.5, color="#38761d")
    ax.text(5.5, -1.85, "G, F: c7s1-w, two stride-2 convs, residual blocks, two stride-2 transposed convs, "
            "c7s1-3, instance norm", ha="center", fontsize=8.5, color="#555555")
    fig.savefig(path, dpi=90, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


FIGURES: dict[str, Callable[[Path], None]] = {
    "00_classifier_pipeline.png": classifier_pipeline,
    "01_attack_as_optimisation.png": attack_as_optimisation,
    "02_pluggable_gradient.png": pluggable_gradient,
    "04_defenses_map.png": defenses_map,
    "05_gan_minimax.png": gan_minimax,
    "08_cyclegan.png": cyclegan_cycle,
}


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
