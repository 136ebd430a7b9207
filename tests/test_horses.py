import hashlib
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.horses import (
    DOMAINS,
    HORSE2ZEBRA_URL,
    download_dataset,
    horses_and_zebras,
    load_image_folders,
    other_animals,
    sha256_of,
)


@pytest.fixture(scope="module")
def data():
    return horses_and_zebras(n_train=40, n_test=16, size=32, seed=0)


def test_shapes_ranges_and_types(data):
    for images in (data.train_a, data.train_b, data.test_a, data.test_b):
        assert images.dtype == torch.float32 and images.min() >= 0 and images.max() <= 1
    assert data.train_a.shape == data.train_b.shape == (40, 3, 32, 32)
    assert data.test_a.shape == data.test_b.shape == (16, 3, 32, 32)
    assert data.test_mask.shape == (16, 1, 32, 32) and data.train_a_mask.shape == (40, 1, 32, 32)
    assert data.test_mask.dtype == torch.bool
    assert horses_and_zebras(n_train=2, n_test=1).train_a.shape == (2, 3, 64, 64)  # 64 px by default


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(data):
    again = horses_and_zebras(n_train=40, n_test=16, size=32, seed=0)
    for name in ("train_a", "train_b", "test_a", "test_b", "train_a_mask", "train_b_mask", "test_mask"):
        assert torch.equal(getattr(data, name), getattr(again, name)), name
    bigger = horses_and_zebras(n_train=250, n_test=20, size=32, seed=0)  # a smaller set starts a larger one
    assert torch.equal(bigger.train_b[:40], data.train_b) and torch.equal(bigger.test_mask[:16], data.test_mask)
    other = horses_and_zebras(n_train=40, n_test=16, size=32, seed=1)
    assert not torch.equal(other.test_a, data.test_a) and not torch.equal(other.train_b, data.train_b)


def test_the_test_pairing_is_exact(data):
    """Test horse i and test zebra i: the same pose on the same grass; they differ only on the animal."""
    differs = (data.test_a - data.test_b).abs().amax(1, keepdim=True) > 1e-6
    covered = data.test_mask  # coverage >= 0.5; edge pixels below it blend the coat in too
    # outside a 3-pixel band around the silhouette the two images are identical (thin legs and ears cover
    # less than half of a 32 px pixel, so they lie outside the mask but still differ), and nearly so
    # outside a 1-pixel band
    band = torch.nn.functional.max_pool2d(covered.float(), 7, stride=1, padding=3) > 0
    assert not (differs & ~band).any()
    band = torch.nn.functional.max_pool2d(covered.float(), 3, stride=1, padding=1) > 0
    assert (differs & ~band).sum() < 0.01 * differs.sum()
    # inside the silhouette they differ almost everywhere (brown vs black/white)
    assert (differs & covered).sum() >= 0.95 * covered.sum()


def test_the_training_domains_are_unpaired(data):
    """Train A and train B are independent draws: no zebra shares its grass or silhouette with any horse."""
    outside = ~(data.train_a_mask[:, None] | data.train_b_mask[None])  # (40, 40, 1, S, S)
    same_grass = ((data.train_a[:, None] - data.train_b[None]).abs().amax(2, keepdim=True) < 1e-6) | ~outside
    assert not same_grass.flatten(2).all(2).any()


def test_the_domains_look_as_described(data):
    inside = -torch.nn.functional.max_pool2d(-data.test_mask.float(), 3, stride=1, padding=1) > 0  # no edges
    horse = data.test_a.permute(1, 0, 2, 3)[:, inside[:, 0]]  # (3, animal pixels)
    zebra = data.test_b.permute(1, 0, 2, 3)[:, inside[:, 0]]
    grass = data.test_a.permute(1, 0, 2, 3)[:, ~data.test_mask[:, 0]]
    assert (horse[0] >= horse[1]).float().mean() > 0.98  # brown: red over green
    assert ((zebra[0] - zebra[1]).abs() < 1e-6).float().mean() > 0.95  # black and white: grey levels
    assert ((zebra[0] < 0.2) | (zebra[0] > 0.8)).float().mean() > 0.5  # mostly black or white
    assert (grass[1] > grass[0]).float().mean() > 0.98  # green grass


def test_every_animal_is_in_view(data):
    masks = torch.cat([data.train_a_mask, data.train_b_mask, data.test_mask])
    area = masks.flatten(1).float().mean(1)
    assert area.min() > 0.04
    assert not masks[:, :, 0].any() and not masks[:, :, -1].any()  # never touches the top or bottom edge


@pytest.mark.parametrize("kwargs", [{"n_train": 0}, {"n_test": 1.5}, {"size": 8}, {"seed": -1}, {"size": True}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        horses_and_zebras(**{"n_train": 2, "n_test": 2, **kwargs})


# --- the reference layout --------------------------------------------------------------------------------


def _write_folders(root, sizes=(3, 2, 2, 1), shape=(20, 24)):
    rng = np.random.default_rng(0)
    for domain, count in zip(DOMAINS, sizes):
        (root / domain).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / domain / f"{i:03d}.png")
        (root / domain / "notes.txt").write_text("not an image")  # ignored


def test_load_image_folders_reads_the_reference_layout(tmp_path):
    _write_folders(tmp_path)
    data = load_image_folders(tmp_path, size=16)
    assert {k: tuple(v.shape) for k, v in data.items()} == {
        "trainA": (3, 3, 16, 16), "trainB": (2, 3, 16, 16), "testA": (2, 3, 16, 16), "testB": (1, 3, 16, 16)}
    assert all(v.min() >= 0 and v.max() <= 1 for v in data.values())
    same = load_image_folders(tmp_path, size=20, max_images=1, domains=("trainA",))
    assert list(same) == ["trainA"] and same["trainA"].shape == (1, 3, 20, 20)


def test_images_of_the_right_size_are_read_exactly(tmp_path):
    (tmp_path / "trainA").mkdir()
    pixels = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "trainA" / "a.png")
    loaded = load_image_folders(tmp_path, size=16, domains=("trainA",))["trainA"][0]
    assert torch.equal(loaded, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def test_a_missing_data_folder_raises_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="horses_and_zebras"):
        load_image_folders(tmp_path / "nowhere")
    _write_folders(tmp_path)
    (tmp_path / "testB" / "000.png").unlink()
    (tmp_path / "testB" / "notes.txt").unlink()
    (tmp_path / "testB").rmdir()
    with pytest.raises(FileNotFoundError, match="testB"):
        load_image_folders(tmp_path, size=16)


def test_an_empty_folder_raises(tmp_path):
    _write_folders(tmp_path, sizes=(1, 0, 1, 1))
    with pytest.raises(ValueError, match="trainB.*no image files"):
        load_image_folders(tmp_path, size=16)


def test_a_corrupt_image_raises_a_clear_error_naming_it(tmp_path):
    _write_folders(tmp_path)
    bad = tmp_path / "trainB" / "001.png"
    bad.write_bytes(bad.read_bytes()[:40])  # cut short, as by an interrupted download
    with pytest.raises(ValueError, match="001.png.*not a readable image"):
        load_image_folders(tmp_path, size=16)
    (tmp_path / "testA" / "zzz.jpg").write_bytes(b"this is no jpeg")
    with pytest.raises(ValueError, match="zzz.jpg"):
        load_image_folders(tmp_path, size=16, domains=("testA",))


def test_bad_loader_arguments_raise(tmp_path):
    _write_folders(tmp_path)
    with pytest.raises(ValueError, match="domains"):
        load_image_folders(tmp_path, domains=("trainC",))
    with pytest.raises(ValueError, match="size"):
        load_image_folders(tmp_path, size=0)


# --- download (a local file: the tests never touch the network) ------------------------------------------


@pytest.fixture
def archive(tmp_path):
    source = tmp_path / "source" / "tiny2set"
    _write_folders(source)
    path = tmp_path / "tiny2set.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        for file in sorted(source.rglob("*")):
            zipped.write(file, file.relative_to(source.parent))
    return path


def test_download_checks_the_sha256_and_unpacks(tmp_path, archive):
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sha256_of(archive) == digest
    root = download_dataset(tmp_path / "data", sha256=digest, url=archive.as_uri())
    assert root == tmp_path / "data" / "tiny2set"
    assert load_image_folders(root, size=16)["trainA"].shape == (3, 3, 16, 16)


def test_a_wrong_sha256_deletes_the_download(tmp_path, archive):
    with pytest.raises(ValueError, match="expected 0000"):
        download_dataset(tmp_path / "data", sha256="0" * 64, url=archive.as_uri())
    assert not any((tmp_path / "data").iterdir())


def test_a_failed_download_names_the_offline_default(tmp_path):
    with pytest.raises(OSError, match="horses_and_zebras"):
        download_dataset(tmp_path, sha256="0" * 64, url=(tmp_path / "absent.zip").as_uri())
    with pytest.raises(ValueError, match="64 hex"):
        download_dataset(tmp_path, sha256="abc", url=HORSE2ZEBRA_URL)


# --- a third class for the domain classifier ---------------------------------------------------------------


def test_other_animals_are_deterministic_images_on_grass():
    from helpers.cyclegan_eval import greenness

    others = other_animals(30, size=32, seed=0)
    assert others.shape == (30, 3, 32, 32) and others.min() >= 0 and others.max() <= 1
    assert torch.equal(others, other_animals(30, size=32, seed=0))
    assert not torch.equal(others, other_animals(30, size=32, seed=1))
    on_grass = greenness(others).flatten(1).median(1).values > 0.1  # mostly grass, as in the two domains ...
    assert 0.6 < on_grass.float().mean() < 1  # ... but for about one in eight: colour noise, no scene
    with pytest.raises(ValueError):
        other_animals(0)
