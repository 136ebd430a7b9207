"""Bad input to any public helper gives a clear error, or a documented, sensible result: one table.

Every name in the ``__all__`` of every module of ``helpers`` (but ``helpers.homework`` and ``helpers.figures``)
has a row, and so has the main method of each class (``forward`` for a module); constants are listed in
``NOT_CALLABLE``.
A row holds the callable, a builder of valid arguments (fresh at every call: a variant cannot leak into the
next) and its bad variants. A variant changes one argument (``T``: derived from the valid value, e.g. a NaN
poked into it) and either expects a clear error -- the exception type, raised by ``helpers``' own code,
with a message matching a regex that names the parameter -- or is an accepted input whose documented result
is checked. Every outcome is one of: clear, accepted, raw (another exception, or one raised inside torch,
PIL, NumPy...), silent (a result came back for garbage) or mutated (an argument changed). The last three
must not happen; the counts are printed at the end of the run (tests/conftest.py).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import os
import pkgutil
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import helpers
from helpers import attacks, checkpoint, claims, config, cyclegan, cyclegan_eval, data, defenses, detector, digits
from helpers import gan, gan_ablation, gradients, horses, imagenet, latent, linear, margins, metrics, plotting, robustness
from helpers import training, validation, widgets

HELPERS = Path(helpers.__file__).resolve().parent
EXCLUDED_MODULES = {"homework", "figures"}  # the homework tooling, and the figures' generator (a script)
NOT_CALLABLE = {
    "helpers.__version__", "attacks.NORMS", "claims.CLAIMS_FILE_VARIABLE", "claims.OPERATORS",
    "config.DEFAULT_SEED", "config.FAST_MODE_VARIABLE", "config.SEED_STRIDE", "config.SEED_VARIABLE",
    "cyclegan.HISTORY_KEYS", "cyclegan.NORMS", "cyclegan.PAPER_RECIPE", "cyclegan.SMALL_DISCRIMINATOR",
    "cyclegan.SMALL_GENERATOR", "cyclegan.SMALL_RECIPE", "cyclegan_eval.CLASSES", "data.PHOTOS", "digits.SPLITS",
    "gan.BASELINE", "gan.BASELINE_GENERATOR", "gan.BASELINE_STEPS", "gan.G_LOSSES", "gan.G_OPTIMIZERS", "gan.NORMS",
    "gan_ablation.CHANGEABLE",
    "horses.DOMAINS", "horses.HORSE2ZEBRA_URL", "horses.IMAGE_SUFFIXES", "imagenet.DEFAULT_CLASSIFIER",
    "imagenet.FITS", "imagenet.IGUANA", "imagenet.MAX_SIZE", "metrics.CONFIDENCE", "robustness.EPS_LIST",
    "validation.RANGE_TOLERANCE",
}
# Classes whose main method has a row of its own (every nn.Module's forward has one too).
MAIN_METHODS = {
    cyclegan.ImagePool: ["query"], detector.SafetyNetDetector: ["fit", "score"], metrics.DigitsEvaluator: ["evaluate"],
    robustness.RobustnessReport: ["table"], gradients.FiniteDifference: ["__call__"], gradients.NES: ["__call__"],
}


# --------------------------------------------------------------------------------------------------
# The vocabulary of the table


class T:
    """A bad value derived from the valid one, e.g. ``T(lambda x: x * 255)``."""

    def __init__(self, change: Callable[[object], object]):
        self.change = change


def _poke(t: torch.Tensor, value: float) -> torch.Tensor:
    out = t.clone()
    out.view(-1)[0] = value
    return out


NAN, INF = T(lambda t: _poke(t, float("nan"))), T(lambda t: _poke(t, float("inf")))
PIXELS = T(lambda t: t * 255)  # 0..255 where [0, 1] is expected
DOUBLE, FLOAT, LONG = T(lambda t: t.double()), T(lambda t: t.float()), T(lambda t: (t * 255).long())
EMPTY, ONE, GREY = T(lambda t: t[:0]), T(lambda t: t[:1]), T(lambda t: t[:, :1])
SHORTER = T(lambda t: t[:-1])


KINDS = ("nan", "dtype", "shape", "empty", "range", "pair", "type", "value")  # pair: a mismatched pair


@dataclasses.dataclass
class Variant:
    kind: str  # one of KINDS
    arg: str
    value: object
    error: type[Exception] | None = ValueError
    match: str = ""
    check: Callable[[object, dict], None] | None = None  # for an accepted input: asserts its documented result

    def __post_init__(self):
        assert self.kind in KINDS, self.kind


def bad(kind: str, arg: str, value: object, match: str, error: type[Exception] = ValueError) -> Variant:
    """A variant that must raise ``error`` with a message matching ``match``."""
    return Variant(kind, arg, value, error, match)


def ok(kind: str, arg: str, value: object, check: Callable[[object, dict], None]) -> Variant:
    """A variant accepted as documented: ``check(result, args)`` asserts what the documentation says."""
    return Variant(kind, arg, value, None, "", check)


@dataclasses.dataclass
class Row:
    target: object  # the function, class or method (unbound), as found in the module
    args: Callable[[], dict]
    variants: tuple[Variant, ...]
    call: Callable[[dict], object] | None = None  # default: target(**args)
    skip_valid: str = ""  # why the valid call is not run (too slow, needs the network...)

    def run(self, args: dict) -> object:
        return self.call(args) if self.call else self.target(**args)


def row(target, args, *variants, call=None, skip_valid=""):
    return Row(target, args, variants, call, skip_valid)


def method(cls, name, build, args, *variants, skip_valid=""):
    """A row for ``cls.name``: ``build(args)`` makes the object, the rest of ``args`` go to the method."""
    def call(a):
        return getattr(build(a), name)(**{k: v for k, v in a.items() if not k.startswith("_")})
    return Row(getattr(cls, name), args, variants, call, skip_valid)


# --------------------------------------------------------------------------------------------------
# Tiny inputs


def seeded(build: Callable[[], object], seed: int = 0) -> object:
    """``build()`` under its own seed, leaving torch's global generator as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


def net(classes: int = 5, channels: int = 3) -> nn.Module:
    """A tiny CNN: images (N, channels, S, S), S >= 3, -> logits (N, classes)."""
    return seeded(lambda: nn.Sequential(nn.Conv2d(channels, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Linear(4, classes)))


def images(n: int = 2, channels: int = 3, size: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


def labels(*values: int) -> torch.Tensor:
    return torch.tensor(values or (0, 1))


class NaNLogits(nn.Module):
    """A broken classifier: NaN logits (N, 1000) for any images."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return torch.full((len(x), 1000), float("nan")) * self.scale


def generator() -> gan.Generator:
    return seeded(lambda: gan.Generator(4, image_size=8, width=4))


def resnet() -> cyclegan.ResnetGenerator:
    return seeded(lambda: cyclegan.ResnetGenerator(3, width=2, n_blocks=1, n_down=1))


def patch() -> cyclegan.PatchDiscriminator:
    return seeded(lambda: cyclegan.PatchDiscriminator(3, width=2, n_layers=1))


def digits_cnn() -> digits.DigitsCNN:
    return seeded(lambda: digits.DigitsCNN(channels=2, hidden=8))


def fitted_detector() -> detector.SafetyNetDetector:
    clean = images(6, channels=1, size=8)
    adv = (clean + 0.3 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    return detector.SafetyNetDetector(digits_cnn()).fit(clean, adv)


def attack(model, x, y, **kwargs):
    return attacks.pgd(model, x, y, eps=0.1, alpha=0.05, steps=1, **kwargs)


def report(**changes) -> robustness.RobustnessReport:
    spec = robustness.AttackSpec("FGSM", None, iterative=False)
    return dataclasses.replace(robustness.RobustnessReport((0.1,), [spec], clean={"m": 0.9},
                                                           accuracy={"m": {"FGSM": {0.1: 0.5}}}, flags={"m": []},
                                                           worst={"m": {0.1: 0.5}}),
                               **changes)


def prediction() -> list[tuple[str, float]]:
    return [("tabby", 0.6), ("tiger cat", 0.3)]


def eval_results() -> dict[str, dict[str, float]]:
    pair = {"judged_target": 0.5, "iou": 0.9, "cycle_error": 0.1, "baseline": 0.2}
    return {"horse -> zebra": dict(pair), "zebra -> horse": pair | {"truth_distance": 0.1},
            "real images": {"classifier_accuracy": 1.0, "mask_iou_horses": 0.9, "mask_iou_zebras": 0.9}}


class Files:
    """Fresh files and folders under the test's temporary folder (set by the test)."""

    root: Path = Path()
    count = 0

    def path(self, name: str) -> Path:
        Files.count += 1
        folder = self.root / str(self.count)
        folder.mkdir(parents=True)
        return folder / name

    def checkpoint(self, state: object) -> Path:
        path = self.path("state.pt")
        torch.save(state, path)
        return path

    def text(self, content: bytes = b"course") -> Path:
        path = self.path("file.bin")
        path.write_bytes(content)
        return path

    def folders(self, bomb: bool = False) -> Path:
        from PIL import Image

        root = self.path("data")
        for domain in horses.DOMAINS:
            (root / domain).mkdir(parents=True)
            if bomb:  # a tiny file that claims 30,000 x 30,000 pixels
                (root / domain / "bomb.png").write_bytes(_png_header(30000, 30000))
            else:
                Image.new("RGB", (16, 16), (40, 160, 60)).save(root / domain / "grass.png")
        return root

    def archive(self) -> Path:
        path = self.path("horse2zebra.zip")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("horse2zebra/trainA/readme.txt", "a horse")
        return path


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


files = Files()


@contextmanager
def environ(name: str, value: str):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def same_as_float(fn: Callable[[dict], object], arg: str = "x") -> Callable[[object, dict], None]:
    """The documented acceptance of float64 images: converted to float32, the same result as float32 input."""
    def check(result, args):
        expected = fn(args | {arg: args[arg].float()})
        assert result.dtype == torch.float32 and torch.equal(result, expected)
    return check


def is_nan(result, args) -> None:
    """Layers pass NaN through, as torch's own layers do (documented)."""
    outputs = result if isinstance(result, tuple) else (result,)
    assert bool(torch.isnan(outputs[0]).any())


# --------------------------------------------------------------------------------------------------
# The table


PGD = functools.partial(attacks.pgd, eps=0.1, alpha=0.05, steps=1)
X, Y = images, labels
MODEL_NONE = bad("type", "model", None, "model must be a torch.nn.Module", TypeError)

ROWS = [
    # --- attacks
    row(attacks.attacking, lambda: {"model": net()},
        MODEL_NONE, call=lambda a: attacks.attacking(a["model"]).__enter__()),
    row(attacks.attack_objective, lambda: {"model": net(), "y": Y(), "queries": X()[:, None]},
        bad("dtype", "y", Y().float(), "y must hold integer"),
        bad("range", "y", Y(0, 9), r"y must hold class indices in \[0, 5\)"),
        bad("pair", "y", Y(0, 1, 2), r"y must have shape \(2,\)"),
        bad("shape", "queries", X(channels=1)[:, None], "cannot take x"), MODEL_NONE,
        call=lambda a: attacks.attack_objective(a["model"], a["y"], False)(a["queries"])),
    row(attacks.ascent_step, lambda: {"g": torch.randn(2, 3, 6, 6), "alpha": 0.1, "norm": "linf"},
        bad("nan", "g", NAN, "g contains NaN"), bad("dtype", "g", LONG, "g must be a floating"),
        bad("empty", "g", EMPTY, "g is empty"), bad("range", "alpha", -1.0, "alpha must be"),
        bad("value", "norm", "l1", "norm must be one of")),
    row(attacks.project, lambda: {"x_adv": X(seed=1), "x": X(), "eps": 0.1, "norm": "l2"},
        bad("pair", "x_adv", ONE, "x_adv and x must have the same shape"),
        bad("nan", "x_adv", NAN, "x_adv contains NaN"), bad("nan", "eps", float("inf"), "eps must be"),
        bad("value", "norm", "L2", "norm must be one of")),
    row(attacks.fgsm, lambda: {"model": net(), "x": X(), "y": Y(), "eps": 0.1},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"x must have values in \[0, 1\]"),
        ok("dtype", "x", DOUBLE, same_as_float(lambda a: attacks.fgsm(**a))), bad("shape", "x", GREY, "cannot take x"),
        bad("empty", "x", EMPTY, "x is empty"), bad("range", "y", Y(7, 0), r"y must hold class indices in \[0, 5\)"),
        bad("pair", "y", ONE, r"y must have shape \(2,\)"), bad("range", "eps", -1, "eps must be"), MODEL_NONE),
    row(attacks.pgd, lambda: {"model": net(), "x": X(), "y": Y(), "eps": 0.1, "alpha": 0.05, "steps": 2},
        bad("nan", "x", INF, "x contains NaN or infinite"),
        ok("dtype", "x", DOUBLE, same_as_float(lambda a: attacks.pgd(**a))), bad("shape", "x", GREY, "cannot take x"),
        bad("shape", "x", T(lambda x: x[0]), r"x must have shape \(N, C, H, W\)"),
        bad("range", "y", Y(0, 5), r"y must hold class indices in \[0, 5\)"),
        bad("dtype", "y", Y().float(), "y must hold integer"), bad("range", "steps", -1, "steps must be an int >= 0"),
        bad("nan", "alpha", float("nan"), "alpha must be"),
        bad("type", "grad_fn", 3, "grad_fn must be a function", TypeError), MODEL_NONE),
    row(attacks.query_attack,
        lambda: {"model": net(), "x": X(), "y": Y(), "grad_fn": gradients.NES(samples=2), "eps": 0.1, "alpha": 0.05,
                 "max_steps": 1},
        bad("type", "grad_fn", None, "grad_fn must be a function", TypeError),
        bad("range", "y", Y(0, 9), "class indices"), bad("nan", "x", NAN, "x contains NaN"),
        bad("range", "max_steps", -1, "max_steps must be"), MODEL_NONE),
    row(attacks.random_perturbation, lambda: {"x": X(), "eps": 0.1},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]"),
        bad("empty", "x", EMPTY, "x is empty"), bad("range", "eps", -0.1, "eps must be")),
    row(attacks.fooling_image,
        lambda: {"model": net(), "target": 2, "steps": 1, "lr": 0.1, "size": 6, "progress": False},
        bad("range", "target", 5, r"target must be one of the class indices \[0, 5\)"),
        bad("range", "target", -1, "target must be"), bad("nan", "lr", float("inf"), "lr must be"),
        bad("range", "size", 0, "size must be"), bad("range", "size", -1, "size must be"),
        bad("nan", "start", _poke(X(1), float("nan")), "start contains NaN"),
        bad("range", "confidence", 2.0, "confidence must be"), bad("range", "steps", -1, "steps must be"), MODEL_NONE),
    row(attacks.targeted_with_proximity,
        lambda: {"model": net(), "x": X(1), "target": 1, "lam": 0.1, "steps": 1, "progress": False},
        bad("shape", "x", X(2), "one image at a time"), bad("range", "lam", -1.0, "lam must be"),
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "target", 7, "target must be one of the class indices")),
    row(attacks.perturbation_size, lambda: {"x": X(), "x_adv": X(seed=1)},
        bad("range", "x_adv", PIXELS, r"x_adv must have values in \[0, 1\]"), bad("nan", "x", NAN, "x contains NaN"),
        bad("pair", "x_adv", ONE, "x and x_adv must have the same shape"), bad("empty", "x", EMPTY, "x is empty")),
    row(attacks.success_rate, lambda: {"model": net(), "x_adv": X(), "y": Y()},
        bad("range", "y", Y(0, 5), r"y must hold class indices in \[0, 5\)"),
        bad("pair", "y", Y(0, 1, 2), r"y must have shape \(2,\)"), bad("nan", "x_adv", NAN, "x_adv contains NaN"),
        bad("shape", "x_adv", GREY, "cannot take x_adv"),
        ok("shape", "y", 1, lambda r, a: attacks.success_rate(a["model"], a["x_adv"], torch.tensor([1, 1])) == r),
        ok("dtype", "x_adv", DOUBLE, lambda r, a: attacks.success_rate(a["model"], a["x_adv"].float(), a["y"]) == r),
        MODEL_NONE),
    row(attacks.transfer_attack,
        lambda: {"source_model": net(), "target_model": net(), "x": X(), "y": Y(), "attack": PGD},
        bad("type", "attack", None, "attack must be a function", TypeError),
        bad("type", "target_model", None, "target_model must be a torch.nn.Module", TypeError),
        bad("nan", "x", NAN, "x contains NaN"), bad("pair", "y", Y(0, 1, 1), r"y must have shape \(2,\)")),
    row(attacks.robust_accuracy,
        lambda: {"model": net(), "attack": lambda m, x, y, eps: PGD(m, x, y, eps=eps), "data": (X(), Y()),
                 "eps_list": [0.0, 0.1]},
        bad("empty", "eps_list", [], "eps_list is empty"), bad("range", "eps_list", [-1], "eps must be"),
        bad("nan", "data", (X(), Y()[:1]), r"y must have shape \(2,\)"),
        bad("nan", "data", (_poke(X(), float("nan")), Y()), "x contains NaN"),
        bad("empty", "data", [], "data must be one batch"),
        bad("type", "attack", "pgd", "attack must be a function", TypeError)),
    # --- checkpoint
    row(checkpoint.rng_state, dict),
    row(checkpoint.set_rng_state, lambda: {"state": checkpoint.rng_state()},
        bad("value", "state", {}, "state must be what rng_state"),
        bad("type", "state", None, "state must be what rng_state"),
        bad("value", "state", T(lambda s: s | {"numpy": [1]}), "state is not what rng_state")),
    row(checkpoint.save_checkpoint, lambda: {"path": files.path("ck.pt"), "state": {"step": 1}},
        bad("type", "state", [1, 2], "state must be a dict", TypeError),
        bad("type", "path", None, "path must be a file path", TypeError)),
    row(checkpoint.load_checkpoint, lambda: {"path": files.checkpoint({"step": 1})},
        bad("type", "path", T(lambda p: files.checkpoint([1, 2])), "holds a list, not a checkpoint"),
        bad("value", "path", T(lambda p: files.text(b"not torch")), "is not a readable checkpoint"),
        bad("value", "path", T(lambda p: p.with_name("absent.pt")), "no checkpoint at", FileNotFoundError)),
    row(checkpoint.resume_state, lambda: {"path": files.checkpoint({"settings": {"lr": 1}}), "settings": {"lr": 1}},
        bad("type", "settings", None, "settings must be a dict", TypeError),
        bad("pair", "settings", {"lr": 2}, "other settings"),
        bad("type", "code", 123, "code must be a code_fingerprint", TypeError)),
    row(checkpoint.code_fingerprint, lambda: {"objects": (gan.d_loss, gan.Generator)},
        bad("type", "objects", (gan.d_loss, 1), "objects must be functions, classes, modules", TypeError),
        bad("type", "objects", (torch.zeros(2),), "objects must be functions, classes, modules", TypeError),
        call=lambda a: checkpoint.code_fingerprint(*a["objects"])),
    # --- claims
    row(claims.check, lambda: {"name": "accuracy", "value": 0.9, "op": ">", "bound": 0.5, "reference": 0.1},
        bad("value", "op", "==", "op must be one of"),
        bad("type", "value", "high", "value must be a real number", TypeError),
        bad("nan", "bound", float("nan"), "bound and reference must be finite"),
        bad("range", "reference", 0.7, "reference .* must lie below"),
        bad("empty", "name", "", "name must be a non-empty"),
        bad("nan", "value", float("nan"), "claim not met", AssertionError)),
    row(claims.relative_margin, lambda: {"value": 0.9, "op": ">", "bound": 0.5, "reference": 0.1},
        bad("value", "op", "=>", "op must be one of"), bad("pair", "reference", 0.5, "finite and different"),
        ok("nan", "value", float("nan"), lambda r, a: np.isnan(r))),
    # --- config
    row(config.fast_mode, lambda: {"value": "1"},
        bad("value", "value", "maybe", "COURSE_FAST_MODE='maybe' is not understood"),
        call=lambda a: _with_env(config.FAST_MODE_VARIABLE, a["value"], config.fast_mode)),
    row(config.pick, lambda: {"full": 200, "fast": 5},
        ok("type", "full", None, lambda r, a: r in (None, 5))),
    row(config.course_seed, lambda: {"value": "2"},
        bad("range", "value", "-1", "COURSE_SEED='-1' is not understood"),
        bad("type", "value", "two", "is not understood"),
        call=lambda a: _with_env(config.SEED_VARIABLE, a["value"], config.course_seed)),
    row(config.seed, lambda: {"n": 3},
        bad("range", "n", -1, "seed must be an int in"), bad("type", "n", "3", "seed must be an int"),
        bad("range", "n", 2**32, "seed must be an int in")),
    row(config.seed_everything, lambda: {"n": 0},
        bad("type", "n", 1.5, "seed must be an int")),
    row(config.device, dict),
    # --- cyclegan
    row(cyclegan.init_weights, lambda: {"module": nn.Conv2d(3, 3, 3)},
        bad("type", "module", "conv", "module must be", TypeError)),
    row(cyclegan.ResidualBlock, lambda: {"channels": 2},
        bad("range", "channels", 0, "channels must be"), bad("value", "norm", "batch", "norm must be one of")),
    method(cyclegan.ResidualBlock,
        "forward",
        lambda a: cyclegan.ResidualBlock(2),
        lambda: {"x": torch.randn(1, 2, 4, 4)},
        bad("shape", "x", T(lambda x: x[:, :1]), r"x must have shape \(N, 2, H, W\)"),
        bad("type", "x", [1.0], "x must be a torch.Tensor", TypeError), ok("nan", "x", NAN, is_nan)),
    row(cyclegan.ResnetGenerator, lambda: {"channels": 3, "width": 2, "n_blocks": 1},
        bad("range", "width", 0, "width must be"), bad("range", "n_blocks", -1, "n_blocks must be"),
        bad("value", "norm", "batch", "norm must be one of")),
    method(cyclegan.ResnetGenerator, "forward", lambda a: resnet(), lambda: {"x": X(size=8)},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]"),
        bad("shape", "x", X(size=7), "multiples of 2"), bad("shape", "x", GREY, r"x must have shape \(N, 3, H, W\)"),
        bad("empty", "x", EMPTY, "x is empty")),
    row(cyclegan.PatchDiscriminator, lambda: {"channels": 3, "width": 2},
        bad("range", "n_layers", 0, "n_layers must be"), bad("range", "width", 0, "width must be")),
    method(cyclegan.PatchDiscriminator, "forward", lambda a: patch(), lambda: {"x": X(size=16)},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]"),
        bad("shape", "x", GREY, "3 channels")),
    row(cyclegan.receptive_field, lambda: {"model": patch()},
        MODEL_NONE, bad("value", "model", T(lambda m: resnet()), "convolutional .downsampling. models only")),
    row(cyclegan.lsgan_d_loss, lambda: {"real_scores": torch.randn(2, 1, 3, 3), "fake_scores": torch.randn(2, 1, 3, 3)},
        bad("nan", "real_scores", NAN, "real_scores contains NaN"),
        bad("dtype", "fake_scores", LONG, "fake_scores must be a floating"),
        bad("empty", "fake_scores", EMPTY, "fake_scores is empty")),
    row(cyclegan.lsgan_g_loss, lambda: {"fake_scores": torch.randn(2, 1, 3, 3)},
        bad("nan", "fake_scores", INF, "fake_scores contains NaN"),
        bad("dtype", "fake_scores", LONG, "must be a floating"),
        bad("empty", "fake_scores", EMPTY, "fake_scores is empty")),
    row(cyclegan.cycle_loss, lambda: {"reconstruction": X(), "original": X(seed=1)},
        bad("pair", "reconstruction", ONE, "reconstruction and original must have the same shape"),
        bad("range", "lambda_cycle", -1.0, "lambda_cycle must be a finite number >= 0"),
        bad("nan", "original", NAN, "original contains NaN")),
    row(cyclegan.identity_loss, lambda: {"same": X(), "original": X(seed=1)},
        bad("pair", "original", ONE, "same and original must have the same shape"),
        bad("range", "lambda_identity", -0.5, "lambda_identity must be"), bad("nan", "same", NAN, "same contains NaN")),
    row(cyclegan.ImagePool, lambda: {"size": 2},
        bad("range", "size", -1, "size must be"), bad("range", "seed", -1, "seed must be")),
    method(cyclegan.ImagePool, "query", lambda a: _filled_pool(), lambda: {"images": X(3)},
        bad("empty", "images", EMPTY, "images is empty"), bad("shape", "images", X(size=8), "the pool's image shape"),
        bad("nan", "images", NAN, "images contains NaN"),
        bad("shape", "images", T(lambda x: x[0]), "images must have 4 dimensions")),
    row(cyclegan.linear_decay, lambda: {"step": 3, "constant_steps": 2, "decay_steps": 2},
        bad("range", "step", 100, "step must be an int <= 4"),
        bad("range", "decay_steps", -1, "decay_steps must be an int >= 0"), bad("range", "step", -1, "step must be")),
    row(cyclegan.translate, lambda: {"generator": resnet(), "x": X(size=8)},
        bad("range", "batch_size", 0, "batch_size must be"), bad("range", "batch_size", -1, "batch_size must be"),
        bad("nan", "x", NAN, "x contains NaN"), bad("type", "generator", None, "generator must be", TypeError)),
    row(cyclegan.train_cyclegan,
        lambda: {"G": resnet(), "F_": resnet(), "D_A": patch(), "D_B": patch(), "data_a": X(size=8),
                 "data_b": X(size=8, seed=1), "steps": 1, "seed": 0, "progress": False},
        bad("nan", "data_a", NAN, "data_a contains NaN"),
        bad("pair", "data_b", X(size=16), "data_a and data_b must hold images of one shape"),
        bad("range", "lambda_cycle", -1.0, "lambda_cycle must be"), bad("type", "G", None, "G must be", TypeError),
        bad("range", "steps", -1, "steps must be"), bad("range", "lr", 0.0, "lr must be"),
        bad("range", "batch_size", 0, "batch_size must be"),
        bad("range", "average_decay", 1.0, "average_decay must be in"),
        bad("nan", "average_decay", float("nan"), "average_decay must be"),
        bad("value", "averages", resnet(), "averages must be a pair"),
        bad("pair", "averages", (patch(), resnet()), "averages must be copies of the generators"),
        bad("type", "averages", (None, resnet()), "the average of G must be", TypeError)),
    # --- cyclegan_eval
    row(cyclegan_eval.greenness, lambda: {"images": X()},
        bad("shape", "images", GREY, "images must have 3 channels"), bad("nan", "images", NAN, "images contains NaN"),
        bad("range", "images", PIXELS, r"\[0, 1\]")),
    row(cyclegan_eval.animal_mask, lambda: {"images": X()},
        bad("range", "coverage", 1.5, "coverage must be"), bad("nan", "coverage", float("nan"), "coverage must be"),
        bad("nan", "images", NAN, "images contains NaN")),
    row(cyclegan_eval.mask_iou, lambda: {"a": X(channels=1) > 0.5, "b": X(channels=1, seed=1) > 0.5},
        bad("pair", "b", ONE, "masks must be bool tensors of one shape"),
        bad("dtype", "a", FLOAT, "masks must be bool"), bad("type", "a", None, "a must be a bool tensor", TypeError),
        bad("empty", "b", EMPTY, "b must be a non-empty mask")),
    row(cyclegan_eval.DomainClassifier, lambda: {"width": 2},
        bad("range", "width", 0, "width must be")),
    method(cyclegan_eval.DomainClassifier, "forward", lambda a: cyclegan_eval.DomainClassifier(2), lambda: {"x": X()},
        bad("shape", "x", GREY, "3 channels"), bad("nan", "x", NAN, "x contains NaN")),
    row(cyclegan_eval.domain_classifier,
        lambda: {"horses": X(size=8), "zebras": X(size=8, seed=1), "others": X(size=8, seed=2), "epochs": 1, "seed": 0},
        bad("pair", "zebras", X(size=6), "zebras must have the horses' image shape"),
        bad("nan", "others", NAN, "others contains NaN"), bad("range", "epochs", 0, "epochs must be")),
    row(cyclegan_eval.judge, lambda: {"classifier": cyclegan_eval.DomainClassifier(2), "images": X()},
        bad("range", "batch_size", 0, "batch_size must be"), bad("nan", "images", NAN, "images contains NaN"),
        bad("type", "classifier", None, "classifier must be", TypeError)),
    row(cyclegan_eval.evaluate_cyclegan,
        lambda: {"G": resnet(), "F_": resnet(), "test_a": X(size=8), "test_b": X(size=8, seed=1),
                 "test_mask": X(channels=1, size=8) > 0.5, "classifier": cyclegan_eval.DomainClassifier(2)},
        bad("dtype", "test_mask", FLOAT, "test_mask must be a bool"),
        bad("pair", "test_b", ONE, "test_a, test_b must share one shape"),
        bad("type", "G", None, "G must be", TypeError), bad("nan", "test_a", NAN, "test_a contains NaN")),
    row(cyclegan_eval.format_results, lambda: {"results": eval_results()},
        bad("value", "results", T(lambda r: r | {"real images": {}}), "'real images' lacks"),
        bad("nan", "results", T(lambda r: r | {"horse -> zebra": r["horse -> zebra"] | {"iou": float("nan")}}),
            r"results\['horse -> zebra'\]\['iou'\] must be a finite")),
    row(cyclegan_eval.show_translations, lambda: {"rows": {"input": X(), "output": X(seed=1)}},
        bad("range", "n", 0, "n must be"), bad("empty", "rows", {}, "rows must be a non-empty dict"),
        bad("nan", "rows", T(lambda r: r | {"output": _poke(r["output"], float("nan"))}), "output contains NaN")),
    # --- data
    *[row(photo, dict) for photo in (data.cat_image, data.coffee_image, data.astronaut_image, data.rocket_image,
                                     data.camera_image, data.horse_silhouette, data.sample_photos)],
    row(data.photo_batch, lambda: {"size": 8},
        bad("range", "size", 100000, r"size must be an int in \[1, 4096\]"), bad("range", "size", 0, "size must be"),
        bad("type", "mirrored", "yes", "mirrored must be True or False", TypeError)),
    # --- defenses
    row(defenses.adversarial_examples, lambda: {"model": net(), "x": X(), "y": Y(), "attack": PGD},
        bad("shape", "attack", lambda m, x, y: x[:1], "attack must return a tensor shaped like x"),
        bad("pair", "y", Y(0, 1, 2), r"y must have shape \(2,\)"), bad("nan", "x", NAN, "x contains NaN"),
        bad("type", "attack", None, "attack must be a function", TypeError)),
    row(defenses.adversarial_training_loss, lambda: {"model": net(), "x": X(), "y": Y(), "attack": PGD},
        bad("range", "lam", -1.0, "lam must be"), bad("range", "y", Y(0, 6), r"class indices in \[0, 5\)"),
        bad("dtype", "x", LONG, "x must be a floating"), bad("dtype", "y", Y().float(), "y must hold integer")),
    row(defenses.logit_pairing_loss, lambda: {"model": net(), "x": X(), "y": Y(), "attack": PGD},
        bad("nan", "lam", float("nan"), "lam must be"), bad("nan", "x", NAN, "x contains NaN"),
        bad("pair", "y", ONE, r"y must have shape \(2,\)")),
    row(defenses.adversarial_logit_pairing_loss, lambda: {"model": net(), "x": X(), "y": Y(), "attack": PGD},
        bad("range", "lam", -0.5, "lam must be"), bad("nan", "x", NAN, "x contains NaN"),
        bad("type", "attack", None, "attack must be a function", TypeError)),
    row(defenses.labelled_adversarial_examples, lambda: {"model": net(), "data": (X(), Y()), "attack": PGD},
        bad("range", "batch_size", 0, "batch_size must be"),
        bad("pair", "data", (X(), Y(0)), r"y must have shape \(2,\)"),
        bad("nan", "data", (_poke(X(), float("nan")), Y()), "x contains NaN")),
    # --- detector
    row(detector.SafetyNetDetector, lambda: {"model": digits_cnn()},
        bad("range", "levels", 1, "levels must be"), bad("range", "C", -1.0, "C must be"),
        bad("value", "gamma", "wide", "gamma must be"), bad("range", "batch_size", 0, "batch_size must be"),
        bad("value", "model", net(), "the model has no .features"),
        bad("type", "features", 3, "features must be a function", TypeError)),
    method(detector.SafetyNetDetector,
        "fit",
        lambda a: detector.SafetyNetDetector(digits_cnn()),
        lambda: {"x_clean": X(6, 1, 8), "x_adv": X(6, 1, 8, seed=1)},
        bad("pair", "x_adv", X(6, 1, 10), "x_clean and x_adv must be images of one shape"),
        bad("nan", "x_clean", NAN, "x_clean contains NaN"), bad("empty", "x_adv", EMPTY, "x_adv is empty")),
    method(detector.SafetyNetDetector, "score", lambda a: fitted_detector(), lambda: {"x": X(2, 1, 8)},
        bad("nan", "x", NAN, "x contains NaN"), bad("shape", "x", X(2, 3, 8), "1 channels"),
        bad("empty", "x", EMPTY, "x is empty")),
    row(detector.adaptive_attack,
        lambda: {"detector": fitted_detector(), "x": X(2, 1, 8), "y": Y(), "eps": 0.1, "alpha": 0.05, "steps": 1,
                 "weights": (1.0,)},
        bad("range", "y", Y(0, 10), r"class indices in \[0, 10\)"), bad("empty", "weights", (), "weights is empty"),
        bad("type", "detector", None, "detector must be a fitted SafetyNetDetector", TypeError),
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "eps", -1, "eps must be")),
    # --- digits
    row(digits.load_digits, lambda: {"split": "test"},
        bad("value", "split", "val", "split must be one of"), bad("range", "size", 4, "size must be an int >= 8"),
        bad("nan", "test_fraction", float("nan"), "test_fraction must be"), bad("range", "seed", -1, "seed must be")),
    row(digits.load_mnist, lambda: {"root": files.path("mnist")},
        bad("value", "split", "val", "split must be 'train' or 'test'"), bad("range", "size", 4, "size must be"),
        bad("value", "root", T(lambda r: r), "MNIST is not in", FileNotFoundError),
        skip_valid="needs the MNIST files (or a download)"),
    row(digits.DigitsCNN, lambda: {"channels": 2, "hidden": 8},
        bad("range", "channels", 0, "channels must be"), bad("range", "hidden", -1, "hidden must be")),
    method(digits.DigitsCNN, "forward", lambda a: digits_cnn(), lambda: {"x": X(2, 1, 8)},
        bad("shape", "x", X(2, 3, 8), "1 channels"), bad("shape", "x", X(2, 1, 4), "at least 8x8"),
        bad("nan", "x", NAN, "digits contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]")),
    row(digits.DigitsMLP, lambda: {"size": 8, "hidden": 4},
        bad("range", "size", 0, "size must be")),
    method(digits.DigitsMLP, "forward", lambda a: digits.DigitsMLP(8, 4), lambda: {"x": X(2, 1, 8)},
        bad("shape", "x", X(2, 1, 16), "this MLP takes 8x8"), bad("nan", "x", NAN, "digits contains NaN")),
    # --- gan
    row(gan.dcgan_init, lambda: {"module": nn.Linear(2, 2)},
        bad("type", "module", None, "module must be", TypeError)),
    row(gan.VirtualBatchNorm, lambda: {"num_features": 3},
        bad("range", "num_features", 0, "num_features must be"), bad("range", "eps", -1.0, "eps must be")),
    method(gan.VirtualBatchNorm,
        "forward",
        lambda a: gan.VirtualBatchNorm(3),
        lambda: {"x": torch.randn(2, 3), "reference": torch.randn(4, 3)},
        bad("pair", "reference", torch.randn(4, 2), "the same C, H, W"),
        bad("shape", "x", torch.randn(3), r"must be \(N, C\) or"), ok("nan", "x", NAN, is_nan)),
    row(gan.Generator, lambda: {"latent_dim": 4, "image_size": 8, "width": 4},
        bad("range", "latent_dim", 0, "latent_dim must be an int >= 1"),
        bad("value", "image_size", 12, "image_size must be a power of two"), bad("range", "width", 0, "width must be"),
        bad("value", "norm", "layer", "norm must be one of")),
    method(gan.Generator, "forward", lambda a: generator(), lambda: {"z": torch.randn(2, 4)},
        bad("nan", "z", NAN, "z contains NaN"), bad("dtype", "z", LONG, "z must be a floating"),
        bad("shape", "z", torch.randn(2, 5), r"\(N, 4\)"), bad("empty", "z", EMPTY, "z is empty")),
    row(gan.Discriminator, lambda: {"image_size": 8, "width": 4},
        bad("range", "width", 0, "width must be"), bad("value", "image_size", 12, "image_size must be a power of two")),
    method(gan.Discriminator, "forward", lambda a: gan.Discriminator(image_size=8, width=4), lambda: {"x": X(2, 1, 8)},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]"),
        bad("shape", "x", X(2, 1, 16), r"\(N, 1, 8, 8\)")),
    row(gan.d_loss, lambda: {"real_logits": torch.randn(4), "fake_logits": torch.randn(4)},
        bad("nan", "real_logits", NAN, "real_logits contains NaN"),
        bad("dtype", "real_logits", LONG, "real_logits must be a floating"),
        bad("range", "real_label", 1.5, "real_label must be"),
        bad("empty", "fake_logits", EMPTY, "fake_logits is empty")),
    row(gan.g_loss_saturating, lambda: {"fake_logits": torch.randn(4)},
        bad("nan", "fake_logits", NAN, "fake_logits contains NaN"),
        bad("dtype", "fake_logits", LONG, "must be a floating"),
        bad("empty", "fake_logits", EMPTY, "fake_logits is empty")),
    row(gan.g_loss_non_saturating, lambda: {"fake_logits": torch.randn(4)},
        bad("nan", "fake_logits", INF, "fake_logits contains NaN"),
        bad("dtype", "fake_logits", LONG, "must be a floating"),
        bad("empty", "fake_logits", EMPTY, "fake_logits is empty")),
    row(gan.sample_latent, lambda: {"n": 3, "latent_dim": 4},
        bad("range", "n", -1, "n must be an int >= 1"), bad("empty", "n", 0, "n must be an int >= 1"),
        bad("range", "latent_dim", 0, "latent_dim must be"), bad("range", "seed", -1, "seed must be")),
    row(gan.generate, lambda: {"generator": generator(), "z": torch.randn(3, 4)},
        bad("range", "batch_size", 0, "batch_size must be"), bad("range", "batch_size", -1, "batch_size must be"),
        bad("nan", "z", NAN, "z contains NaN"), bad("empty", "z", EMPTY, "z is empty"),
        bad("shape", "z", torch.randn(4), "z must have 2 dimensions")),
    row(gan.update_average, lambda: {"average": nn.Linear(3, 2), "model": nn.Linear(3, 2), "decay": 0.9},
        bad("range", "decay", 1.5, "decay must be"), bad("nan", "decay", float("nan"), "decay must be"),
        bad("pair", "model", nn.Linear(4, 2), "average and model must have the same parameters")),
    row(gan.recalibrate_batchnorm, lambda: {"generator": generator(), "batches": 1, "batch_size": 4},
        bad("range", "batches", 0, "batches must be"), bad("range", "batch_size", 0, "batch_size must be"),
        bad("type", "generator", None, "generator must be", TypeError)),
    row(gan.train_gan,
        lambda: {"generator": generator(), "discriminator": gan.Discriminator(image_size=8, width=4),
                 "data": X(8, 1, 8), "steps": 1, "lr_d": 1e-3, "lr_g": 1e-3, "batch_size": 4, "seed": 0,
                 "progress": False},
        bad("nan", "data", NAN, "data contains NaN"),
        bad("range", "data", PIXELS, r"data must have values in \[0, 1\]"),
        bad("nan", "lr_d", float("inf"), "lr_d must be"),
        bad("nan", "average_decay", float("nan"), "average_decay must be"),
        bad("range", "n_samples", 0, "n_samples must be"),
        bad("value", "g_optimizer", "rmsprop", "g_optimizer must be one of"),
        bad("type", "generator", None, "generator must be", TypeError)),
    # --- gan_ablation
    row(gan_ablation.AblationRun, lambda: {"row": "baseline", "seed": 0, "steps": 1},
        bad("type", "row", "", "row must be a non-empty str", TypeError), bad("range", "seed", -1, "seed must be"),
        bad("range", "steps", 0, "steps must be"), bad("range", "head_start", -1, "head_start must be"),
        bad("value", "norm", "layer", "norm must be one of"),
        bad("value", "changes", {"batch_size": 8}, "changes may set"),
        bad("type", "changes", [("k_d", 5)], "changes must be a dict", TypeError)),
    row(gan_ablation.batch_coupling, lambda: {"generator": generator(), "z": torch.randn(3, 4), "neighbours": 2},
        bad("nan", "z", NAN, "z contains NaN"), bad("empty", "z", EMPTY, "z is empty"),
        bad("shape", "z", torch.randn(4), "z must have 2 dimensions"),
        bad("range", "neighbours", 0, "neighbours must be"),
        bad("type", "generator", None, "generator must be", TypeError)),
    row(gan_ablation.train_ablation_run,
        lambda: {"run": gan_ablation.AblationRun("a", 0, 1), "z_probe": torch.randn(2, 16)},
        bad("type", "run", {"row": "a"}, "run must be an AblationRun", TypeError),
        bad("nan", "z_probe", NAN, "z_probe contains NaN"),
        bad("shape", "z_probe", torch.randn(2, 8), r"\(N, 16\)"),
        skip_valid="trains a full-size GAN: tests/test_gan_ablation.py"),
    row(gan_ablation.train_ablation_runs,
        lambda: {"runs": [gan_ablation.AblationRun("a", 0, 1)], "z_probe": torch.randn(2, 16), "progress": False},
        bad("empty", "runs", [], "runs must be a non-empty list of AblationRun"),
        bad("type", "runs", ["baseline"], "runs must be a non-empty list of AblationRun"),
        bad("range", "workers", 0, "workers must be"), bad("empty", "z_probe", EMPTY, "z_probe is empty"),
        skip_valid="trains a full-size GAN: tests/test_gan_ablation.py"),
    row(gan_ablation.mean_and_spread, lambda: {"values": [1.0, 2.0]},
        bad("empty", "values", [], "values must be a non-empty sequence of finite numbers"),
        bad("nan", "values", [1.0, float("nan")], "values must be a non-empty sequence of finite numbers")),
    # --- gradients
    row(gradients.autograd_grad, lambda: {"loss_fn": lambda q: q.sum(dim=(2, 3, 4)), "x": X()},
        bad("type", "loss_fn", None, "loss_fn must be a function", TypeError), bad("nan", "x", NAN, "x contains NaN")),
    row(gradients.FiniteDifference, lambda: {"h": 1e-3},
        bad("range", "h", 0.7, "h must be in"), bad("nan", "h", float("nan"), "h must be"),
        bad("range", "batch_size", 1, "batch_size must be")),
    method(gradients.FiniteDifference,
        "__call__",
        lambda a: gradients.FiniteDifference(),
        lambda: {"loss_fn": lambda q: q.sum(dim=(2, 3, 4)), "x": X(1, 1, 3)},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]"),
        bad("type", "loss_fn", None, "loss_fn must be", TypeError)),
    row(gradients.NES, lambda: {"samples": 2},
        bad("range", "samples", 0, "samples must be"), bad("nan", "sigma", float("inf"), "sigma must be"),
        bad("range", "seed", -1, "seed must be")),
    method(gradients.NES,
        "__call__",
        lambda a: gradients.NES(samples=2),
        lambda: {"loss_fn": lambda q: q.sum(dim=(2, 3, 4)), "x": X()},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]"),
        bad("type", "loss_fn", 3, "loss_fn must be", TypeError)),
    # --- horses
    row(horses.HorsesZebras,
        lambda: {"train_a": X(2, 3, 8), "train_b": X(3, 3, 8), "test_a": X(1, 3, 8), "test_b": X(1, 3, 8),
                 "train_a_mask": X(2, 1, 8) > 0.5, "train_b_mask": X(3, 1, 8) > 0.5, "test_mask": X(1, 1, 8) > 0.5},
        bad("pair", "test_b", X(1, 3, 16), "test_b must have the images' size"),
        bad("dtype", "train_a_mask", FLOAT, "train_a_mask must be a bool"),
        bad("nan", "train_a", NAN, "train_a contains NaN")),
    row(horses.horses_and_zebras, lambda: {"n_train": 1, "n_test": 1, "size": 16},
        bad("empty", "n_train", 0, "n_train must be"), bad("range", "size", 8, "size must be an int >= 16"),
        bad("range", "seed", -1, "seed must be")),
    row(horses.other_animals, lambda: {"n": 2, "size": 16},
        bad("empty", "n", 0, "n must be"), bad("range", "seed", -1, "seed must be"),
        bad("range", "size", 8, "size must be")),
    row(horses.load_image_folders, lambda: {"root": files.folders(), "size": 16},
        bad("range", "root", T(lambda r: files.folders(bomb=True)), "bomb.png is not a readable image"),
        bad("value", "root", T(lambda r: r / "absent"), "no data folder at", FileNotFoundError),
        bad("value", "domains", ("trainC",), "domains must be"), bad("range", "size", 8, "size must be"),
        bad("range", "max_images", 0, "max_images must be")),
    row(horses.download_dataset,
        lambda: {"dest": files.path("download"), "url": (zipped := files.archive()).as_uri(),
                 "sha256": validation.sha256_of(zipped)},
        bad("value", "sha256", "abc", "sha256 must be 64 hex digits"),
        bad("pair", "sha256", "0" * 64, "has sha256 .*, expected 0{64}"), bad("type", "url", None, "url must be")),
    # --- imagenet
    row(imagenet.Normalize, lambda: {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
        bad("range", "std", (0.5, 0.0, 0.5), "every std must be"),
        bad("nan", "mean", (0.5, float("nan"), 0.5), "every mean must be"),
        bad("pair", "std", (0.5,), "one value per channel")),
    method(imagenet.Normalize, "forward", lambda a: imagenet.Normalize((0.5,) * 3, (0.5,) * 3), lambda: {"x": X()},
        bad("shape", "x", GREY, r"x must have shape \(N, 3, H, W\)"), ok("nan", "x", NAN, is_nan)),
    row(imagenet.ImageNetClassifier,
        lambda: {"net": net(1000), "name": "tiny", "mean": (0.5,) * 3, "std": (0.5,) * 3, "input_size": 6},
        bad("type", "net", None, "net must be", TypeError), bad("range", "input_size", 0, "input_size must be"),
        bad("empty", "name", "", "name must be a non-empty")),
    method(imagenet.ImageNetClassifier,
        "forward",
        lambda a: imagenet.ImageNetClassifier(net(1000), name="tiny", mean=(0.5,) * 3, std=(0.5,) * 3, input_size=6),
        lambda: {"x": X()},
        ok("dtype", "x", DOUBLE, lambda r, a: r.dtype == torch.float32), bad("shape", "x", GREY, "3 channels"),
        bad("nan", "x", NAN, "contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]")),
    row(imagenet.available_classifiers, dict),
    row(imagenet.load_classifier, lambda: {"name": "efficientnet_lite0", "device": "cpu"},
        bad("value", "device", "cuda:99" if torch.cuda.is_available() else "cuda",
            "device='cuda.*', but this machine has"),
        bad("value", "device", "banana", "device must be a device"),
        bad("value", "name", "nope", "unknown classifier 'nope'"), bad("type", "name", 3, "name must be a string"),
        skip_valid="loads EfficientNet-Lite0 (seconds); tests/test_imagenet.py does"),
    row(imagenet.lite_weights_path, lambda: {"name": "efficientnet_lite0"},
        bad("value", "name", "nope", "name must be one of")),
    row(imagenet.verify_sha256, lambda: {"path": (path := files.text()), "expected": validation.sha256_of(path)},
        bad("value", "expected", "abc", "expected must be a sha256"), bad("pair", "expected", "0" * 64, "is corrupted"),
        bad("value", "path", T(lambda p: p.with_name("absent")), "is not a file", FileNotFoundError)),
    row(imagenet.imagenet_labels, dict),
    row(imagenet.predict, lambda: {"model": net(1000), "x": X()},
        bad("nan", "model", NaNLogits(), "logits must be finite"), bad("range", "k", 0, "k must be"),
        bad("range", "k", 1001, "k must be"), bad("shape", "x", GREY, "3 channels"),
        bad("nan", "x", NAN, "x contains NaN"), MODEL_NONE),
    row(imagenet.class_probabilities, lambda: {"model": net(1000), "x": X()},
        bad("nan", "model", NaNLogits(), "logits must be finite"), bad("nan", "x", NAN, "x contains NaN"),
        bad("range", "x", PIXELS, r"\[0, 1\]"), MODEL_NONE),
    row(imagenet.preprocess, lambda: {"image": np.zeros((10, 12, 3), np.uint8), "size": 8},
        bad("range", "size", 100000, r"size must be an int in \[1, 4096\]"),
        bad("value", "fit", "stretch", "fit must be one of"), bad("nan", "image", np.full((4, 4), np.nan), "NaN"),
        bad("range", "image", np.full((4, 4), 255.0), r"values in \[0, 1\]"),
        bad("empty", "image", np.zeros((0, 4, 3), np.uint8), "image is empty"),
        bad("dtype", "image", np.zeros((4, 4), np.int16), "dtype int16 is not supported"),
        ok("dtype", "image", torch.rand(3, 5, 5, dtype=torch.float64), lambda r, a: r.dtype == torch.float32)),
    # --- latent
    row(latent.lerp, lambda: {"z0": torch.randn(4), "z1": torch.randn(4), "steps": 3},
        bad("nan", "z0", NAN, "z0 contains NaN"), bad("pair", "z1", torch.randn(5), "same shape"),
        bad("range", "steps", 1, "steps must be"), bad("dtype", "z1", LONG, "z1 must be a floating")),
    row(latent.slerp, lambda: {"z0": torch.randn(4), "z1": torch.randn(4), "steps": 3},
        bad("nan", "z1", INF, "z1 contains NaN"), bad("pair", "z0", torch.randn(2, 4), "same shape"),
        bad("range", "steps", 0, "steps must be")),
    row(latent.ink, lambda: {"images": X()},
        bad("nan", "images", NAN, "images contains NaN"), bad("range", "images", PIXELS, r"\[0, 1\]"),
        bad("empty", "images", EMPTY, "images is empty")),
    row(latent.attribute_direction, lambda: {"z": torch.randn(8, 4), "scores": torch.rand(8)},
        bad("nan", "scores", NAN, "scores contains NaN"), bad("pair", "scores", SHORTER, "scores"),
        bad("range", "fraction", 0.7, "fraction must be"),
        bad("dtype", "groups", torch.zeros(8), "groups must hold integer")),
    row(latent.walk,
        lambda: {"generator": generator(), "z": torch.randn(2, 4), "direction": torch.randn(4),
                 "alphas": torch.tensor([-1.0, 1.0])},
        bad("pair", "direction", torch.randn(5), r"direction \(D,\)"), bad("nan", "alphas", NAN, "alphas contains NaN"),
        bad("nan", "z", NAN, "z contains NaN"), bad("type", "generator", None, "generator must be", TypeError)),
    row(latent.monotonicity, lambda: {"values": torch.rand(3, 4), "alphas": torch.tensor([0.0, 1.0, 2.0])},
        bad("value", "alphas", torch.tensor([2.0, 1.0, 0.0]), "alphas must be strictly increasing"),
        bad("nan", "values", NAN, "values contains NaN"),
        bad("shape", "values", torch.rand(3), r"values must be \(A, N\)")),
    row(latent.pick_exemplars,
        lambda: {"scores": torch.rand(6), "eligible": torch.tensor([True, False] * 3), "k": 2},
        bad("nan", "scores", NAN, "scores contains NaN"), bad("range", "k", 4, "only 3 eligible codes"),
        bad("range", "k", 0, "k must be"), bad("pair", "eligible", torch.ones(5, dtype=torch.bool), "eligible must be"),
        bad("dtype", "eligible", torch.ones(6), "eligible must be a bool"),
        bad("type", "largest", "yes", "largest must be True or False", TypeError),
        bad("empty", "scores", torch.rand(0), "scores is empty")),
    row(latent.concept_code, lambda: {"codes": torch.randn(3, 4)},
        bad("nan", "codes", NAN, "codes contains NaN"), bad("shape", "codes", torch.randn(4), r"codes must have 2"),
        bad("empty", "codes", EMPTY, "codes is empty"), bad("dtype", "codes", LONG, "codes must be a floating")),
    row(latent.latent_arithmetic, lambda: {"a": torch.randn(3, 4), "b": torch.randn(2, 4), "c": torch.randn(3, 4)},
        bad("pair", "c", torch.randn(3, 5), "same length D"), bad("nan", "b", INF, "b contains NaN"),
        bad("shape", "a", torch.randn(4), "a must have 2"), bad("type", "a", [[0.0]], "a must be a torch.Tensor", TypeError)),
    row(latent.neighbours, lambda: {"code": torch.randn(4), "n": 9, "scale": 0.25, "seed": 0},
        bad("nan", "code", NAN, "code contains NaN"), bad("shape", "code", torch.randn(2, 4), "code must have 1"),
        bad("range", "scale", -0.5, "scale must be"), bad("nan", "scale", float("nan"), "scale must be"),
        bad("range", "n", 0, "n must be"), bad("range", "seed", -1, "seed must be")),
    # --- linear
    row(linear.sign_perturbation, lambda: {"w": np.ones(3), "eps": 0.1},
        bad("nan", "w", np.array([1.0, np.nan]), "w contains NaN"), bad("nan", "eps", float("inf"), "eps must be"),
        bad("empty", "w", np.ones(0), "w is empty"), bad("type", "w", "abc", "w must be an array", TypeError)),
    row(linear.l2_perturbation, lambda: {"w": np.ones(3), "eps": 0.1},
        bad("value", "w", np.zeros(3), "w is all zeros"), bad("nan", "w", np.array([np.inf]), "w contains NaN"),
        bad("range", "eps", -1, "eps must be")),
    row(linear.activation_change_by_dimension, lambda: {"dims": [1, 10], "eps": 0.1},
        bad("empty", "dims", [], "dims is empty"), bad("range", "dims", [0], "every dimension in dims must be"),
        bad("range", "weight_scale", -1.0, "weight_scale must be"), bad("nan", "eps", float("nan"), "eps must be")),
    row(linear.best_linf_step_versus_random, lambda: {"g": np.ones(4), "eps": 0.1, "trials": 5},
        bad("nan", "g", np.array([np.nan]), "g contains NaN"), bad("range", "trials", 0, "trials must be"),
        bad("range", "eps", -0.1, "eps must be")),
    row(linear.fgsm_loss_change, lambda: {"model": net(), "x": X(), "y": Y(), "eps_list": [0.01]},
        bad("nan", "x", NAN, "x contains NaN"), bad("empty", "eps_list", [], "eps_list is empty"),
        bad("pair", "y", Y(0, 1, 2), r"y must have shape \(2,\)"), bad("shape", "x", GREY, "cannot take x")),
    row(linear.SaturatingTanh, lambda: {"saturation": 4.0},
        bad("range", "saturation", 0.0, "saturation must be"),
        bad("nan", "saturation", float("nan"), "saturation must be")),
    method(linear.SaturatingTanh, "forward", lambda a: linear.SaturatingTanh(4.0), lambda: {"a": torch.randn(3, 2)},
        bad("nan", "a", NAN, "a contains NaN"), bad("dtype", "a", torch.ones(3, dtype=torch.long), "a must be"),
        bad("empty", "a", torch.ones(0), "a is empty")),
    row(linear.linear_regime_share, lambda: {"model": net(), "x": X()},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"\[0, 1\]"),
        bad("range", "threshold", 0.0, "threshold must be"), bad("range", "threshold", 1.5, "threshold must be"),
        bad("value", "model", nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten()), "no activation module"),
        bad("type", "model", "net", "model must be", TypeError)),
    row(linear.logit_linearity_along_fgsm, lambda: {"model": net(), "x": X(), "y": Y(), "eps": 0.05},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "eps", -0.1, "eps must be"),
        bad("range", "points", 1, "points must be"), bad("pair", "y", Y(0, 1, 2), r"y must have shape \(2,\)"),
        bad("empty", "x", EMPTY, "x is empty"),
        ok("value", "y", None,
           lambda result, args: np.testing.assert_allclose(result["t"], np.linspace(0, 1, 11), atol=1e-6))),
    # --- metrics
    row(metrics.gaussian_stats, lambda: {"features": torch.rand(5, 3)},
        bad("nan", "features", NAN, "features contains NaN"), bad("shape", "features", torch.rand(5), "2-d array"),
        bad("empty", "features", ONE, "N >= 2")),
    row(metrics.frechet_distance_from_stats,
        lambda: {"mu1": np.zeros(2), "sigma1": np.eye(2), "mu2": np.ones(2), "sigma2": np.eye(2)},
        bad("pair", "sigma2", np.eye(3), "mismatched statistics"),
        bad("nan", "mu1", np.array([0.0, np.nan]), "mu1 contains NaN"),
        bad("value", "sigma1", np.array([[1.0, 0.5], [0.0, 1.0]]), "sigma1 must be a covariance")),
    row(metrics.frechet_distance, lambda: {"features_a": torch.rand(5, 3), "features_b": torch.rand(6, 3)},
        bad("pair", "features_b", torch.rand(6, 4), "mismatched"),
        bad("nan", "features_a", NAN, "features contains NaN")),
    row(metrics.confident_share, lambda: {"logits": torch.randn(4, 3)},
        bad("nan", "logits", NAN, "logits must be finite"), bad("empty", "logits", EMPTY, "logits is empty"),
        bad("range", "threshold", 1.5, "threshold must be"), bad("shape", "logits", torch.randn(4), r"\(N, classes\)"),
        ok("range", "logits", torch.tensor([[0.0, float("-inf")]]), lambda r, a: r == 1.0)),
    row(metrics.class_counts, lambda: {"logits": torch.randn(4, 3)},
        bad("nan", "logits", INF, "logits must be finite"), bad("range", "threshold", -0.1, "threshold must be")),
    row(metrics.classes_covered, lambda: {"logits": torch.randn(4, 3)},
        bad("nan", "logits", NAN, "logits must be finite"), bad("empty", "logits", EMPTY, "logits is empty")),
    row(metrics.digits_classifier, lambda: {"size": 8, "epochs": 1, "seed": 0},
        bad("range", "size", 4, "size must be"), bad("range", "epochs", 0, "epochs must be"),
        bad("range", "seed", -1, "seed must be"),
        skip_valid="trains a CNN on the digits (seconds); tests/test_metrics.py does"),
    row(metrics.DigitsEvaluator, lambda: {"classifier": digits_cnn(), "reference": X(4, 1, 8), "size": 8},
        bad("nan", "reference", NAN, "reference contains NaN"), bad("empty", "reference", ONE, "at least 2 images"),
        bad("type", "classifier", nn.Linear(2, 2), ".features and .head", TypeError),
        bad("range", "size", 4, "size must be")),
    method(metrics.DigitsEvaluator,
        "evaluate",
        lambda a: metrics.DigitsEvaluator(digits_cnn(), X(4, 1, 8), size=8),
        lambda: {"images": X(3, 1, 8)},
        bad("pair", "images", X(3, 1, 10), "the reference's shape"), bad("nan", "images", NAN, "images contains NaN"),
        bad("empty", "images", ONE, "at least 2 images")),
    # --- plotting
    row(plotting.to_display, lambda: {"image": X(1)},
        bad("nan", "image", NAN, r"finite and in \[0, 1\]"), bad("range", "image", PIXELS, r"finite and in \[0, 1\]"),
        bad("shape", "image", X(2), "batch"), bad("empty", "image", np.zeros((0, 3)), "cannot show an image of shape"),
        bad("type", "image", np.array([None, "a"]), "image must be a tensor or an array of numbers", TypeError)),
    row(plotting.show_image, lambda: {"image": X(1)},
        bad("nan", "image", NAN, r"finite and in \[0, 1\]"),
        bad("type", "ax", "left", "ax must be a matplotlib Axes", TypeError)),
    row(plotting.show_images, lambda: {"images": X(3)},
        bad("range", "ncols", 0, "ncols must be"), bad("pair", "titles", ["a"], "1 titles for 3 images"),
        bad("nan", "images", NAN, r"finite and in \[0, 1\]")),
    row(plotting.show_grid, lambda: {"images": X(3)},
        bad("range", "nrow", 0, "nrow must be"), bad("nan", "images", NAN, "images contains NaN"),
        bad("shape", "images", T(lambda x: x[0]), r"images must have shape \(N, C, H, W\)")),
    row(plotting.plot_topk, lambda: {"prediction": prediction()},
        bad("empty", "prediction", [], "prediction must be a non-empty"),
        bad("range", "prediction", [("cat", 1.5)], r"probability in \[0, 1\]"),
        bad("type", "prediction", "abc", "prediction must be a list", TypeError)),
    row(plotting.show_predictions, lambda: {"images": X(2), "predictions": [prediction(), prediction()]},
        bad("pair", "predictions", [prediction()], "1 predictions for 2 images"),
        bad("range", "predictions", [prediction(), [("cup", 2.0)]], r"probability in \[0, 1\]"),
        bad("nan", "images", NAN, r"finite and in \[0, 1\]")),
    row(plotting.amplify, lambda: {"delta": torch.randn(1, 3, 4, 4)},
        bad("nan", "delta", NAN, "delta contains NaN"), bad("dtype", "delta", LONG, "delta must be a floating"),
        bad("empty", "delta", EMPTY, "delta is empty")),
    row(plotting.show_adversarial, lambda: {"x": X(1), "x_adv": X(1, seed=1)},
        bad("pair", "x_adv", X(1, size=8), "x and x_adv must have the same shape"),
        bad("value", "titles", ("a",), "titles must be two"), bad("nan", "x_adv", NAN, r"finite and in \[0, 1\]")),
    # --- robustness
    row(robustness.AttackSpec, lambda: {"name": "FGSM", "run": PGD},
        bad("empty", "name", "", "name must be a non-empty"),
        bad("type", "run", 3, "run must be a function", TypeError),
        bad("type", "white_box", "yes", "white_box, iterative and reference must be bools", TypeError),
        bad("type", "reference", 1, "white_box, iterative and reference must be bools", TypeError)),
    row(robustness.autoattack_spec, dict,
        bad("value", "version", "plus", "version must be one of"), bad("range", "seed", -1, "seed must be"),
        bad("range", "batch_size", 0, "batch_size must be")),
    row(robustness.pgd_with_restarts,
        lambda: {"model": net(), "x": X(), "y": Y(), "eps": 0.1, "steps": 1, "restarts": 2, "seed": 0},
        bad("range", "restarts", 0, "restarts must be"), bad("pair", "y", ONE, r"y must have shape \(2,\)"),
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "eps", -1, "eps must be"),
        bad("dtype", "y", Y().float(), "y must hold integer")),
    row(robustness.fgsm_spec, dict),
    row(robustness.pgd_spec, lambda: {"steps": 2},
        bad("range", "steps", 0, "steps must be"), bad("range", "restarts", 0, "restarts must be"),
        bad("range", "seed", -1, "seed must be")),
    row(robustness.transfer_spec, lambda: {"substitute": net()},
        bad("type", "substitute", None, "substitute must be", TypeError), bad("range", "steps", 0, "steps must be")),
    row(robustness.default_attacks, lambda: {"substitute": net()},
        bad("type", "substitute", None, "substitute must be", TypeError),
        bad("range", "restarts", 0, "restarts must be")),
    row(robustness.masking_symptoms,
        lambda: {"clean": 0.9, "accuracy": {"FGSM": {0.1: 0.5}}, "attacks": [robustness.fgsm_spec()]},
        bad("value", "accuracy", {}, "accuracy lacks the attack"), bad("range", "clean", 1.5, "clean must be"),
        bad("nan", "accuracy", {"FGSM": {0.1: float("nan")}}, r"accuracy\['FGSM'\]\[eps\] must be"),
        bad("empty", "attacks", [], "attacks must be a non-empty list", TypeError)),
    row(robustness.masking_flags,
        lambda: {"clean": 0.9, "accuracy": {"FGSM": {0.1: 0.5}}, "attacks": [robustness.fgsm_spec()]},
        bad("range", "tolerance", -1.0, "tolerance must be"), bad("nan", "clean", float("nan"), "clean must be")),
    row(robustness.RobustnessReport, lambda: {"eps_list": (0.1,), "attacks": [robustness.fgsm_spec()]},
        bad("empty", "eps_list", (), "every eps must be in"), bad("empty", "attacks", [], "attacks must be", TypeError),
        bad("range", "eps_list", (2.0,), r"every eps must be in \(0, 1\]")),
    method(robustness.RobustnessReport, "table", lambda a: a.pop("_report"), lambda: {"_report": report()},
        bad("value", "_report", report(flags={}), "the report is incomplete for model 'm'"),
        bad("value", "_report", report(accuracy={"m": {}}), "the report is incomplete"),
        bad("value", "_report", report(worst={}), "the report is incomplete")),
    row(robustness.robustness_report,
        lambda: {"models": {"m": net()}, "data": (X(), Y()), "attacks": [robustness.fgsm_spec()], "eps_list": (0.1,),
                 "progress": False},
        bad("empty", "models", {}, "models must be a non-empty dict", TypeError),
        bad("type", "models", {"m": None}, r"models\['m'\] must be", TypeError),
        bad("pair", "data", (X(), Y(0)), r"y must have shape \(2,\)"),
        bad("range", "eps_list", (0.0,), "every eps must be in"),
        bad("nan", "data", (_poke(X(), float("nan")), Y()), "x contains NaN"),
        bad("type", "attacks", [robustness.AttackSpec("a", None)], "the run of attack 'a' must be a function",
            TypeError)),
    # --- training
    row(training.cross_entropy_loss, lambda: {"model": net(), "x": X(), "y": Y()},
        bad("range", "y", Y(0, 5), r"y must hold class indices in \[0, 5\)"),
        bad("pair", "y", Y(0, 1, 1), r"y must have shape \(2,\)"), bad("nan", "x", NAN, "x contains NaN"),
        bad("dtype", "y", Y().float(), "y must hold integer"), bad("shape", "x", GREY, "cannot take x")),
    row(training.train_classifier,
        lambda: {"model": net(), "data": (X(4), Y(0, 1, 2, 3)), "epochs": 1, "progress": False},
        bad("pair", "data", (X(4), Y(0, 1)), r"y \(data\[1\]\) must have shape \(4,\)"),
        bad("nan", "data", (_poke(X(4), float("nan")), Y(0, 1, 2, 3)), r"x \(data\[0\]\) contains NaN"),
        bad("range", "lr", 0.0, "lr must be"), bad("range", "batch_size", 0, "batch_size must be"),
        bad("range", "epochs", -1, "epochs must be"),
        bad("type", "loss_fn", None, "loss_fn must be a function", TypeError),
        bad("range", "data", (X(4), Y(0, 1, 2, 9)), r"y must hold class indices in \[0, 5\)")),
    row(training.accuracy, lambda: {"model": net(), "x": X(), "y": Y()},
        bad("pair", "y", Y(0, 1, 0), r"y must have shape \(2,\)"),
        bad("range", "y", Y(0, 8), r"class indices in \[0, 5\)"), bad("nan", "x", NAN, "x contains NaN"),
        bad("range", "batch_size", 0, "batch_size must be"), bad("empty", "x", EMPTY, "x is empty")),
    # --- validation: the checks themselves, on what they exist to refuse
    row(validation.call_model, lambda: {"model": net(), "x": X()},
        bad("shape", "x", GREY, "cannot take x"),
        bad("dtype", "x", DOUBLE, "cannot take x of shape .* and dtype torch.float64")),
    row(validation.check_array, lambda: {"values": [1.0, 2.0], "name": "w"},
        bad("nan", "values", [np.nan], "w contains NaN"), bad("type", "values", ["a"], "w must be an array", TypeError),
        bad("empty", "values", [], "w is empty")),
    row(validation.check_callable, lambda: {"function": len, "name": "f"},
        bad("type", "function", 3, "f must be a function", TypeError)),
    row(validation.check_choice, lambda: {"value": "a", "name": "mode", "choices": ("a", "b")},
        bad("value", "value", "c", "mode must be one of")),
    row(validation.check_finite, lambda: {"x": torch.ones(2), "name": "t"},
        bad("nan", "x", NAN, "t contains NaN")),
    row(validation.check_images, lambda: {"x": X()},
        bad("nan", "x", NAN, "x contains NaN"), bad("range", "x", PIXELS, r"max 254"),
        bad("dtype", "x", LONG, "x must be a floating"), bad("shape", "x", GREY, "3 channels"),
        bad("empty", "x", EMPTY, "x is empty"), bad("type", "x", [0.5], "x must be a torch.Tensor", TypeError)),
    row(validation.check_int, lambda: {"value": 3, "name": "steps"},
        bad("type", "value", 1.5, "steps must be an int"), bad("type", "value", True, "steps must be an int"),
        bad("range", "value", -1, "steps must be an int >= 1")),
    row(validation.check_labels, lambda: {"y": Y(), "n": 2, "num_classes": 3},
        bad("dtype", "y", Y().float(), "y must hold integer"),
        bad("range", "y", Y(0, 3), r"y must hold class indices in \[0, 3\)"),
        bad("pair", "y", ONE, r"y must have shape \(2,\)"),
        bad("type", "y", [0, 1], "y must be a torch.Tensor", TypeError)),
    row(validation.check_logits, lambda: {"logits": torch.randn(2, 3)},
        bad("nan", "logits", NAN, "logits must be finite"), bad("shape", "logits", torch.randn(3), r"\(N, classes\)"),
        bad("range", "logits", torch.full((1, 2), -float("inf")), "a row of -inf"),
        ok("range", "logits", torch.tensor([[0.0, -float("inf")]]), lambda r, a: r is a["logits"])),
    row(validation.check_model, lambda: {"model": net()},
        MODEL_NONE),
    row(validation.check_number, lambda: {"value": 0.5, "name": "lr"},
        bad("nan", "value", float("nan"), "lr must be a finite number"),
        bad("type", "value", "0.5", "lr must be a finite number"),
        bad("type", "value", True, "lr must be a finite number")),
    row(validation.check_probability, lambda: {"value": 0.5, "name": "p"},
        bad("range", "value", 1.5, "p must be a finite number >= 0 and <= 1")),
    row(validation.check_same_shape, lambda: {"a": X(), "b": X(seed=1), "names": "a and b"},
        bad("pair", "b", ONE, "a and b must have the same shape")),
    row(validation.check_tensor, lambda: {"x": torch.ones(2), "name": "t"},
        bad("type", "x", [1.0], "t must be a torch.Tensor", TypeError), bad("nan", "x", NAN, "t contains NaN"),
        bad("dtype", "x", LONG, "t must be a floating"), bad("empty", "x", EMPTY, "t is empty")),
    row(validation.sha256_of, lambda: {"path": files.text()},
        bad("value", "path", T(lambda p: p.with_name("absent")), "is not a file", FileNotFoundError)),
    # --- widgets
    row(widgets.FGSMExplorer, lambda: {"model": net(1000), "x": X(1)},
        bad("shape", "x", X(2), "one image"), bad("range", "k", 0, "k must be"),
        bad("range", "max_eps_255", -1, "max_eps_255 must be"), MODEL_NONE, bad("nan", "x", NAN, "x contains NaN")),
    row(widgets.fgsm_explorer, lambda: {"model": net(1000), "x": X(1)},
        bad("range", "k", 1001, "k must be"), bad("shape", "x", GREY, "3 channels")),
    # --- margins
    row(margins.Run, lambda: {"notebook": "05.ipynb", "seed": 0, "threads": 1},
        bad("range", "seed", -1, "seed must be"), bad("range", "threads", 0, "threads must be")),
    row(margins.Claim, lambda: {"notebook": "05.ipynb", "name": "accuracy", "op": ">"},
        bad("value", "op", "==", "op must be one of")),
    row(margins.audit, lambda: {"notebooks": [files.text()], "seeds": [0], "threads": [1]},
        bad("empty", "notebooks", [], "notebooks is empty"),
        bad("value", "notebooks", [Path("absent.ipynb")], "no such file", FileNotFoundError),
        bad("empty", "seeds", [], "seeds is empty"), bad("range", "threads", [0], "every value of threads must be"),
        bad("range", "jobs", 0, "jobs must be"),
        skip_valid="executes notebooks (minutes); tests/test_claims_and_margins.py runs the CLI"),
    row(margins.summarise, lambda: {"runs": [margins.Run("05.ipynb", 0, 1)]},
        bad("type", "runs", ["05.ipynb"], "runs must be a list of Run", TypeError)),
    row(margins.format_report,
        lambda: {"claims": [_claim()], "runs": [margins.Run("05.ipynb", 0, 1)], "min_margin": 0.2},
        bad("nan", "min_margin", float("nan"), "min_margin must be"),
        bad("empty", "claims", [margins.Claim("05.ipynb", "a", ">")], "at least one record"),
        bad("type", "runs", ["05.ipynb"], "runs must be a list of Run", TypeError)),
]


def _with_env(name, value, function):
    with environ(name, value):
        return function()


def _filled_pool() -> cyclegan.ImagePool:
    pool = cyclegan.ImagePool(size=2, seed=0)
    pool.query(X(2))
    return pool


def _claim() -> margins.Claim:
    record = {"name": "a", "value": 0.9, "op": ">", "bound": 0.5, "reference": 0.1, "passed": True, "margin": 0.4,
              "relative_margin": 1.0, "seed": 0, "threads": 1}
    return margins.Claim("05.ipynb", "a", ">", [record])


# --------------------------------------------------------------------------------------------------
# Walking the table


def public_names() -> dict[str, object]:
    """Every name in the ``__all__`` of helpers and its modules, as ``"module.NAME"`` -> object."""
    modules = {"helpers": helpers} | {
        info.name: importlib.import_module(f"helpers.{info.name}")
        for info in pkgutil.iter_modules(helpers.__path__) if info.name not in EXCLUDED_MODULES}
    missing = [name for name, module in modules.items() if not hasattr(module, "__all__")]
    assert not missing, f"modules without __all__: {missing}"
    return {f"{name}.{item}": getattr(module, item) for name, module in modules.items() for item in module.__all__}


def required_targets() -> dict[str, object]:
    """What needs a row: every callable public name, and the main methods of its classes."""
    targets = {}
    for name, obj in public_names().items():
        if name in NOT_CALLABLE or (isinstance(obj, type) and issubclass(obj, Warning)):
            continue  # a constant, or a warning category (its one argument is the message helpers writes)
        targets[name] = obj
        methods = MAIN_METHODS.get(obj, ["forward"] if isinstance(obj, type) and issubclass(obj, nn.Module) else [])
        targets |= {f"{name}.{method_name}": getattr(obj, method_name) for method_name in methods}
    return targets


def test_every_public_name_has_a_row():
    names = public_names()
    constants = sorted(name for name, obj in names.items() if not callable(obj) and name not in NOT_CALLABLE)
    assert not constants, f"constants in __all__ missing from NOT_CALLABLE: {constants}"
    covered = {id(r.target) for r in ROWS}
    missing = sorted(name for name, obj in required_targets().items() if id(obj) not in covered)
    assert not missing, f"public names without a row in the bad-input table: {missing}"
    public = {id(obj) for obj in required_targets().values()}
    unknown = [r.target for r in ROWS if id(r.target) not in public]
    assert not unknown, f"rows for names that are not public: {unknown}"
    stale = sorted(NOT_CALLABLE - names.keys())
    assert not stale, f"NOT_CALLABLE names no public constant: {stale}"


def _tensors(value: object) -> list:
    """The tensors and arrays inside an argument (through tuples, lists and dicts)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _same(a, b) -> bool:
    """Equal tensors or arrays (NaN equal to NaN)."""
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())


def _raised_by_helpers(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(HELPERS)


def _outcome(r: Row, args: dict, variant: Variant | None) -> tuple[str, str]:
    """Run one call; returns (outcome, detail): clear, accepted, raw, silent or mutated (and "valid")."""
    before = [(t, copy.deepcopy(t)) for t in _tensors(args)]
    error = result = None
    try:
        result = r.run(dict(args))
    except Exception as exc:
        error = exc
    finally:
        plt.close("all")
    if any(not _same(now, then) for now, then in before):
        return "mutated", "an argument changed"
    if error is not None:
        if variant is not None and variant.error is not None and isinstance(error, variant.error) \
                and re.search(variant.match, str(error)) and _raised_by_helpers(error):
            return "clear", ""
        return "raw", f"{type(error).__name__}: {str(error)[:160]}"
    if variant is None:
        return "valid", ""
    if variant.check is None:
        return "silent", f"returned {type(result).__name__}"
    try:
        variant.check(result, args)
    except AssertionError as exc:
        return "silent", f"accepted, but not as documented: {exc}"
    return "accepted", ""


def test_bad_input_raises_a_clear_error_or_is_documented(tmp_path, record_property):
    files.root = tmp_path
    counts, problems = Counter(), []
    for r in ROWS:
        name = getattr(r.target, "__qualname__", repr(r.target))
        if not r.skip_valid:
            outcome, detail = _outcome(r, r.args(), None)
            if outcome != "valid":
                problems.append(f"{name}: the valid call gave {outcome}: {detail}")
        for variant in r.variants:
            args = r.args()
            value = variant.value
            args[variant.arg] = value.change(args.get(variant.arg)) if isinstance(value, T) else value
            outcome, detail = _outcome(r, args, variant)
            counts[outcome] += 1
            counts[variant.kind] += 1
            if outcome not in ("clear", "accepted"):
                problems.append(f"{name}({variant.arg}: {variant.kind}) -> {outcome}: {detail}")
    variants = sum(len(r.variants) for r in ROWS)
    kinds = ", ".join(f"{kind} {counts[kind]}" for kind in KINDS)
    summary = (f"bad-input table: {len(ROWS)} rows, {variants} variants; {counts['clear']} clear errors, "
               f"{counts['accepted']} documented acceptances, {counts['raw']} raw, {counts['silent']} silent, "
               f"{counts['mutated']} mutated; by kind: {kinds}")
    record_property("bad-input table", summary)
    print(summary)
    assert not problems, "\n".join([summary, *problems])
