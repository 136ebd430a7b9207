import numpy as np
import pytest
import torch

from helpers.checkpoint import load_checkpoint, save_checkpoint
from helpers.digits import DigitsCNN, load_digits
from helpers.training import accuracy, train_classifier


def test_digits_split_is_fixed_stratified_and_in_0_1():
    x_train, y_train = load_digits("train")
    x_test, y_test = load_digits("test")
    assert x_train.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert x_train.min() == 0 and x_train.max() == 1
    assert torch.equal(load_digits("test")[0], x_test)  # deterministic
    assert torch.bincount(y_test).min() >= 40  # every class in the test split
    all_x, _ = load_digits("all")
    assert len(all_x) == len(x_train) + len(x_test)


def test_upscaled_digits_keep_their_range_and_label():
    x16, y16 = load_digits("test", size=16)
    x8, y8 = load_digits("test")
    assert x16.shape == (450, 1, 16, 16) and torch.equal(y16, y8)
    assert x16.min() >= 0 and x16.max() <= 1
    assert torch.allclose(torch.nn.functional.avg_pool2d(x16, 2).mean(), x8.mean(), atol=0.02)


@pytest.mark.parametrize("kwargs", [{"split": "validation"}, {"size": 4}, {"test_fraction": 1.0}])
def test_bad_digits_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        load_digits(**kwargs)


def test_cnn_shapes_and_bad_input():
    model = DigitsCNN()
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)
    assert model(torch.rand(5, 1, 16, 16)).shape == (5, 10)
    assert model.features(torch.rand(2, 1, 8, 8)).min() >= 0
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(2, 3, 8, 8))


def test_training_learns_the_digits():
    torch.manual_seed(0)
    x, y = load_digits("train")
    model = DigitsCNN()
    history = train_classifier(model, (x, y), epochs=4, progress=False)
    assert len(history["loss"]) == 4 and history["loss"][-1] < history["loss"][0]
    assert not model.training
    assert accuracy(model, *load_digits("test")) > 0.85


def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run(tmp_path):
    data = load_digits("train")
    torch.manual_seed(1)
    uninterrupted = DigitsCNN()
    initial = {k: v.clone() for k, v in uninterrupted.state_dict().items()}
    full_history = train_classifier(uninterrupted, data, epochs=3, progress=False, seed=5)

    interrupted = DigitsCNN()
    interrupted.load_state_dict(initial)
    train_classifier(interrupted, data, epochs=2, progress=False, seed=5, checkpoint=tmp_path / "ck.pt")
    resumed = DigitsCNN()  # a fresh process would start from other weights: the checkpoint must win
    resumed_history = train_classifier(resumed, data, epochs=3, progress=False, seed=5, checkpoint=tmp_path / "ck.pt")
    assert resumed_history == full_history
    for key, tensor in uninterrupted.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], tensor), key


@pytest.mark.parametrize("kwargs", [{"epochs": -1}, {"epochs": 1, "lr": 0}, {"epochs": 1, "batch_size": 0}])
def test_bad_training_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        train_classifier(DigitsCNN(), load_digits("test"), progress=False, **kwargs)


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "sub" / "ok.pt", {"step": 3})
    assert load_checkpoint(tmp_path / "sub" / "ok.pt") == {"step": 3}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["ok.pt"]  # no temporary left behind


def _write_idx(path, array: np.ndarray) -> None:
    """An idx file as MNIST ships it: magic (0, 0, dtype 0x08 = ubyte, ndim), big-endian sizes, the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_load_mnist_reads_the_idx_files_from_a_local_folder(tmp_path):
    from helpers.digits import load_mnist

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    pixels = {"train": rng.integers(0, 256, (12, 28, 28)), "t10k": rng.integers(0, 256, (5, 28, 28))}
    labels = {"train": rng.integers(0, 10, 12), "t10k": rng.integers(0, 10, 5)}
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels[prefix])
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[prefix])

    full, y = load_mnist(str(tmp_path), "train", size=28)
    assert full.dtype == torch.float32 and full.shape == (12, 1, 28, 28)
    assert torch.equal(full, torch.from_numpy(pixels["train"]).float()[:, None] / 255)
    assert torch.equal(y, torch.from_numpy(labels["train"]).long())
    small, y_test = load_mnist(str(tmp_path), "test", size=16)
    assert small.shape == (5, 1, 16, 16) and 0 <= small.min() and small.max() <= 1 and len(y_test) == 5
    # antialiased resizing keeps the mean brightness
    torch.testing.assert_close(small.mean(dim=(1, 2, 3)), torch.from_numpy(pixels["t10k"] / 255).float().mean(dim=(1, 2)), atol=0.02, rtol=0)


def test_load_mnist_without_the_files_names_the_offline_default(tmp_path):
    from helpers.digits import load_mnist

    with pytest.raises(FileNotFoundError, match="load_digits"):
        load_mnist(str(tmp_path))
    with pytest.raises(ValueError, match="split"):
        load_mnist(str(tmp_path), "validation")


def test_resume_state_checks_the_settings_a_checkpoint_was_written_with(tmp_path):
    from helpers.checkpoint import resume_state

    path = tmp_path / "run.pt"
    assert resume_state(None, {"lr": 1.0}) is None and resume_state(path, {"lr": 1.0}) is None
    save_checkpoint(path, {"settings": {"lr": 1.0}, "step": 3})
    assert resume_state(path, {"lr": 1.0})["step"] == 3
    with pytest.raises(ValueError, match="other settings"):
        resume_state(path, {"lr": 2.0})
