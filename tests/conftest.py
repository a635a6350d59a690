"""Shared pytest setup.

Without CUDA, Triton kernels run on Triton's interpreter: TRITON_INTERPRET must be set before any
kernel module is imported, hence here. Tests marked `gpu` are skipped without CUDA.
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture
def reference_attention(monkeypatch):
    """Run CPU attention on the torch reference rather than the (slow) Triton interpreter.

    For tests about training and the pipeline, not the kernel: the kernel tests cover the interpreter."""
    import kernels.flashsign_api

    monkeypatch.setattr(kernels.flashsign_api, "INTERPRETED", False)


@pytest.fixture(autouse=True)
def fresh_replay_plans(monkeypatch):
    """No test replays a call recorded by another, which may have run under other tile tables."""
    from kernels import replay

    monkeypatch.setattr(replay, "_plans", {})
