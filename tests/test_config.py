import random

import numpy as np
import pytest
import torch

from helpers import config


def test_fast_mode_follows_the_environment_variable(monkeypatch):
    monkeypatch.setenv(config.FAST_MODE_VARIABLE, "1")
    assert config.fast_mode() is True
    assert config.pick(full=100, fast=3) == 3
    monkeypatch.setenv(config.FAST_MODE_VARIABLE, "0")
    assert config.fast_mode() is False
    assert config.pick(full=100, fast=3) == 100
    monkeypatch.delenv(config.FAST_MODE_VARIABLE)
    assert config.fast_mode() is False


def test_the_test_configuration_switches_fast_mode_on():
    # conftest.py sets it for every pytest run, so notebook kernels inherit it.
    assert config.fast_mode() is True


def test_fast_mode_rejects_a_value_it_does_not_understand(monkeypatch):
    monkeypatch.setenv(config.FAST_MODE_VARIABLE, "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST_MODE"):
        config.fast_mode()


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    generator = config.seed_everything(123)
    first, own_first = draw(), torch.rand(2, generator=generator)
    generator = config.seed_everything(123)
    second, own_second = draw(), torch.rand(2, generator=generator)
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2]) and torch.equal(own_first, own_second)
    config.seed_everything(124)
    assert not torch.equal(draw()[2], first[2])


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(seed)


def test_device_is_cuda_exactly_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.device().type == expected


def test_course_seed_shifts_every_seed_and_defaults_to_the_committed_ones(monkeypatch):
    monkeypatch.delenv(config.SEED_VARIABLE, raising=False)
    assert config.course_seed() == 0 and config.seed(0) == 0 and config.seed(7) == 7
    first = config.seed_everything(0)
    default_draw = torch.rand(3)
    monkeypatch.setenv(config.SEED_VARIABLE, "2")
    assert config.course_seed() == 2 and config.seed(0) == 2000 and config.seed(7) == 2007
    config.seed_everything(0)
    other_draw = torch.rand(3)
    assert not torch.equal(default_draw, other_draw)
    torch.manual_seed(2000)
    assert torch.equal(torch.rand(3), other_draw)  # seed_everything(0) seeded config.seed(0)
    monkeypatch.setenv(config.SEED_VARIABLE, "0")
    config.seed_everything(0)
    assert torch.equal(torch.rand(3), default_draw)
    assert torch.rand(2, generator=first).shape == (2,)


@pytest.mark.parametrize("value", ["-1", "one", "1.5", "99999999"])
def test_course_seed_rejects_what_it_does_not_understand(monkeypatch, value):
    monkeypatch.setenv(config.SEED_VARIABLE, value)
    with pytest.raises(ValueError, match="COURSE_SEED"):
        config.seed(0)
