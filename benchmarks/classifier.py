"""How fast is the ImageNet classifier on this machine? Forward, forward+backward to the input, loading."""

from __future__ import annotations

import statistics
import time

import torch

from helpers.data import cat_image
from helpers.imagenet import load_classifier, preprocess


def timed(function, repeats: int) -> list[float]:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main(repeats: int = 20) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    load = timed(lambda: load_classifier(device="cpu"), 3)
    model = load_classifier(device="cpu")
    x = preprocess(cat_image())

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        image = x.clone().requires_grad_(True)
        model(image)[0, 39].backward()

    for name, times in [("load_classifier", load), ("forward (1x3x224x224)", timed(forward, repeats)),
                        ("forward+backward to the input", timed(forward_backward, repeats))]:
        print(f"{name:32s} median {1000 * statistics.median(times):7.1f} ms   min {1000 * min(times):7.1f} ms")


if __name__ == "__main__":
    main()
