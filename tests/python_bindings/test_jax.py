# SPDX-License-Identifier: Apache-2.0
# JAX through DLPack: jax.Array in, jax.Array out (CPU), and a small JAX training loop that
# averages its parameters with neighbor_allreduce (decentralized gradient descent).
import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import bluefog as bf  # noqa: E402
from conftest import rank_data, topology_matrix  # noqa: E402


def test_operations_return_jax_arrays():
    n, r = bf.size(), bf.rank()
    x = jnp.asarray(rank_data(r, dtype=np.float32))
    y = bf.allreduce(x)
    assert isinstance(y, jax.Array)
    np.testing.assert_allclose(np.asarray(y), np.mean([rank_data(k) for k in range(n)], axis=0),
                               rtol=1e-6)
    z = bf.neighbor_allreduce(x)
    assert isinstance(z, jax.Array) and z.dtype == jnp.float32
    w = topology_matrix(bf.load_topology())
    sources = bf.in_neighbor_ranks()
    expected = (rank_data(r) + sum(rank_data(j) for j in sources)) / (len(sources) + 1)
    np.testing.assert_allclose(np.asarray(z), expected, rtol=1e-6)
    assert w.shape == (n, n)
    gathered = bf.allgather(jnp.arange(r + 1, dtype=jnp.int32))
    assert isinstance(gathered, jax.Array)
    assert gathered.tolist() == [k for j in range(n) for k in range(j + 1)]
    handle = bf.broadcast_nonblocking(x, n - 1)
    np.testing.assert_allclose(np.asarray(bf.synchronize(handle)), rank_data(n - 1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x), rank_data(r), rtol=1e-6)  # input untouched


def test_in_place_is_refused_for_immutable_arrays():
    with pytest.raises(TypeError, match="immutable"):
        bf.allreduce_(jnp.ones(3))


def test_decentralized_training_loop():
    r = bf.rank()
    true_w = jnp.asarray(np.linspace(-1.0, 1.0, 8, dtype=np.float32))
    key = jax.random.PRNGKey(r)  # different data on every rank
    x = jax.random.normal(key, (256, 8))
    y = x @ true_w

    def loss(w, x, y):
        return jnp.mean((x @ w - y) ** 2)

    grad = jax.jit(jax.grad(loss))
    w = jnp.full((8,), float(r))  # different starting points
    for _ in range(200):
        w = bf.neighbor_allreduce(w - 0.05 * grad(w, x, y))
    assert isinstance(w, jax.Array)
    np.testing.assert_allclose(np.asarray(w), np.asarray(true_w), atol=1e-3)
    everyone = np.asarray(bf.allgather(w.reshape(1, -1)))
    assert np.abs(everyone - everyone.mean(axis=0)).max() < 1e-3
