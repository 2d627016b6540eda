# SPDX-License-Identifier: Apache-2.0
"""bluefog.torch on CUDA tensors (suite 'gpu', scripts/gpu_tests.sh): operations take and return
tensors on the GPU, in-place forms keep the caller's memory, ops see work queued on PyTorch's
current stream, and an optimizer trains a model that lives on the GPU. Run through
run_gpu_tests.py, which reports the suite skipped (exit status 77), saying why, without a GPU."""
import pytest

torch = pytest.importorskip("torch")

import bluefog.torch as bf  # noqa: E402

if not torch.cuda.is_available():
    pytest.skip("no GPU (torch.cuda.is_available() is False)", allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def engine():
    bf.init()
    torch.cuda.set_device(bf.local_rank() % torch.cuda.device_count())
    yield
    bf.shutdown()


def _exp2_sources(rank, size):
    sources, step = set(), 1
    while step < size:
        sources.add((rank - step) % size)
        step *= 2
    return sorted(sources)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_neighbor_allreduce_on_the_gpu(dtype):
    rank, size = bf.rank(), bf.size()
    x = torch.full((1000,), float(rank), dtype=dtype, device="cuda")
    y = bf.neighbor_allreduce(x, name=f"gpu.nar.{dtype}")
    assert y.is_cuda and y.device == x.device and y.dtype == dtype
    sources = _exp2_sources(rank, size)
    expected = (rank + sum(sources)) / (len(sources) + 1)
    assert torch.allclose(y.double().cpu(), torch.full((1000,), expected, dtype=torch.float64),
                          atol=1e-2)
    pointer = x.data_ptr()
    bf.neighbor_allreduce_(x, name=f"gpu.nar_.{dtype}")
    assert x.data_ptr() == pointer
    assert torch.equal(x, y)


def test_window_on_the_gpu():
    """A window over a CUDA tensor (staged through pinned host memory): put, update in place
    and as a clone, both on the window's device; the update sees work on the current stream."""
    rank, size = bf.rank(), bf.size()
    x = torch.full((64,), float(rank + 1), device="cuda")
    assert bf.win_create(x, "gpu.win", zero_init=True)
    try:
        assert bf.win_put(x, "gpu.win")
        bf.barrier()
        sources = _exp2_sources(rank, size)
        weights = {s: 1.0 for s in sources}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            x.mul_(2.0)  # ordered before the update by the stream mark
            clone = bf.win_update("gpu.win", self_weight=0.5, neighbor_weights=weights,
                                  clone=True)
        assert clone.is_cuda and clone.device == x.device
        expected = (rank + 1) + sum(s + 1 for s in sources)
        assert torch.equal(clone.cpu(), torch.full((64,), float(expected)))
        result = bf.win_update("gpu.win", self_weight=0.5, neighbor_weights=weights)
        assert result.data_ptr() == x.data_ptr()
        assert torch.equal(x.cpu(), torch.full((64,), float(expected)))
        bf.barrier()
    finally:
        bf.win_free("gpu.win")


def test_allreduce_broadcast_allgather():
    rank, size = bf.rank(), bf.size()
    x = torch.arange(6, dtype=torch.float32, device="cuda") + rank
    assert torch.allclose(bf.allreduce(x, average=False, name="gpu.sum").cpu(),
                          (torch.arange(6, dtype=torch.float32) * size + sum(range(size))))
    root = size - 1
    assert torch.equal(bf.broadcast(x, root, name="gpu.bcast").cpu(),
                       torch.arange(6, dtype=torch.float32) + root)
    gathered = bf.allgather(x.view(2, 3), name="gpu.gather")
    assert gathered.is_cuda and gathered.shape == (2 * size, 3)
    for r in range(size):
        assert torch.equal(gathered[2 * r:2 * r + 2].cpu().flatten(),
                           torch.arange(6, dtype=torch.float32) + r)


def test_ordered_after_the_current_stream():
    """Work queued on a side stream that PyTorch runs as current is done before the op reads."""
    side = torch.cuda.Stream()
    x = torch.ones(1 << 22, device="cuda")
    with torch.cuda.stream(side):
        busy = torch.randn(4096, 4096, device="cuda")
        for _ in range(4):
            busy = busy @ busy  # keep the stream busy for a while
        x.zero_()
        y = bf.neighbor_allreduce(x, name="gpu.stream")
    assert float(y.abs().max()) == 0.0


def test_awc_optimizer_trains_a_gpu_model():
    """Linear regression as in the original's tests, model and data on the GPU."""
    torch.manual_seed(1234 + bf.rank())
    w_true = torch.tensor([[2.0], [-1.0], [0.5]], device="cuda")
    data = torch.randn(256, 3, device="cuda")
    target = data @ w_true
    model = torch.nn.Linear(3, 1, bias=False).cuda()
    optimizer = bf.DistributedAdaptWithCombineOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.05), model=model)
    bf.broadcast_parameters(model.state_dict(), root_rank=0)
    for _ in range(200):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(data), target)
        loss.backward()
        optimizer.step()
    assert float(loss) < 1e-3
    assert torch.allclose(model.weight.detach().t(), w_true, atol=1e-2)
