"""Checkpoints remember the code they were trained with: a changed loss or layer retrains, not reloads."""

import copy
import functools
import importlib.util
import os
import re
import subprocess
import sys

import pytest
import torch

import helpers.cyclegan as cyclegan_module
import helpers.gan as gan_module
from helpers import config
from helpers.checkpoint import (
    code_fingerprint,
    load_checkpoint,
    resume_state,
    save_checkpoint,
)
from helpers.cyclegan import PatchDiscriminator, ResnetGenerator, train_cyclegan
from helpers.gan import Discriminator, Generator, VirtualBatchNorm, train_gan

MODULE = '''
import torch
from torch import nn


def loss(x, scale=1.0):
    return scale * x.square().mean()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x):
        return self.linear(x).relu()
'''


@pytest.fixture
def load_module(monkeypatch):
    """``load(folder, name, source)``: write ``source`` to ``folder/name.py`` and import it as ``name`` (in
    sys.modules until the test ends: inspect finds a class's source through its module)."""
    def load(folder, name, source):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module
    return load


# --- code_fingerprint -----------------------------------------------------------------------------------


def test_the_fingerprint_follows_the_source_not_the_file_or_the_line(tmp_path, load_module):
    a = load_module(tmp_path / "a", "course_a", MODULE)
    same = load_module(tmp_path / "elsewhere", "course_same", "\n\n# moved down, another file\n" + MODULE)
    changed_function = load_module(tmp_path / "b", "course_b", MODULE.replace("x.square()", "x.abs()"))
    changed_class = load_module(tmp_path / "c", "course_c", MODULE.replace(".relu()", ".tanh()"))

    digest = code_fingerprint(a.loss)
    assert re.fullmatch("[0-9a-f]{16}", digest) and code_fingerprint(a.loss) == digest
    assert code_fingerprint(same.loss) == digest  # no file path, no line number in it
    assert code_fingerprint(same.Net) == code_fingerprint(a.Net)
    assert code_fingerprint(changed_function.loss) != digest
    assert code_fingerprint(changed_function.Net) == code_fingerprint(a.Net)
    assert code_fingerprint(changed_class.Net) != code_fingerprint(a.Net)  # a method's body is the class's
    assert code_fingerprint(changed_class.loss) == digest
    assert code_fingerprint(a.Net()) == code_fingerprint(a.Net)  # an instance counts by its class
    assert code_fingerprint(a) != code_fingerprint(changed_function)  # a module: its whole file
    # several objects: every one counts, in order
    assert code_fingerprint(a.loss, a.Net) != code_fingerprint(a.loss, changed_class.Net)
    assert code_fingerprint(a.loss, a.Net) != code_fingerprint(a.Net, a.loss)
    # a partial: its function and its bound arguments
    bound = code_fingerprint(functools.partial(a.loss, scale=2.0))
    assert bound == code_fingerprint(functools.partial(same.loss, scale=2.0))
    assert bound != code_fingerprint(functools.partial(a.loss, scale=3.0))
    assert bound != code_fingerprint(functools.partial(changed_function.loss, scale=2.0))
    assert bound != digest


def test_code_without_source_counts_by_its_name():
    namespace = {}
    exec(compile("def loss(x):\n    return x\n", "<typed at a prompt>", "exec"), namespace)  # noqa: S102
    other = {}
    exec(compile("def loss(x):\n    return -x\n", "<typed at a prompt>", "exec"), other)  # noqa: S102
    assert code_fingerprint(namespace["loss"]) == code_fingerprint(other["loss"])  # as documented: name only
    assert code_fingerprint(len) != code_fingerprint(abs)
    assert code_fingerprint(len) == code_fingerprint(len)


def test_the_fingerprint_is_the_same_in_another_process():
    here = code_fingerprint(gan_module.d_loss, Generator, Generator(latent_dim=2, width=2))
    script = ("from helpers.checkpoint import code_fingerprint; from helpers.gan import Generator, d_loss; "
              "print(code_fingerprint(d_loss, Generator, Generator(latent_dim=2, width=2)))")
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "123"}
    there = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env,
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip()
    assert there == here


@pytest.mark.parametrize("value", [1, "d_loss", torch.zeros(2), None, [gan_module.d_loss]])
def test_the_fingerprint_refuses_what_is_not_code(value):
    with pytest.raises(TypeError, match="objects must be functions, classes, modules"):
        code_fingerprint(gan_module.d_loss, value)


# --- resume_state ---------------------------------------------------------------------------------------


def test_resume_state_retrains_when_the_code_has_changed(tmp_path, capsys):
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"settings": {"lr": 1.0}, "code": "0123456789abcdef", "step": 3})
    assert resume_state(path, {"lr": 1.0}, code="0123456789abcdef")["step"] == 3
    assert resume_state(path, {"lr": 1.0})["step"] == 3  # no code asked for: as before
    assert capsys.readouterr().out == ""

    assert resume_state(path, {"lr": 1.0}, code="fedcba9876543210") is None
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("retraining: ") and "run.pt" in lines[0]
    assert load_checkpoint(path)["step"] == 3  # replaced by the next save, not deleted

    save_checkpoint(path, {"settings": {"lr": 1.0}, "step": 3})  # written before checkpoints had code
    assert resume_state(path, {"lr": 1.0}, code="0123456789abcdef") is None
    assert len(capsys.readouterr().out.splitlines()) == 1

    with pytest.raises(ValueError, match="other settings"):  # another run: still an error, whatever the code
        resume_state(path, {"lr": 2.0}, code="fedcba9876543210")
    with pytest.raises(TypeError, match="code must be a code_fingerprint"):
        resume_state(path, {"lr": 1.0}, code=123)


# --- the training loops ---------------------------------------------------------------------------------

GAN = {"steps": 2, "lr_d": 1e-3, "lr_g": 1e-3, "batch_size": 8, "seed": 0, "progress": False}


def tiny_gan(seed=0, norm="batch"):
    config.seed_everything(seed)
    return Generator(norm=norm, latent_dim=8, width=8), Discriminator(width=8)


def counting(function, calls, scale=1.0):
    """A replacement of ``function`` with other source code: counts its calls, scales the result."""
    def patched(*args, **kwargs):
        calls.append(1)
        return scale * function(*args, **kwargs)
    return patched


def test_a_changed_loss_retrains_the_gan_and_unchanged_code_resumes(tmp_path, capsys, monkeypatch):
    data = torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "gan.pt"
    G, D = tiny_gan()
    history = train_gan(G, D, data, checkpoint=path, **GAN)
    assert re.fullmatch("[0-9a-f]{16}", load_checkpoint(path)["code"])
    capsys.readouterr()

    # the same code: loaded, not trained (other initial weights, yet the checkpoint's)
    calls = []
    monkeypatch.setitem(gan_module.G_LOSSES, "saturating", counting(gan_module.g_loss_saturating, calls))
    G2, D2 = tiny_gan(seed=1)
    assert train_gan(G2, D2, data, checkpoint=path, **GAN) == history  # a loss the run does not use changed
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))
    assert capsys.readouterr().out == "" and not calls

    # d_loss fixed: trained again from the weights given, and the checkpoint replaced
    monkeypatch.setattr(gan_module, "d_loss", counting(gan_module.d_loss, calls, scale=0.5))
    G3, D3 = tiny_gan(seed=1)
    retrained = train_gan(G3, D3, data, checkpoint=path, **GAN)
    assert capsys.readouterr().out.count("retraining: ") == 1
    assert len(calls) == GAN["steps"]
    assert len(retrained["d_loss"]) == GAN["steps"] and retrained["d_loss"] != history["d_loss"]
    assert not all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G3.state_dict().values()))
    state = load_checkpoint(path)
    assert state["step"] == GAN["steps"] and state["history"]["d_loss"] == retrained["d_loss"]

    # ... which the fixed code then resumes
    G4, D4 = tiny_gan(seed=2)
    assert train_gan(G4, D4, data, checkpoint=path, **GAN) == retrained
    assert capsys.readouterr().out == "" and len(calls) == GAN["steps"]

    # the chosen generator loss counts too
    monkeypatch.setitem(gan_module.G_LOSSES, "non_saturating", counting(gan_module.g_loss_non_saturating, calls))
    train_gan(*tiny_gan(seed=2), data, checkpoint=path, **GAN)
    assert capsys.readouterr().out.count("retraining: ") == 1


def test_a_run_that_draws_samples_and_one_that_does_not_share_the_checkpoint(tmp_path, capsys):
    """Notebook 07 resumes notebook 05's finished run (05 draws samples along the way, 07 does not)."""
    data = torch.rand(16, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "gan.pt"
    G, D = tiny_gan()
    history = train_gan(G, D, data, checkpoint=path, sample_every=1, **GAN)
    capsys.readouterr()
    G2, D2 = tiny_gan(seed=1)
    resumed = train_gan(G2, D2, data, checkpoint=path, **GAN)
    assert "retraining" not in capsys.readouterr().out
    assert resumed["d_loss"] == history["d_loss"] and len(resumed["samples"]) == len(history["samples"]) > 0
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))


def test_the_gan_fingerprint_covers_the_layers_inside_the_models():
    assert VirtualBatchNorm in gan_module._model_classes(*tiny_gan(norm="virtual"))
    G, D = tiny_gan()
    assert gan_module._model_classes(G, D, copy.deepcopy(G), None) == [Generator, Discriminator]  # torch's left out


def test_a_changed_loss_retrains_the_cyclegan(tmp_path, capsys, monkeypatch):
    domains = torch.rand(2, 6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    settings = {"steps": 1, "batch_size": 2, "pool_size": 2, "seed": 0, "progress": False,
                "checkpoint": tmp_path / "cyclegan.pt"}

    def models(seed):
        config.seed_everything(seed)
        return (ResnetGenerator(width=4, n_blocks=1), ResnetGenerator(width=4, n_blocks=1),
                PatchDiscriminator(width=4, n_layers=2), PatchDiscriminator(width=4, n_layers=2))

    history = train_cyclegan(*models(0), *domains, **settings)
    assert train_cyclegan(*models(1), *domains, **settings) == history  # unchanged: resumed
    assert capsys.readouterr().out == ""
    calls = []
    monkeypatch.setattr(cyclegan_module, "cycle_loss", counting(cyclegan_module.cycle_loss, calls, scale=0.5))
    retrained = train_cyclegan(*models(1), *domains, **settings)
    assert capsys.readouterr().out.count("retraining: ") == 1 and len(calls) == 2  # cycle a and b, one step
    assert retrained["cycle_a"] != history["cycle_a"]
