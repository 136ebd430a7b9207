"""The course must work offline: these tests fail if the guard against hidden downloads is off."""

import socket

import pytest
from pytest_socket import SocketConnectBlockedError

from helpers.imagenet import load_classifier


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_connections_outside_this_machine_are_refused_during_tests():
    # pytest-socket (configured in pyproject.toml) lets only local hosts through; under .ci/run the
    # network namespace has no route at all. Either way, nothing can leave the machine.
    with pytest.raises(SocketConnectBlockedError, match="198.51.100.1"):
        socket.create_connection(("198.51.100.1", 80), timeout=2)  # TEST-NET-2: never a real host


def test_a_torchvision_model_offline_fails_with_a_message_naming_the_offline_default(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no cached weights to fall back on
    with pytest.raises(ConnectionError, match="efficientnet_lite0"):
        load_classifier("resnet18", device="cpu")
