"""Interactive demos for JupyterLab (ipywidgets). The computing is done by the attack helpers."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch import nn

from .attacks import fgsm
from .imagenet import predict
from .plotting import plot_topk, show_image
from .validation import check_images, check_int, check_model

__all__ = ["FGSMExplorer", "fgsm_explorer"]


class FGSMExplorer(widgets.VBox):
    """A slider over eps (in 1/255 steps) that re-runs FGSM on one image and shows it with its top-k.

    ``model``: an ImageNet classifier from :func:`helpers.imagenet.load_classifier`; ``x``: (1, 3, H, W)
    in [0, 1] (not modified). ``label`` (a widget) shows the current top-1 prediction as text; ``output``
    holds the figure; ``x_adv`` is the image shown, (1, 3, H, W) in [0, 1]. Setting ``slider.value`` from code works as dragging it does.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, *, max_eps_255: int = 16, k: int = 3):
        check_model(model)
        check_images(x)
        check_int(max_eps_255, "max_eps_255", maximum=255)
        check_int(k, "k", maximum=1000)
        if len(x) != 1:
            raise ValueError(f"the explorer shows one image: x must be (1, 3, H, W), got {tuple(x.shape)}")
        self.model, self.x, self.k = model, x.detach().clone(), k
        self.slider = widgets.IntSlider(value=0, min=0, max=max_eps_255, step=1, description="eps x 255",
                                        continuous_update=False)
        self.label = widgets.Label()
        self.output = widgets.Output()
        super().__init__([self.slider, self.label, self.output])
        self.slider.observe(lambda change: self.update(), names="value")
        self.update()

    @property
    def eps(self) -> float:
        return self.slider.value / 255

    def update(self) -> list[tuple[str, float]]:
        """Re-run FGSM at the slider's eps, redraw, and return the top-k (label, probability)."""
        self.x_adv = x_adv = fgsm(self.model, self.x, eps=self.eps)
        prediction = predict(self.model, x_adv, k=self.k)[0]
        top_label, top_probability = prediction[0]
        self.label.value = f"eps = {self.slider.value}/255: {top_label} ({top_probability:.1%})"
        self.output.clear_output(wait=True)
        with self.output:
            fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [1, 1.3]})
            show_image(x_adv, f"FGSM, eps = {self.slider.value}/255", ax=left)
            plot_topk(prediction, ax=right)
            fig.tight_layout()
            display(fig)
            plt.close(fig)
        return prediction


def fgsm_explorer(model: nn.Module, x: torch.Tensor, *, max_eps_255: int = 16, k: int = 3) -> FGSMExplorer:
    """The FGSM slider demo of notebook 01: ``fgsm_explorer(model, preprocess(cat_image()))``."""
    return FGSMExplorer(model, x, max_eps_255=max_eps_255, k=k)
