"""GAN ablations: many short trainings of the course's baseline, run side by side, summarised over seeds.

Notebook 06 trains notebook 05's baseline DCGAN (:data:`helpers.gan.BASELINE`) with one thing changed at a
time, over several seeds, and sometimes under a stress that a trick exists to prevent (a discriminator with
a head start, a discriminator that lags). A run is an :class:`AblationRun`; :func:`train_ablation_runs`
trains a list of them, each in a worker process with one CPU thread. The runs are independent, so this uses
every core at once, and each run's result depends only on its own settings: not on the number of workers or
threads, nor on the order the runs finish in. (Training several small GANs as one batched model, with
grouped convolutions, was measured too: on a CPU it is no faster than using the cores for separate runs,
``benchmarks/gan_ablations.py``.)

Images are float tensors (N, C, S, S) in [0, 1], latent codes (N, latent_dim), as in :mod:`helpers.gan`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .digits import load_digits
from .gan import BASELINE, BASELINE_GENERATOR, NORMS, Discriminator, Generator, generate, sample_latent, train_gan
from .validation import check_int, check_model, check_tensor

__all__ = ["CHANGEABLE", "AblationRun", "batch_coupling", "mean_and_spread", "train_ablation_run",
           "train_ablation_runs"]

# The settings of train_gan that a run may change (the rest of helpers.gan.BASELINE stays as it is).
CHANGEABLE = ("k_d", "lr_d", "lr_g", "g_loss", "g_optimizer", "real_label")


@dataclasses.dataclass(frozen=True)
class AblationRun:
    """One training run: notebook 05's baseline DCGAN on the 16x16 training digits, with ``changes``.

    - ``row``: the name of the table row the run belongs to (several seeds share a row).
    - ``seed``: an int >= 0; it fixes the initial weights, the data order and the noise.
    - ``steps``: generator updates (int >= 1); with ``k_d`` = 5 the discriminator makes five times as many.
    - ``changes``: train_gan settings that differ from :data:`helpers.gan.BASELINE`, among :data:`CHANGEABLE`,
      e.g. ``{"g_loss": "saturating"}`` or ``{"lr_d": 2e-5, "k_d": 5}``.
    - ``norm``: the generator's normalisation, "batch" or "virtual".
    - ``head_start``: discriminator updates (int >= 0) against the untrained generator before training starts
      (with the run's own D settings: ``lr_d``, ``real_label``), so that D starts ahead and rejects G's samples.
    """

    row: str
    seed: int
    steps: int
    changes: Mapping[str, object] = dataclasses.field(default_factory=dict)
    norm: str = "batch"
    head_start: int = 0

    def __post_init__(self):
        if not isinstance(self.row, str) or not self.row:
            raise TypeError(f"row must be a non-empty str (the table row's name), got {self.row!r}")
        check_int(self.seed, "seed", minimum=0)
        check_int(self.steps, "steps")
        check_int(self.head_start, "head_start", minimum=0)
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if not isinstance(self.changes, Mapping):
            raise TypeError(f"changes must be a dict of train_gan settings, got {type(self.changes).__name__}")
        unknown = sorted(set(self.changes) - set(CHANGEABLE))
        if unknown:
            raise ValueError(f"changes may set {CHANGEABLE}, not {unknown}; the rest is notebook 05's baseline")
        object.__setattr__(self, "changes", dict(self.changes))  # a copy: the caller's dict stays the caller's


def batch_coupling(generator: nn.Module, z: torch.Tensor, *, neighbours: int = 48, seed: int = 0) -> float:
    """How much a generator's images of codes ``z`` depend on the rest of their minibatch, in training mode.

    Each code of ``z`` (N, latent_dim), finite floats, is put in a minibatch with ``neighbours`` other codes
    (int >= 1), drawn with ``seed`` and then with ``seed + 1``. Returns the mean absolute change of the
    images of ``z`` between the two minibatches, in pixel units of [0, 1]: 0 when an example's image does not
    depend on its neighbours (virtual batchnorm), above 0 under batchnorm. No gradients; the generator's mode
    is restored.
    """
    check_model(generator, "generator")
    check_tensor(z, "z", ndim=2, shape="(N, latent_dim)")
    check_int(neighbours, "neighbours")
    check_int(seed, "seed", minimum=0)
    latent_dim = z.shape[1]
    was_training = generator.training
    generator.train()
    try:
        with torch.no_grad():
            images = [generator(torch.cat([z, sample_latent(neighbours, latent_dim, seed=seed + i)]))[:len(z)]
                      for i in range(2)]
    finally:
        generator.train(was_training)
    return (images[0] - images[1]).abs().mean().item()


def train_ablation_run(run: AblationRun, z_probe: torch.Tensor) -> dict:
    """Train one :class:`AblationRun` here, with the threads this process has, and measure it.

    ``z_probe``: latent codes (N, 16), finite floats, for the samples that get evaluated. Returns a dict:
    ``row``, ``seed``; ``averaged`` and ``last``: images (N, 1, 16, 16) in [0, 1] of ``z_probe`` from the
    averaged generator and from the generator's last weights; ``early_d_fake`` and ``early_d_real``: mean
    D(G(z)) and mean D(x) over the first 10% of the steps (probabilities); ``d_real``: mean D(x) over the last
    10% (how sure D is of real digits at the end);
    ``coupling``: :func:`batch_coupling` of the last weights on the first 16 probe codes; ``seconds``: the
    training's wall time.
    """
    if not isinstance(run, AblationRun):
        raise TypeError(f"run must be an AblationRun, got {type(run).__name__}")
    check_tensor(z_probe, "z_probe", ndim=2, shape=f"(N, {BASELINE_GENERATOR['latent_dim']})")
    torch.manual_seed(run.seed)
    generator, discriminator = Generator(**BASELINE_GENERATOR, norm=run.norm), Discriminator()
    x_train, _ = load_digits("train", size=16)
    start = time.perf_counter()
    if run.head_start:  # D alone, with the run's own settings, and a generator learning rate so small that G stays put
        train_gan(generator, discriminator, x_train,
                  **{**BASELINE, **run.changes, "steps": 1, "k_d": run.head_start, "lr_g": 1e-12},
                  seed=run.seed + 500, progress=False)
    average = copy.deepcopy(generator)
    history = train_gan(generator, discriminator, x_train, **{**BASELINE, "steps": run.steps, **run.changes},
                        average=average, seed=run.seed, progress=False)
    seconds = time.perf_counter() - start
    tenth = max(1, run.steps // 10)
    return {
        "row": run.row, "seed": run.seed, "seconds": seconds,
        "averaged": generate(average, z_probe), "last": generate(generator, z_probe),
        "early_d_fake": sum(history["d_fake"][:tenth]) / tenth,
        "early_d_real": sum(history["d_real"][:tenth]) / tenth,
        "d_real": sum(history["d_real"][-tenth:]) / tenth,
        "coupling": batch_coupling(generator, z_probe[:16], seed=run.seed + 600),
    }


def _one_thread() -> None:
    torch.set_num_threads(1)


def _train_in_worker(run: AblationRun, z_probe: np.ndarray) -> dict:
    # Tensors cross between processes as NumPy arrays, copied by value: torch's own sharing would pass file
    # descriptors over a socket, which a sandbox (or pytest-socket) may refuse.
    result = train_ablation_run(run, torch.from_numpy(z_probe))
    return {key: value.numpy() if isinstance(value, torch.Tensor) else value for key, value in result.items()}


def _cost(run: AblationRun) -> float:
    """A run's rough cost in baseline steps: k_d D updates per step; virtual batchnorm about 1.6x."""
    steps = run.steps * (1 + int(run.changes.get("k_d", 1))) / 2 + run.head_start / 2
    return steps * (1.6 if run.norm == "virtual" else 1.0)


def _train_with_one_thread(run: AblationRun, z_probe: torch.Tensor) -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_ablation_run(run, z_probe)
    finally:
        torch.set_num_threads(threads)


def train_ablation_runs(runs: Sequence[AblationRun], z_probe: torch.Tensor, *, workers: int | None = None,
                        progress: bool = True) -> list[dict]:
    """Train every run of ``runs`` with :func:`train_ablation_run`; return their results in the order of ``runs``.

    Each run trains with one CPU thread, in one of ``workers`` processes (default: one per CPU core this
    process may use, at most 8), so a 2-core machine trains two runs at a time. With ``workers=1`` the runs
    train here, one after another. Either way a run's result is the same: one thread, its own seed. A
    progress bar counts finished runs. ``runs``: a non-empty sequence of :class:`AblationRun`; ``z_probe``:
    as in :func:`train_ablation_run`. The workers are started fresh ("spawn"), so a script that calls this
    must do so under ``if __name__ == "__main__":``; a notebook needs nothing.
    """
    runs = list(runs)
    if not runs or not all(isinstance(run, AblationRun) for run in runs):
        raise ValueError("runs must be a non-empty list of AblationRun")
    check_tensor(z_probe, "z_probe", ndim=2, shape=f"(N, {BASELINE_GENERATOR['latent_dim']})")
    if workers is None:
        workers = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    check_int(workers, "workers")
    workers = min(workers, len(runs))
    bar = tqdm(total=len(runs), desc="ablation runs", disable=not progress)
    results: list[dict | None] = [None] * len(runs)
    try:
        if workers == 1:
            for index, run in enumerate(runs):
                results[index] = _train_with_one_thread(run, z_probe)
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: safe in a notebook's kernel
            with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
                longest_first = sorted(range(len(runs)), key=lambda index: -_cost(runs[index]))
                futures = {pool.submit(_train_in_worker, runs[index], z_probe.numpy()): index
                           for index in longest_first}  # so that the workers finish at about the same time
                for future in as_completed(futures):
                    result = future.result()
                    results[futures[future]] = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
                                                for key, value in result.items()}
                    bar.update()
    finally:
        bar.close()
    return results


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """The mean of ``values`` (a non-empty sequence of finite numbers) and their spread: the sample standard
    deviation (n - 1 in the denominator), 0 for a single value."""
    values = [float(v) for v in values]
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be a non-empty sequence of finite numbers, got {values!r}")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
