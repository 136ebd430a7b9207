"""CycleGAN (Zhu et al. 2017): two generators, two PatchGAN discriminators, LSGAN + cycle + identity losses.

Names: domain A (horses) and domain B (zebras). ``G`` maps A -> B, ``F`` maps B -> A. ``D_A`` tells real
A images from ``F(b)``; ``D_B`` tells real B images from ``G(a)``. Images are float tensors (N, 3, S, S) in
[0, 1], as everywhere in the course; the [-1, 1] range of the paper's tanh generators lives inside the
models. The architecture, losses and optimiser follow the authors' code (junyanz/pytorch-CycleGAN-and-pix2pix:
``ResnetGenerator``, ``NLayerDiscriminator``, ``GANLoss("lsgan")``, ``ImagePool``, the "linear" LR rule):

- generator: c7s1-w, d2w, d4w, ``n_blocks`` residual blocks (4w), u2w, uw, c7s1-3; instance norm, ReLU,
  reflection padding; 9 blocks at 256 px and 6 at 128 px in the paper, w = 64;
- discriminator: C64-C128-C256-C512 then a 1-channel 4x4 convolution (``n_layers=3``): a 30x30 grid of
  scores for a 256x256 image, each seeing a 70x70 patch;
- weights ~ N(0, 0.02), biases 0; instance norm without affine parameters or running statistics.

Bad input raises ``ValueError`` (``TypeError`` for a wrong type) naming the parameter, before any work.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import config
from .checkpoint import code_fingerprint, resume_state, rng_state, save_checkpoint, set_rng_state
from .gan import _Batches, _model_classes, update_average
from .validation import check_choice, check_images, check_int, check_model, check_number, check_same_shape, check_tensor

__all__ = [
    "HISTORY_KEYS", "NORMS", "PAPER_RECIPE", "SMALL_DISCRIMINATOR", "SMALL_GENERATOR", "SMALL_RECIPE", "ImagePool",
    "PatchDiscriminator", "ResidualBlock", "ResnetGenerator", "cycle_loss", "identity_loss", "init_weights",
    "linear_decay", "lsgan_d_loss", "lsgan_g_loss", "receptive_field", "train_cyclegan", "translate",
]

NORMS = ("instance", "none")


def init_weights(module: nn.Module) -> None:
    """The authors' "normal" initialisation: convolution weights ~ N(0, 0.02), biases 0.
    Use as ``model.apply(init_weights)``; draws from torch's global RNG."""
    check_model(module, "module")
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels) if kind == "instance" else nn.Identity()


class ResidualBlock(nn.Module):
    """x + (reflect-pad, 3x3 conv, norm, ReLU, reflect-pad, 3x3 conv, norm)(x); shape-preserving, for
    features (N, channels, H, W) with H, W >= 2. A layer inside the generator: like torch's own layers, it
    passes NaN through (the generator's input check catches it)."""

    def __init__(self, channels: int, norm: str = "instance"):
        super().__init__()
        check_int(channels, "channels")
        check_choice(norm, "norm", NORMS)
        self.channels = channels
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(norm, channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", finite=False)
        if x.ndim != 4 or x.shape[1] != self.channels or min(x.shape[2:]) < 2:
            raise ValueError(f"x must have shape (N, {self.channels}, H, W) with H, W >= 2, got {tuple(x.shape)}")
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """The CycleGAN generator: images (N, channels, S, S) in [0, 1] -> images of the same shape in [0, 1].

    c7s1-``width``, ``n_down`` stride-2 3x3 convolutions (doubling the channels), ``n_blocks`` residual
    blocks, ``n_down`` stride-2 transposed convolutions (halving them), c7s1-``channels`` and a tanh
    rescaled to [0, 1]. S must be a multiple of ``2**n_down`` (4 by default). The paper: width 64,
    9 blocks (256 px) or 6 (128 px); 7.8 M or 11.4 M parameters. Bad input raises ``ValueError``.
    """

    def __init__(self, channels: int = 3, *, width: int = 64, n_blocks: int = 9, n_down: int = 2,
                 norm: str = "instance"):
        super().__init__()
        check_int(channels, "channels")
        check_int(width, "width")
        check_int(n_blocks, "n_blocks", minimum=0)
        check_int(n_down, "n_down", minimum=0)
        check_choice(norm, "norm", NORMS)
        self.channels, self.n_down = channels, n_down
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, width, 7), _norm(norm, width), nn.ReLU()]
        c = width
        for _ in range(n_down):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(norm, 2 * c), nn.ReLU()]
            c *= 2
        layers += [ResidualBlock(c, norm) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1), _norm(norm, c // 2),
                       nn.ReLU()]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2**self.n_down
        check_tensor(x, "x", finite=False)
        if x.ndim != 4 or x.shape[1] != self.channels or x.shape[2] % step or x.shape[3] % step or x.shape[2] < 4:
            raise ValueError(f"x must have shape (N, {self.channels}, H, W) with H and W multiples of {step}, "
                             f"got {tuple(x.shape)}")
        check_images(x, channels=self.channels)
        return (self.net(x * 2 - 1) + 1) / 2  # [0, 1] -> [-1, 1] -> tanh -> [0, 1]


class PatchDiscriminator(nn.Module):
    """The PatchGAN discriminator: images (N, channels, S, S) in [0, 1] -> scores (N, 1, S', S').

    ``n_layers`` stride-2 4x4 convolutions (``width``, 2 ``width``, ... channels, at most 8 ``width``;
    LeakyReLU 0.2, instance norm after all but the first), one stride-1 4x4 convolution, and a 1-channel
    stride-1 4x4 convolution: each score judges one patch of the input, of side :func:`receptive_field`
    (70 pixels for ``n_layers=3``, the paper's; 34 for 2). S' = S/8 - 2 for ``n_layers=3`` (30 at 256).
    The scores are unbounded (LSGAN regresses them to 1 for real, 0 for fake). Bad input raises ``ValueError``.
    """

    def __init__(self, channels: int = 3, *, width: int = 64, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        check_int(channels, "channels")
        check_int(width, "width")
        check_int(n_layers, "n_layers")
        check_choice(norm, "norm", NORMS)
        self.channels = channels
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c = width
        for n in range(1, n_layers + 1):
            out = width * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(c, out, 4, stride=stride, padding=1), _norm(norm, out), nn.LeakyReLU(0.2)]
            c = out
        layers += [nn.Conv2d(c, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x, channels=self.channels)
        return self.net(x * 2 - 1)


def receptive_field(model: nn.Module) -> int:
    """The side, in input pixels, of the patch one output value sees, from the model's convolutions in order
    (``r <- r + (k - 1) * j``, ``j <- j * stride``; padding does not change it)."""
    check_model(model)
    field, jump = 1, 1
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            if isinstance(module, nn.ConvTranspose2d):
                raise ValueError("receptive_field is for convolutional (downsampling) models only")
            field += (module.kernel_size[0] - 1) * module.dilation[0] * jump
            jump *= module.stride[0]
    return field


# --- losses ---------------------------------------------------------------------------------------------


def lsgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """The discriminator's LSGAN cost (Mao et al. 2017), halved as in CycleGAN (slows D relative to G):
    ``0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))``, means over images and patches. Scores: finite
    floating tensors (any shape, e.g. (N, 1, S', S'))."""
    check_tensor(real_scores, "real_scores")
    check_tensor(fake_scores, "fake_scores")
    return 0.5 * ((real_scores - 1).square().mean() + fake_scores.square().mean())


def lsgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """The generator's LSGAN cost: ``mean((D(G(x)) - 1)^2)``: make every patch look real (finite scores)."""
    check_tensor(fake_scores, "fake_scores")
    return (fake_scores - 1).square().mean()


def cycle_loss(reconstruction: torch.Tensor, original: torch.Tensor, lambda_cycle: float = 10.0) -> torch.Tensor:
    """``lambda * mean|F(G(x)) - x|`` (L1, mean over pixels and channels; the paper's lambda = 10).
    ``reconstruction`` and ``original``: finite tensors of one shape (no broadcasting); ``lambda_cycle`` >= 0."""
    _check_l1_pair(reconstruction, original, ("reconstruction", "original"))
    check_number(lambda_cycle, "lambda_cycle", minimum=0.0)
    # BEGIN SOLUTION exercise=cycle-loss points=2 hint="lambda times the mean absolute difference (L1)"
    return lambda_cycle * (reconstruction - original).abs().mean()
    # END SOLUTION


def identity_loss(same: torch.Tensor, original: torch.Tensor, lambda_cycle: float = 10.0,
                  lambda_identity: float = 0.5) -> torch.Tensor:
    """``lambda_identity * lambda * mean|G(y) - y|``: a generator fed its own target domain should leave it
    alone (0.5 * lambda in the paper; it keeps colours from drifting). Inputs as for :func:`cycle_loss`;
    both weights >= 0."""
    _check_l1_pair(same, original, ("same", "original"))
    check_number(lambda_cycle, "lambda_cycle", minimum=0.0)
    check_number(lambda_identity, "lambda_identity", minimum=0.0)
    # BEGIN SOLUTION exercise=cycle-loss hint="lambda_identity * lambda times the mean absolute difference"
    return lambda_identity * lambda_cycle * (same - original).abs().mean()
    # END SOLUTION


def _check_l1_pair(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    """Two finite tensors of one shape: a pair compared element for element, never broadcast."""
    check_same_shape(check_tensor(a, names[0]), check_tensor(b, names[1]), " and ".join(names))


# --- the image pool and the learning-rate schedule --------------------------------------------------------


class ImagePool:
    """A history of generated images for the discriminators (Shrivastava et al. 2017; CycleGAN's ``ImagePool``).

    :meth:`query` takes a batch (N, C, H, W) and returns one of the same shape. Image by image: while the
    pool holds fewer than ``size`` images, the new image is stored and returned; once full, with probability
    0.5 a random stored image is returned and the new one takes its place, otherwise the new image is
    returned. ``size=0`` returns the batch itself. Images are stored detached. Draws from its own generator
    (``seed``), part of :meth:`state_dict`, so that training resumes exactly. :meth:`query` takes finite,
    non-empty batches of one image shape (``ValueError`` otherwise).
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = check_int(size, "size", minimum=0)
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        check_tensor(images, "images", ndim=4, shape="(N, C, H, W)")
        if self.images and images.shape[1:] != self.images[0].shape:
            raise ValueError(f"images must have the pool's image shape {tuple(self.images[0].shape)}, got "
                             f"{tuple(images.shape)}; use one pool per image size")
        if self.size == 0:
            return images
        # BEGIN SOLUTION exercise=image-pool points=3 hint="image by image: store while filling; once full, with probability 0.5 swap with a random stored one (use self.generator)"
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator) < 0.5:
                index = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[index].to(image.device))  # a resumed pool is loaded onto the CPU
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)
        # END SOLUTION

    def state_dict(self) -> dict:
        return {"images": list(self.images), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.images = list(state["images"])
        self.generator.set_state(state["generator"])


def linear_decay(step: int, constant_steps: int, decay_steps: int) -> float:
    """The learning-rate factor at 0-based ``step``: 1 for the first ``constant_steps`` steps, then falling
    linearly by ``1 / (decay_steps + 1)`` per step: ``1 - max(0, step + 1 - constant_steps) / (decay_steps + 1)``.
    The authors' "linear" rule (there per epoch: 100 constant + 100 decaying); the last step,
    ``constant_steps + decay_steps - 1``, gets ``1 / (decay_steps + 1)``; ``step`` runs from 0 to
    ``constant_steps + decay_steps`` (factor 0: the schedule's end), all three ints >= 0."""
    check_int(constant_steps, "constant_steps", minimum=0)
    check_int(decay_steps, "decay_steps", minimum=0)
    check_int(step, "step", minimum=0, maximum=constant_steps + decay_steps)
    return 1.0 - max(0, step + 1 - constant_steps) / (decay_steps + 1)


# --- translation and training ----------------------------------------------------------------------------


@torch.no_grad()
def translate(generator: nn.Module, x: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """``generator(x)`` for images (N, C, H, W) in [0, 1], in batches, without gradients, in eval mode (the
    mode is restored), on the generator's device; returns CPU images in [0, 1]. ``x`` is not modified."""
    check_model(generator, "generator")
    check_images(x, channels=None)
    check_int(batch_size, "batch_size")
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    try:
        return torch.cat([generator(chunk.to(device)).cpu() for chunk in x.split(batch_size)])
    finally:
        generator.train(was_training)


HISTORY_KEYS = ("d_a", "d_b", "gan_g", "gan_f", "cycle_a", "cycle_b", "identity_a", "identity_b", "lr")


# The course's recipe for the 64x64 synthetic horses and zebras (notebook 08, benchmarks/cyclegan_training.py):
# ResnetGenerator(**SMALL_GENERATOR), PatchDiscriminator(**SMALL_DISCRIMINATOR), train_cyclegan(..., **SMALL_RECIPE).
# Sized by measurement to train in under 10 minutes on 2 CPU cores; the paper's sizes are the classes' defaults
# and PAPER_RECIPE. Departures: 16 channels instead of 64, 3 residual blocks instead of 6/9, 34x34 patches
# (n_layers=2) instead of 70x70 for 64 px pictures, and a learning rate of 1e-3 instead of 2e-4 for a run of
# 4,000 images instead of 200 epochs of about 1,000.
SMALL_GENERATOR = {"width": 16, "n_blocks": 3}
SMALL_DISCRIMINATOR = {"width": 16, "n_layers": 2}
SMALL_RECIPE = {"steps": 4000, "decay_steps": 2000, "batch_size": 1, "lr": 1e-3, "betas": (0.5, 0.999),
                "lambda_cycle": 10.0, "lambda_identity": 0.5, "pool_size": 50, "average_decay": 0.9995}
# Zhu et al. 2017 (horse2zebra, 256 px, ResnetGenerator(n_blocks=9), PatchDiscriminator()): 100 epochs at
# 2e-4, 100 decaying, batch 1; an epoch of the authors' code is max(1,067 horses, 1,334 zebras) steps.
PAPER_RECIPE = {"steps": 200 * 1334, "decay_steps": 100 * 1334, "batch_size": 1, "lr": 2e-4, "betas": (0.5, 0.999),
                "lambda_cycle": 10.0, "lambda_identity": 0.5, "pool_size": 50}


def train_cyclegan(
    G: nn.Module,
    F_: nn.Module,
    D_A: nn.Module,
    D_B: nn.Module,
    data_a: torch.Tensor,
    data_b: torch.Tensor,
    *,
    steps: int,
    decay_steps: int | None = None,
    batch_size: int = 1,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    lambda_cycle: float = 10.0,
    lambda_identity: float = 0.5,
    pool_size: int = 50,
    averages: tuple[nn.Module, nn.Module] | None = None,
    average_decay: float = 0.9995,
    seed: int | None = None,
    sample_a: torch.Tensor | None = None,
    sample_b: torch.Tensor | None = None,
    sample_every: int | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
) -> dict[str, list]:
    """Train a CycleGAN in place: ``G`` (A -> B), ``F_`` (B -> A), ``D_A`` and ``D_B``, for ``steps`` steps.

    Each step draws a batch of ``batch_size`` images from ``data_a`` and, independently, one from
    ``data_b`` (unpaired; shuffled epochs of each), then, as in the authors' code:

    1. the generators take one Adam step on
       ``lsgan_g_loss(D_B(G(a))) + lsgan_g_loss(D_A(F(b)))``  (fool the discriminators)
       ``+ cycle_loss(F(G(a)), a) + cycle_loss(G(F(b)), b)``  (come back: lambda_cycle, 10)
       ``+ identity_loss(F(a), a) + identity_loss(G(b), b)``  (leave the target domain alone; skipped if
       ``lambda_identity`` is 0);
    2. each discriminator takes one Adam step on :func:`lsgan_d_loss` of a real batch of its domain against
       the generated batch passed through its :class:`ImagePool` (``pool_size``, 50 in the paper).

    Adam with ``lr`` and ``betas`` (2e-4 and (0.5, 0.999) in the paper) for both pairs; the learning rate
    is constant for ``steps - decay_steps`` steps, then decays linearly (:func:`linear_decay`);
    ``decay_steps`` defaults to half the steps (the paper: 100 + 100 epochs).

    ``averages``: optionally copies of the two generators (``copy.deepcopy(G), copy.deepcopy(F_)`` before
    training), kept as exponential moving averages of their weights, ``average_decay`` per step
    (:func:`helpers.gan.update_average`), starting from the initial weights as :func:`helpers.gan.train_gan`'s
    average does. At 0.9995 the average weighs roughly the last 2,000 steps (after 4,000 steps the initial
    weights keep 0.9995^4000, about 14%). Training with batches of one image makes the generators' weights
    wander from step to step; the averages are steadier generators to use and to evaluate. The samples of
    ``sample_every`` come from the averages when given.

    Returns the history: per step, the losses ``d_a``, ``d_b``, ``gan_g``, ``gan_f``, ``cycle_a``,
    ``cycle_b``, ``identity_a``, ``identity_b`` (weighted as in the total) and ``lr``; and, if
    ``sample_every`` is given, at step 0 and every ``sample_every`` steps, ``samples``: dicts of
    ``G(sample_a)``, ``F(G(sample_a))``, ``F(sample_b)``, ``G(F(sample_b))`` (eval mode, CPU), at
    ``sample_steps``.

    ``checkpoint``: a file written every ``checkpoint_every`` steps and at the end; if it exists when
    training starts, training resumes from it exactly (weights, optimisers, pools, data order, step, RNG
    states), so a finished run returns at once. Unless the code has changed since it was written: the
    checkpoint records a :func:`helpers.checkpoint.code_fingerprint` of this function, the models' classes
    (their submodules' too) and the functions and classes the run uses (the losses, :class:`ImagePool`,
    :func:`linear_decay`...); if a bug fixed in any of them changed its source, training prints so and
    starts from scratch, replacing the file. ``seed`` fixes the data order and the pools (default:
    :func:`helpers.config.seed`); initialise the networks with :func:`helpers.config.seed_everything` first.
    Leaves all four networks (and the averages) in eval mode.
    """
    for name, model in (("G", G), ("F_", F_), ("D_A", D_A), ("D_B", D_B)):
        check_model(model, name)
    check_int(steps, "steps", minimum=0)
    decay_steps = steps // 2 if decay_steps is None else decay_steps
    check_int(decay_steps, "decay_steps", minimum=0)
    if decay_steps > steps:
        raise ValueError(f"decay_steps ({decay_steps}) must not exceed steps ({steps})")
    check_number(lr, "lr", positive=True)
    check_number(lambda_cycle, "lambda_cycle", minimum=0.0)
    check_number(lambda_identity, "lambda_identity", minimum=0.0)
    check_int(pool_size, "pool_size", minimum=0)
    if not check_number(average_decay, "average_decay", minimum=0.0) < 1:
        raise ValueError(f"average_decay must be in [0, 1) (e.g. 0.9995: about the last 2,000 steps), got {average_decay!r}")
    if averages is not None:
        if not (isinstance(averages, (tuple, list)) and len(averages) == 2):
            raise ValueError("averages must be a pair (copy.deepcopy(G), copy.deepcopy(F_)), or None")
        for average, model, name in zip(averages, (G, F_), ("G", "F_")):
            check_model(average, f"the average of {name}")
            if [p.shape for p in average.parameters()] != [p.shape for p in model.parameters()]:
                raise ValueError(f"averages must be copies of the generators (copy.deepcopy({name})) made before "
                                 "training, with the same parameters")
    check_images(data_a, name="data_a", channels=None)
    check_images(data_b, name="data_b", channels=None)
    if data_a.shape[1:] != data_b.shape[1:]:
        raise ValueError(f"data_a and data_b must hold images of one shape, got {tuple(data_a.shape[1:])} and "
                         f"{tuple(data_b.shape[1:])}; resize them (load_image_folders(size=...))")
    check_int(batch_size, "batch_size")
    if batch_size > min(len(data_a), len(data_b)):
        raise ValueError(f"batch_size {batch_size} is larger than the smaller domain ({min(len(data_a), len(data_b))} images)")
    check_int(checkpoint_every, "checkpoint_every")
    if sample_every is not None:
        check_int(sample_every, "sample_every")
        if sample_a is None or sample_b is None:
            raise ValueError("sample_every needs sample_a and sample_b (a few fixed images of each domain)")
        check_images(sample_a, name="sample_a", channels=None)
        check_images(sample_b, name="sample_b", channels=None)

    device = next(G.parameters()).device
    generators, discriminators = (G, F_), (D_A, D_B)
    opt_g = torch.optim.Adam(itertools.chain(G.parameters(), F_.parameters()), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(itertools.chain(D_A.parameters(), D_B.parameters()), lr=lr, betas=betas)
    constant_steps = steps - decay_steps
    schedules = [torch.optim.lr_scheduler.LambdaLR(opt, lambda s: linear_decay(s, constant_steps, decay_steps))
                 for opt in (opt_g, opt_d)]
    seed = config.seed() if seed is None else seed
    batches_a, batches_b = _Batches(len(data_a), batch_size, seed), _Batches(len(data_b), batch_size, seed + 1)
    pool_a, pool_b = ImagePool(pool_size, seed + 2), ImagePool(pool_size, seed + 3)
    settings = {"steps": steps, "decay_steps": decay_steps, "batch_size": batch_size, "lr": float(lr),
                "betas": [float(b) for b in betas], "lambda_cycle": float(lambda_cycle),
                "lambda_identity": float(lambda_identity), "pool_size": pool_size, "seed": seed,
                "average_decay": float(average_decay) if averages is not None else None}
    history: dict[str, list] = {key: [] for key in HISTORY_KEYS} | {"sample_steps": [], "samples": []}
    start = 0
    # The code this run depends on (input checks aside): a checkpoint from other code is not resumed
    code = code_fingerprint(
        train_cyclegan, *_model_classes(G, F_, D_A, D_B, *(averages or ())), init_weights, _norm, _Batches, ImagePool,
        linear_decay, lsgan_g_loss, lsgan_d_loss, cycle_loss, *((identity_loss,) if lambda_identity > 0 else ()),
        *((update_average,) if averages is not None else ()), *((translate,) if sample_every is not None else ()))
    state = resume_state(checkpoint, settings, code=code)
    if state is not None:
        for model, key in zip((*generators, *discriminators), ("G", "F", "D_A", "D_B")):
            model.load_state_dict(state[key])
        if averages is not None:
            for average, key in zip(averages, ("G_average", "F_average")):
                average.load_state_dict(state[key])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        for schedule, key in zip(schedules, ("schedule_g", "schedule_d")):
            schedule.load_state_dict(state[key])
        batches_a.load_state_dict(state["batches_a"])
        batches_b.load_state_dict(state["batches_b"])
        pool_a.load_state_dict(state["pool_a"])
        pool_b.load_state_dict(state["pool_b"])
        set_rng_state(state["rng"])
        history, start = state["history"], state["step"]

    def samples() -> dict[str, torch.Tensor]:
        g, f = (G, F_) if averages is None else averages
        fake_b = translate(g, sample_a)
        fake_a = translate(f, sample_b)
        return {"G(a)": fake_b, "F(G(a))": translate(f, fake_b), "F(b)": fake_a, "G(F(b))": translate(g, fake_a)}

    if start == 0 and sample_every is not None:
        history["sample_steps"].append(0)
        history["samples"].append(samples())
    bar = tqdm(range(start, steps), desc="CycleGAN training", disable=not progress, initial=start, total=steps)
    for step in bar:
        for model in (*generators, *discriminators):
            model.train()
        real_a, real_b = data_a[batches_a.next()].to(device), data_b[batches_b.next()].to(device)

        # 1. the generators, judged by the current discriminators (whose weights get no gradient here)
        fake_b, fake_a = G(real_a), F_(real_b)
        losses = {
            "gan_g": lsgan_g_loss(D_B(fake_b)),
            "gan_f": lsgan_g_loss(D_A(fake_a)),
            "cycle_a": cycle_loss(F_(fake_b), real_a, lambda_cycle),
            "cycle_b": cycle_loss(G(fake_a), real_b, lambda_cycle),
        }
        if lambda_identity > 0:
            losses["identity_a"] = identity_loss(F_(real_a), real_a, lambda_cycle, lambda_identity)
            losses["identity_b"] = identity_loss(G(real_b), real_b, lambda_cycle, lambda_identity)
        opt_g.zero_grad(set_to_none=True)
        sum(losses.values()).backward(inputs=list(itertools.chain(G.parameters(), F_.parameters())))
        opt_g.step()
        if averages is not None:
            for average, model in zip(averages, generators):
                update_average(average, model, average_decay)

        # 2. the discriminators, on real images and on pooled fakes
        loss_d_a = lsgan_d_loss(D_A(real_a), D_A(pool_a.query(fake_a)))
        loss_d_b = lsgan_d_loss(D_B(real_b), D_B(pool_b.query(fake_b)))
        opt_d.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        opt_d.step()

        history["lr"].append(opt_g.param_groups[0]["lr"])
        for schedule in schedules:
            schedule.step()
        history["d_a"].append(loss_d_a.item())
        history["d_b"].append(loss_d_b.item())
        for key in ("gan_g", "gan_f", "cycle_a", "cycle_b", "identity_a", "identity_b"):
            history[key].append(losses[key].item() if key in losses else 0.0)
        done = step + 1
        if sample_every is not None and done % sample_every == 0:
            history["sample_steps"].append(done)
            history["samples"].append(samples())
        bar.set_postfix({"D_A": f"{history['d_a'][-1]:.3f}", "D_B": f"{history['d_b'][-1]:.3f}",
                         "cycle": f"{history['cycle_a'][-1] + history['cycle_b'][-1]:.3f}"})
        if checkpoint is not None and (done % checkpoint_every == 0 or done == steps):
            save_checkpoint(checkpoint, {
                "G": G.state_dict(), "F": F_.state_dict(), "D_A": D_A.state_dict(), "D_B": D_B.state_dict(),
                "G_average": None if averages is None else averages[0].state_dict(),
                "F_average": None if averages is None else averages[1].state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "schedule_g": schedules[0].state_dict(), "schedule_d": schedules[1].state_dict(),
                "batches_a": batches_a.state_dict(), "batches_b": batches_b.state_dict(),
                "pool_a": pool_a.state_dict(), "pool_b": pool_b.state_dict(),
                "step": done, "settings": settings, "code": code, "rng": rng_state(), "history": history,
            })
    for model in (*generators, *discriminators, *(averages or ())):
        model.eval()
    return history
