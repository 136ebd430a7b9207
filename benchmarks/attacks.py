"""Is PGD as fast as a first-order attack can be? PGD against a bare forward+backward loop.

On EfficientNet-Lite0, a batch of 8 photos, 10 steps: the floor for any first-order attack is 10 forward
passes and 10 backward passes with respect to the input. PGD adds the sign, the projection and the clamp.
The two are timed alternately (so that any load on the machine hits both alike) and the ratio of the
medians is reported. Run: ``python benchmarks/attacks.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from helpers.attacks import pgd
from helpers.data import photo_batch
from helpers.imagenet import load_classifier

STEPS = 10


def bare_loop(model, x, y) -> torch.Tensor:
    """10 forward+backward passes w.r.t. the input, and nothing else."""
    for _ in range(STEPS):
        image = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(image), y), image)
    return grad


def attack(model, x, y) -> torch.Tensor:
    return pgd(model, x, y, eps=8 / 255, alpha=2 / 255, steps=STEPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_classifier(device="cpu")
    x = photo_batch()[0][: args.batch]
    with torch.no_grad():
        y = model(x).argmax(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {len(x)}, {STEPS} steps")
    times = {"bare loop": [], "pgd": []}
    bare_loop(model, x, y), attack(model, x, y)  # warm-up
    for _ in range(args.repeats):
        for name, function in (("bare loop", bare_loop), ("pgd", attack)):
            start = time.perf_counter()
            function(model, x, y)
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        print(f"{name:10s} median {statistics.median(values):6.3f} s   min {min(values):6.3f} s")
    ratio = statistics.median(times["pgd"]) / statistics.median(times["bare loop"])
    print(f"pgd / bare loop: {ratio:.3f} (medians), {min(times['pgd']) / min(times['bare loop']):.3f} (minima)")


if __name__ == "__main__":
    main()
