"""A DCGAN for small grey images (digits), its losses, virtual batchnorm and a training loop.

Images are float tensors (N, C, S, S) in [0, 1], as everywhere in the course. The [-1, 1] range that a tanh
generator and the DCGAN recipe want lives *inside* the models: the generator's last layer is a tanh rescaled
to [0, 1], and the discriminator's first operation maps [0, 1] to [-1, 1]. Latent codes are (N, latent_dim)
draws from N(0, I). The discriminator returns logits (N,); the losses take logits, so that they can use
log-sigmoid and never evaluate ``log(0)``. Bad input (NaN, the wrong shape or dtype, an empty batch, a
setting out of range) raises ``ValueError`` (``TypeError`` for a wrong type) naming the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config
from .checkpoint import code_fingerprint, resume_state, rng_state, save_checkpoint, set_rng_state
from .validation import check_images, check_int, check_model, check_number, check_probability, check_tensor

__all__ = [
    "BASELINE", "BASELINE_GENERATOR", "BASELINE_STEPS", "G_LOSSES", "G_OPTIMIZERS", "NORMS", "Discriminator",
    "Generator",
    "VirtualBatchNorm", "d_loss", "dcgan_init", "g_loss_non_saturating", "g_loss_saturating", "generate",
    "recalibrate_batchnorm", "sample_latent", "train_gan", "update_average",
]

NORMS = ("batch", "virtual")
G_OPTIMIZERS = ("adam", "sgd")


def _check_size(image_size: int) -> int:
    """The number of stride-2 stages between 4x4 and ``image_size`` (a power of two >= 8)."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 8 (pixels), got {image_size!r}; "
                         "upscale the data to fit, e.g. load_digits(size=16)")
    return int(math.log2(image_size)) - 2


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN initialisation (Radford et al. 2016): convolution weights ~ N(0, 0.02); normalisation
    scales ~ N(1, 0.02), shifts 0. Use as ``model.apply(dcgan_init)``; draws from torch's global RNG."""
    check_model(module, "module")
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, VirtualBatchNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class VirtualBatchNorm(nn.Module):
    """Virtual batch normalisation (Salimans et al. 2016, "Improved techniques for training GANs").

    ``forward(x, reference)`` takes a batch ``x`` and the layer's input for a *reference batch* of M
    examples (chosen once, before training, and fed through the network at every step) and returns
    ``(x_normalised, reference_normalised)``, both of their input shapes, (N, C) or (N, C, H, W):

    - the reference batch is normalised with its own per-channel statistics (exactly batchnorm on it);
    - each example of ``x`` is normalised with the per-channel mean and mean square mixed as
      ``1/(M+1)`` of its own (over its H x W positions) and ``M/(M+1)`` of the reference batch's.

    So an example's output depends on itself and the reference batch, never on the rest of its minibatch,
    and there is no train/eval difference. A learned scale and shift per channel follow, as in batchnorm.
    Gradients flow through the reference statistics too, as in the paper. A layer inside the generator:
    like torch's own layers, it passes NaN through (the generator's input check catches it).
    """

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        check_int(num_features, "num_features")
        check_number(eps, "eps", minimum=0.0)
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def _affine(self, x: torch.Tensor, mean: torch.Tensor, mean_sq: torch.Tensor) -> torch.Tensor:
        variance = (mean_sq - mean.square()).clamp_min(0.0)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return (x - mean) * torch.rsqrt(variance + self.eps) * self.weight.view(shape) + self.bias.view(shape)

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_tensor(x, "x", finite=False)
        check_tensor(reference, "reference", finite=False)
        if x.ndim not in (2, 4) or reference.ndim != x.ndim or x.shape[1:] != reference.shape[1:]:
            raise ValueError(f"x and reference must be (N, C) or (N, C, H, W) with the same C, H, W; "
                             f"got {tuple(x.shape)} and {tuple(reference.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"expected {self.num_features} channels in dimension 1, got {tuple(x.shape)}")
        # BEGIN SOLUTION exercise=virtual-batchnorm points=3 hint="per channel: the reference batch's mean and mean square; mix 1/(M+1) own, M/(M+1) reference; then self._affine"
        spatial = tuple(range(2, x.ndim))  # () for (N, C)
        ref_mean = reference.mean(dim=(0, *spatial), keepdim=True)
        ref_mean_sq = reference.square().mean(dim=(0, *spatial), keepdim=True)
        own_mean = x.mean(dim=spatial, keepdim=True) if spatial else x
        own_mean_sq = x.square().mean(dim=spatial, keepdim=True) if spatial else x.square()
        new = 1.0 / (len(reference) + 1.0)
        mean = new * own_mean + (1.0 - new) * ref_mean
        mean_sq = new * own_mean_sq + (1.0 - new) * ref_mean_sq
        return self._affine(x, mean, mean_sq), self._affine(reference, ref_mean, ref_mean_sq)
        # END SOLUTION


class Generator(nn.Module):
    """DCGAN generator: latent codes (N, latent_dim) -> images (N, channels, image_size, image_size) in [0, 1].

    It draws at ``native_size`` (default: ``image_size``): a transposed convolution turns the code into a
    4x4 map of ``width * 2**stages`` channels; each of the ``stages = log2(native_size / 4)`` stride-2
    transposed convolutions doubles the size and halves the channels (each followed by batchnorm or virtual
    batchnorm, and ReLU); a 3x3 convolution maps the last ``width`` channels to the image, through a tanh
    rescaled from [-1, 1] to [0, 1]. If ``native_size < image_size``, a fixed bilinear upsampling follows:
    the 8x8 digits that :func:`helpers.digits.load_digits` upscales to 16x16 are best drawn at 8x8 and
    upscaled the same way (the course's baseline, :data:`BASELINE_GENERATOR`: 16 -> (128, 4, 4) ->
    (64, 8, 8) -> (1, 8, 8) -> (1, 16, 16), 0.16 M parameters). ``norm="virtual"`` uses
    :class:`VirtualBatchNorm` with a reference batch of ``reference_size`` latent codes drawn once from
    N(0, I) with ``reference_seed`` (a buffer, saved with the weights). Weights start from :func:`dcgan_init`.
    ``forward`` takes finite float codes (N, latent_dim), N >= 1.
    """

    def __init__(self, latent_dim: int = 16, *, image_size: int = 16, native_size: int | None = None,
                 channels: int = 1, width: int = 64, norm: str = "batch", reference_size: int = 64,
                 reference_seed: int = 0):
        super().__init__()
        native_size = image_size if native_size is None else native_size
        check_int(latent_dim, "latent_dim")
        check_int(channels, "channels")
        check_int(width, "width")
        check_int(reference_size, "reference_size")
        check_int(reference_seed, "reference_seed", minimum=0)
        _check_size(image_size)
        stages = _check_size(native_size)
        if native_size > image_size:
            raise ValueError(f"native_size ({native_size}) must not exceed image_size ({image_size})")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.latent_dim, self.image_shape, self.norm = latent_dim, (channels, image_size, image_size), norm
        Norm = nn.BatchNorm2d if norm == "batch" else VirtualBatchNorm
        out = width * 2**stages
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, out, 4, 1, 0, bias=False), Norm(out), nn.ReLU()]
        for _ in range(stages):
            layers += [nn.ConvTranspose2d(out, out // 2, 4, 2, 1, bias=False), Norm(out // 2), nn.ReLU()]
            out //= 2
        layers += [nn.Conv2d(out, channels, 3, 1, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.upsample = None if native_size == image_size else nn.Upsample(size=image_size, mode="bilinear")
        if norm == "virtual":
            reference = torch.randn(reference_size, latent_dim, generator=torch.Generator().manual_seed(reference_seed))
            self.register_buffer("reference_z", reference)
        self.apply(dcgan_init)
        self.to(memory_format=torch.channels_last)  # about 12% faster convolutions on a CPU

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        check_tensor(z, "z", ndim=2, shape=f"(N, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        h = z[:, :, None, None]
        if self.norm == "batch":
            h = self.net(h)
        else:  # the reference batch goes through every layer with the batch (concatenated in front of it)
            m = len(self.reference_z)
            h = torch.cat([self.reference_z[:, :, None, None], h])
            for layer in self.net:
                if isinstance(layer, VirtualBatchNorm):
                    batch, reference = layer(h[m:], h[:m])
                    h = torch.cat([reference, batch])
                else:
                    h = layer(h)
            h = h[m:]
        images = (h + 1) / 2  # tanh's [-1, 1] -> [0, 1]
        return images if self.upsample is None else self.upsample(images)  # convex weights: stays in [0, 1]


class Discriminator(nn.Module):
    """DCGAN discriminator: images (N, channels, image_size, image_size) in [0, 1] -> logits (N,).

    Maps the images to [-1, 1], then strided 4x4 convolutions halve the size and double the channels
    (LeakyReLU 0.2; batchnorm after all but the first) down to 4x4, and a last 4x4 convolution gives one
    logit. For 16x16: (1, 16, 16) -> (64, 8, 8) -> (128, 4, 4) -> logit. Weights start from :func:`dcgan_init`.
    ``forward`` checks its input like any images (finite, in [0, 1], non-empty).
    """

    def __init__(self, *, image_size: int = 16, channels: int = 1, width: int = 64):
        super().__init__()
        check_int(channels, "channels")
        check_int(width, "width")
        stages = _check_size(image_size)
        self.image_shape = (channels, image_size, image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        out = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(out, 2 * out, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * out), nn.LeakyReLU(0.2)]
            out *= 2
        layers += [nn.Conv2d(out, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)
        self.to(memory_format=torch.channels_last)  # about 12% faster convolutions on a CPU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor(x, "x", finite=False)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, self.image_shape))}), got {tuple(x.shape)}")
        check_images(x, channels=None)
        return self.net(x * 2 - 1).flatten()  # [0, 1] -> [-1, 1], as the tanh generator's range


# --- losses, on the discriminator's logits ---------------------------------------------------------------


def _check_real_label(real_label: float) -> float:
    return check_number(real_label, "real_label", positive=True, maximum=1.0,
                        hint="1: no smoothing; 0.9: one-sided label smoothing")


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """The discriminator's cost: ``-mean(t log D(x) + (1-t) log(1-D(x))) - mean(log(1 - D(G(z))))``.

    ``D = sigmoid(logits)`` and ``t = real_label``: 1 is the plain GAN cost; ``t < 1`` is one-sided label
    smoothing (Salimans et al. 2016 use 0.9), where only the real targets move and fake targets stay 0.
    Computed with log-sigmoid (binary cross-entropy on logits): finite for any finite logits. The logits:
    finite floating tensors (N,) (any shape; real and fake may differ in length).
    """
    check_tensor(real_logits, "real_logits")
    check_tensor(fake_logits, "fake_logits")
    real_label = _check_real_label(real_label)
    # BEGIN SOLUTION exercise=discriminator-cost points=2 hint="binary cross-entropy on logits: real targets real_label, fake targets 0"
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake
    # END SOLUTION


def g_loss_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The minimax generator cost ``mean(log(1 - D(G(z))))``, minimised. Its gradient with respect to a
    logit is ``-D(G(z)) / N``: it vanishes when the discriminator rejects the samples, early in training.
    ``fake_logits``: a finite floating tensor (N,)."""
    check_tensor(fake_logits, "fake_logits")
    # BEGIN SOLUTION exercise=generator-costs points=2 hint="log(1 - sigmoid(l)) = logsigmoid(-l): finite for any logit"
    return F.logsigmoid(-fake_logits).mean()  # log(1 - sigmoid(l)) = log sigmoid(-l)
    # END SOLUTION


def g_loss_non_saturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator cost ``-mean(log D(G(z)))``. Its gradient with respect to a logit is
    ``-(1 - D(G(z))) / N``: largest exactly when the discriminator rejects the samples. ``fake_logits``: a
    finite floating tensor (N,)."""
    check_tensor(fake_logits, "fake_logits")
    # BEGIN SOLUTION exercise=generator-costs hint="-log sigmoid(l), with F.logsigmoid: finite for any logit"
    return -F.logsigmoid(fake_logits).mean()
    # END SOLUTION


G_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "saturating": g_loss_saturating,
    "non_saturating": g_loss_non_saturating,
}


# --- sampling and training -------------------------------------------------------------------------------


def sample_latent(n: int, latent_dim: int, seed: int | None = None) -> torch.Tensor:
    """``n`` latent codes (n, latent_dim) from N(0, I): from ``seed`` (an int >= 0) if given, else from torch's
    global RNG. ``n`` and ``latent_dim`` are ints >= 1."""
    check_int(n, "n")
    check_int(latent_dim, "latent_dim")
    if seed is not None:
        check_int(seed, "seed", minimum=0)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=generator)


@torch.no_grad()
def generate(generator: nn.Module, z: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Images (N, C, S, S) in [0, 1] on the CPU for latent codes ``z`` (N, latent_dim), finite floats, N >= 1,
    in eval mode (the generator's mode is restored), in batches of ``batch_size`` (an int >= 1)."""
    check_model(generator, "generator")
    check_tensor(z, "z", ndim=2, shape="(N, latent_dim)")
    check_int(batch_size, "batch_size")
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    try:
        return torch.cat([generator(chunk.to(device)).cpu() for chunk in z.split(batch_size)]).contiguous()
    finally:
        generator.train(was_training)


class _Batches:
    """Endless minibatches of indices into n examples: shuffled epochs, the incomplete last batch dropped.
    Its own generator and position are its state, so training resumes mid-epoch exactly."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.position = torch.randperm(n, generator=self.generator), 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:
            self.order, self.position = torch.randperm(self.n, generator=self.generator), 0
        self.position += self.batch_size
        return self.order[self.position - self.batch_size:self.position]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self.order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"], state["position"]


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """One step of an exponential moving average of weights: ``w_avg <- decay w_avg + (1 - decay) w``.

    ``average`` (updated in place) and ``model`` must have the same parameter shapes (``average`` is a
    ``copy.deepcopy(model)``); ``decay`` is in [0, 1]."""
    check_model(average, "average")
    check_model(model)
    check_probability(decay, "decay")
    if [p.shape for p in average.parameters()] != [p.shape for p in model.parameters()]:
        raise ValueError("average and model must have the same parameters (shapes in order); make the average "
                         "with copy.deepcopy(model)")
    # BEGIN SOLUTION exercise=weight-average points=1 hint="w_avg <- decay * w_avg + (1 - decay) * w, in place, for every parameter"
    for averaged, current in zip(average.parameters(), model.parameters(), strict=True):
        averaged.lerp_(current, 1.0 - decay)
    # END SOLUTION


@torch.no_grad()
def recalibrate_batchnorm(generator: nn.Module, *, batches: int = 20, batch_size: int = 256, seed: int = 0) -> None:
    """Recompute a generator's batchnorm running statistics from ``batches`` x ``batch_size`` fresh codes.

    Averaged weights need their own statistics: the running statistics of the network they were averaged
    from belong to other weights. The average over all the batches (not a moving one) is kept; the codes
    come from ``seed``, so the result is deterministic. Restores the generator's mode; no-op without
    batchnorm (e.g. virtual batchnorm, which keeps no statistics). ``batches``, ``batch_size``: ints >= 1.
    """
    check_model(generator, "generator")
    check_int(batches, "batches")
    check_int(batch_size, "batch_size")
    check_int(seed, "seed", minimum=0)
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    if not isinstance(getattr(generator, "latent_dim", None), int):
        raise ValueError("generator must have an int .latent_dim (a helpers.gan.Generator) to draw codes for it")
    was_training, momenta = generator.training, [m.momentum for m in norms]
    device = next(generator.parameters()).device
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    generator.train()
    try:
        for index in range(batches):
            generator(sample_latent(batch_size, generator.latent_dim, seed=seed + index).to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        generator.train(was_training)


# The course's baseline for the 16x16 digits (notebooks 05-07, benchmarks/gan_training.py):
# Generator(**BASELINE_GENERATOR), Discriminator(), copy.deepcopy(generator) as the average, and
# train_gan(..., **BASELINE). Chosen by measurement on this data; notebook 06 varies one thing at a time.
# 7,000 steps: judged by digits_classifier(), 82-84% of the samples are confident digits on seeds 0, 1 and 2,
# where 5,500 steps gave 78-83% (a learning rate decaying over the second half, as CycleGAN's, changed nothing
# measurable). benchmarks/README.md has the audit over COURSE_SEED 0-2.
BASELINE_GENERATOR = {"latent_dim": 16, "native_size": 8, "width": 64}
BASELINE_STEPS = 7000
BASELINE = {"steps": BASELINE_STEPS, "k_d": 1, "lr_d": 1e-4, "lr_g": 8e-4, "g_loss": "non_saturating",
            "real_label": 1.0, "batch_size": 64, "average_decay": 0.995}


def _model_classes(*models: nn.Module | None) -> list[type]:
    """The classes of ``models`` and of all their submodules, in order of first appearance, torch's own left
    out (they change only with torch): what :func:`helpers.checkpoint.code_fingerprint` of a run covers."""
    classes: list[type] = []
    for model in models:
        for module in () if model is None else model.modules():
            kind = type(module)
            if kind not in classes and kind.__module__.split(".")[0] != "torch":
                classes.append(kind)
    return classes


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    data: torch.Tensor,
    *,
    steps: int,
    k_d: int = 1,
    lr_d: float,
    lr_g: float,
    g_loss: str = "non_saturating",
    real_label: float = 1.0,
    batch_size: int = 64,
    betas: tuple[float, float] = (0.5, 0.999),
    g_optimizer: str = "adam",
    average: nn.Module | None = None,
    average_decay: float = 0.995,
    seed: int | None = None,
    sample_every: int | None = None,
    n_samples: int = 64,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 100,
    progress: bool = True,
) -> dict[str, list]:
    """Train a GAN in place: ``steps`` generator updates, each after ``k_d`` discriminator updates.

    Goodfellow et al. 2014, Algorithm 1, with Adam (``betas``; DCGAN's beta1 = 0.5) and a learning rate per
    network. ``g_optimizer="sgd"`` trains the generator with plain stochastic gradient descent instead
    (momentum 0.5, as Goodfellow et al. 2014): Adam divides each weight's step by the running size of its
    gradient, so it hides a gradient that is uniformly small; SGD's steps shrink with the gradient. A discriminator update draws a real minibatch from ``data`` (N, C, S, S) in [0, 1] (shuffled
    epochs) and ``batch_size`` fresh latent codes, and minimises :func:`d_loss` with ``real_label``; the
    generator update then minimises ``g_loss`` ("non_saturating" or "saturating") on the samples of the last
    discriminator update, judged by the updated discriminator (as in PyTorch's DCGAN example: this saves a
    generator forward pass per step and changes nothing in expectation).

    ``average``: optionally a copy of the generator (``copy.deepcopy(generator)`` before training) that is
    kept as the exponential moving average of its weights, ``average_decay`` per step (Yazici et al. 2019),
    with its batchnorm statistics recomputed (:func:`recalibrate_batchnorm`) whenever it makes samples and at
    the end. A GAN's generator oscillates around the game's equilibrium; the average smooths that out.

    Returns the history, one entry per step: ``d_loss`` (mean over the step's ``k_d`` updates), ``g_loss``,
    ``d_real`` = mean D(x) and ``d_fake`` = mean D(G(z)) (probabilities, in the discriminator updates); and
    at step 0 and every ``sample_every`` steps, the images (n_samples, C, S, S) made in eval mode from one
    fixed set of latent codes by the average if given, else the generator: ``samples``, at ``sample_steps``.

    ``checkpoint``: a file written every ``checkpoint_every`` steps and at the end; if it exists when training
    starts, training resumes from it exactly (weights, optimisers, average, step, data order, noise and RNG
    state), so a finished run returns at once. Unless the code has changed since it was written: the
    checkpoint records a :func:`helpers.checkpoint.code_fingerprint` of this function, the models' classes
    (their submodules' too, e.g. :class:`VirtualBatchNorm`) and the functions the run calls (:func:`d_loss`,
    the chosen generator loss, :func:`update_average`...); if a bug fixed in any of them changed its source,
    training prints so and starts from scratch, replacing the file.

    ``seed`` fixes the data order, the noise and the fixed sample codes (default: :func:`helpers.config.seed`,
    so ``COURSE_SEED`` changes them); initialise the networks with :func:`helpers.config.seed_everything`
    first. Leaves the networks (and the average) in eval mode.
    """
    check_model(generator, "generator")
    check_model(discriminator, "discriminator")
    check_int(steps, "steps", minimum=0)
    check_int(k_d, "k_d (discriminator updates per generator update)")
    check_number(lr_d, "lr_d", positive=True)
    check_number(lr_g, "lr_g", positive=True)
    if g_loss not in G_LOSSES:
        raise ValueError(f"g_loss must be one of {tuple(G_LOSSES)}, got {g_loss!r}")
    if g_optimizer not in G_OPTIMIZERS:
        raise ValueError(f"g_optimizer must be one of {G_OPTIMIZERS}, got {g_optimizer!r}")
    real_label = _check_real_label(real_label)
    if not check_number(average_decay, "average_decay", minimum=0.0) < 1:
        raise ValueError(f"average_decay must be in [0, 1) (e.g. 0.995: about the last 200 steps), got {average_decay!r}")
    if average is not None:
        check_model(average, "average")
    check_int(n_samples, "n_samples")
    if average is not None and [p.shape for p in average.parameters()] != [p.shape for p in generator.parameters()]:
        raise ValueError("average must be a copy of the generator (copy.deepcopy(generator)), with the same parameters")
    check_images(data, name="data", channels=None)
    shape = getattr(generator, "image_shape", tuple(data.shape[1:]))
    if tuple(data.shape[1:]) != tuple(shape):
        raise ValueError(f"data are images of shape {tuple(data.shape[1:])} but the generator makes {tuple(shape)}; "
                         "resize the data (e.g. load_digits(size=16)) or build the models for this size")
    check_int(batch_size, "batch_size")
    if batch_size > len(data):
        raise ValueError(f"batch_size {batch_size} is larger than the {len(data)} training images")
    check_int(checkpoint_every, "checkpoint_every")
    if sample_every is not None:
        check_int(sample_every, "sample_every")

    device = next(discriminator.parameters()).device
    latent_dim = generator.latent_dim
    generator_loss = G_LOSSES[g_loss]
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr_d, betas=betas)
    opt_g = (torch.optim.Adam(generator.parameters(), lr=lr_g, betas=betas) if g_optimizer == "adam"
             else torch.optim.SGD(generator.parameters(), lr=lr_g, momentum=0.5))
    seed = config.seed() if seed is None else seed
    batches = _Batches(len(data), batch_size, seed)
    noise = torch.Generator().manual_seed(seed + 1)
    fixed_z = sample_latent(n_samples, latent_dim, seed=seed + 2)
    settings = {"k_d": k_d, "lr_d": float(lr_d), "lr_g": float(lr_g), "g_loss": g_loss, "real_label": real_label,
                "batch_size": batch_size, "betas": [float(b) for b in betas], "seed": seed, "n_samples": n_samples,
                "average_decay": float(average_decay) if average is not None else None}
    if g_optimizer != "adam":  # a setting only when it is not the default, so older checkpoints stay comparable
        settings["g_optimizer"] = g_optimizer
    history: dict[str, list] = {"d_loss": [], "g_loss": [], "d_real": [], "d_fake": [], "sample_steps": [], "samples": []}
    start = 0
    # The code this run depends on (input checks aside): a checkpoint from other code is not resumed. The
    # same for every run of these settings, whether it draws samples or not (sample_every is not a setting:
    # notebook 07 resumes notebook 05's run, which drew them).
    code = code_fingerprint(
        train_gan, *_model_classes(generator, discriminator, average), dcgan_init, _Batches, sample_latent, d_loss,
        generator_loss, generate, *((update_average, recalibrate_batchnorm) if average is not None else ()))
    state = resume_state(checkpoint, settings, code=code)
    if state is not None:
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        if average is not None:
            average.load_state_dict(state["average"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        batches.load_state_dict(state["batches"])
        noise.set_state(state["noise"])
        set_rng_state(state["rng"])
        history, start = state["history"], state["step"]
        if start > steps:
            raise ValueError(f"{checkpoint} is at step {start}, beyond steps={steps}; ask for at least {start} steps, "
                             "or use another file")

    def sampler() -> nn.Module:
        if average is None:
            return generator
        recalibrate_batchnorm(average, seed=seed + 3)
        return average

    def latent() -> torch.Tensor:
        return torch.randn(batch_size, latent_dim, generator=noise).to(device)

    if start == 0 and sample_every is not None:
        history["sample_steps"].append(0)
        history["samples"].append(generate(sampler(), fixed_z))
    bar = tqdm(range(start, steps), desc="GAN training", disable=not progress, initial=start, total=steps)
    for step in bar:
        generator.train()
        discriminator.train()
        d_losses, d_real, d_fake = [], [], []
        for update in range(k_d):
            real = data[batches.next()].to(device)
            if update < k_d - 1:
                with torch.no_grad():
                    fake = generator(latent())
            else:  # the last one keeps the graph: the generator update reuses these samples
                fake = generator(latent())
            real_logits, fake_logits = discriminator(real), discriminator(fake.detach())
            loss = d_loss(real_logits, fake_logits, real_label)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
            d_losses.append(loss.item())
            d_real.append(torch.sigmoid(real_logits).mean().item())
            d_fake.append(torch.sigmoid(fake_logits).mean().item())
        loss = generator_loss(discriminator(fake))  # judged by the updated discriminator
        opt_g.zero_grad(set_to_none=True)
        loss.backward(inputs=list(generator.parameters()))  # no gradients for D's weights: not needed
        opt_g.step()
        if average is not None:
            update_average(average, generator, average_decay)

        history["d_loss"].append(sum(d_losses) / k_d)
        history["g_loss"].append(loss.item())
        history["d_real"].append(sum(d_real) / k_d)
        history["d_fake"].append(sum(d_fake) / k_d)
        done = step + 1
        if sample_every is not None and done % sample_every == 0:
            history["sample_steps"].append(done)
            history["samples"].append(generate(sampler(), fixed_z))
        bar.set_postfix({"D loss": f"{history['d_loss'][-1]:.2f}", "G loss": f"{loss.item():.2f}",
                         "D(x)": f"{history['d_real'][-1]:.2f}", "D(G(z))": f"{history['d_fake'][-1]:.2f}"})
        if checkpoint is not None and (done % checkpoint_every == 0 or done == steps):
            save_checkpoint(checkpoint, {
                "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
                "average": None if average is None else average.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": done, "settings": settings,
                "code": code, "batches": batches.state_dict(), "noise": noise.get_state(), "rng": rng_state(),
                "history": history,
            })
    generator.eval()
    discriminator.eval()
    if average is not None:
        sampler().eval()
    return history
