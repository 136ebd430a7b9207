"""helpers.gan_ablation: runs that are what they say, the same in any process, and honest summaries."""

from __future__ import annotations

import copy

import pytest
import torch

from helpers.digits import load_digits
from helpers.gan import BASELINE, BASELINE_GENERATOR, Discriminator, Generator, generate, sample_latent, train_gan
from helpers.gan_ablation import AblationRun, batch_coupling, mean_and_spread, train_ablation_run, train_ablation_runs

Z = sample_latent(20, BASELINE_GENERATOR["latent_dim"], seed=1)


def test_a_run_is_notebook_05s_baseline_with_its_changes():
    run = AblationRun("equal rates", seed=3, steps=3, changes={"lr_d": 2e-4, "lr_g": 2e-4})
    result = train_ablation_run(run, Z)

    torch.manual_seed(3)  # the same training, written out
    generator, discriminator = Generator(**BASELINE_GENERATOR), Discriminator()
    average = copy.deepcopy(generator)
    x_train, _ = load_digits("train", size=16)
    train_gan(generator, discriminator, x_train, **{**BASELINE, "steps": 3, "lr_d": 2e-4, "lr_g": 2e-4},
              average=average, seed=3, progress=False)
    assert torch.equal(result["averaged"], generate(average, Z))
    assert torch.equal(result["last"], generate(generator, Z))
    assert result["row"] == "equal rates" and result["seed"] == 3
    assert result["averaged"].shape == (20, 1, 16, 16)
    assert 0 <= result["early_d_fake"] <= 1 and 0 <= result["d_real"] <= 1 and result["seconds"] > 0


def test_runs_differ_by_seed_and_change():
    base = train_ablation_run(AblationRun("a", seed=0, steps=2), Z)
    other_seed = train_ablation_run(AblationRun("a", seed=1, steps=2), Z)
    saturating = train_ablation_run(AblationRun("a", seed=0, steps=2, changes={"g_loss": "saturating"}), Z)
    assert not torch.equal(base["last"], other_seed["last"])
    assert not torch.equal(base["last"], saturating["last"])


def test_a_head_start_puts_the_discriminator_ahead():
    plain = train_ablation_run(AblationRun("plain", seed=0, steps=1), Z)
    ahead = train_ablation_run(AblationRun("ahead", seed=0, steps=1, head_start=40), Z)
    assert ahead["early_d_fake"] < 0.5 * plain["early_d_fake"], (ahead["early_d_fake"], plain["early_d_fake"])


def test_worker_processes_give_the_results_of_one_process():
    runs = [AblationRun("a", seed=0, steps=2), AblationRun("b", seed=1, steps=2, norm="virtual")]
    here = train_ablation_runs(runs, Z, workers=1, progress=False)
    threads = torch.get_num_threads()
    parallel = train_ablation_runs(runs, Z, workers=2, progress=False)
    assert torch.get_num_threads() == threads
    assert [r["row"] for r in parallel] == ["a", "b"]  # the order of the runs, whatever finished first
    for one, other in zip(here, parallel):
        assert torch.equal(one["averaged"], other["averaged"]) and torch.equal(one["last"], other["last"])
        assert one["early_d_fake"] == other["early_d_fake"] and one["coupling"] == other["coupling"]


def test_batch_coupling_is_zero_for_virtual_batchnorm_only():
    torch.manual_seed(0)
    batch, virtual = Generator(**BASELINE_GENERATOR), Generator(**BASELINE_GENERATOR, norm="virtual")
    batch.eval()
    assert batch_coupling(batch, Z[:4]) > 1e-4
    assert not batch.training  # its mode restored
    assert batch_coupling(virtual, Z[:4]) < 1e-6
    assert batch_coupling(batch, Z[:4], seed=5) != batch_coupling(batch, Z[:4], seed=6)


def test_mean_and_spread():
    assert mean_and_spread([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_and_spread([4.0]) == (4.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        mean_and_spread([1.0, float("nan")])


def test_a_run_copies_its_changes_and_rejects_unknown_settings():
    changes = {"k_d": 5}
    run = AblationRun("k", seed=0, steps=1, changes=changes)
    changes["k_d"] = 1
    assert run.changes == {"k_d": 5}
    with pytest.raises(ValueError, match="changes may set"):
        AblationRun("x", seed=0, steps=1, changes={"steps": 5})
    with pytest.raises(ValueError, match="norm must be one of"):
        AblationRun("x", seed=0, steps=1, norm="layer")
