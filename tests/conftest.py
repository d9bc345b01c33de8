"""Shared test settings."""
import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Small tensors: one thread avoids oversubscribing a shared CPU, and makes every
    run of the suite use the same reduction order (results depend on the thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
