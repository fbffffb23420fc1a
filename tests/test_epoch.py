"""Whole epochs and whole-network inference: every backend gives the reference's weights on the
same batches, and the sampling of minibatches is what it says."""

import numpy as np
import pytest
from conftest import BACKENDS, more_activations, more_optimizers

import fastnn
from fastnn import _config
from fastnn.optim import epoch_indices

COMPILED = [b for b in BACKENDS if b != "numpy"]

OPTIMIZERS = [
    fastnn.SGD(lr=0.1),
    fastnn.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3),
    fastnn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    fastnn.Adam(lr=0.01, weight_decay=1e-3),
    *more_optimizers("sgd", "adam"),
]
NETS = [
    ([2, 8, 2], "relu", "softmax", "cross_entropy"),
    ([5, 7, 3, 1], "tanh", "identity", "mse"),
    ([6, 4, 3], "sigmoid", "sigmoid", "binary_cross_entropy"),
    ([3, 1], "relu", "tanh", "mse"),
    # every other activation, hidden and at the output (the loss's general chain rule, and the
    # layer input Z kept where the derivative is written from it)
    *[([5, 7, 3, 2], act, act, "mse") for act in more_activations("relu", "tanh", "sigmoid")],
]


def data(sizes, loss, n=37, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    if loss == "cross_entropy":
        return X, rng.integers(0, sizes[-1], n)
    if loss == "binary_cross_entropy":
        return X, rng.integers(0, 2, (n, sizes[-1]))
    return X, rng.standard_normal((n, sizes[-1]))


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("net", NETS, ids=lambda n: "-".join(map(str, n[0])) + n[1] + n[3])
@pytest.mark.parametrize("sampling", ["shuffle", "uniform"])
def test_compiled_epochs_match_the_reference(backend, dtype, optimizer, net, sampling):
    sizes, act, out_act, loss = net
    X, Y = data(sizes, loss)
    results = []
    for name in ("numpy", backend):
        model = fastnn.Network(sizes, act, out_act, loss, dtype=dtype, backend=name, seed=3)
        history = model.fit(X, Y, epochs=3, batch_size=8, optimizer=optimizer, sampling=sampling)
        results.append((model, history))
    (ref, ref_hist), (got, got_hist) = results
    rtol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got_hist.loss, ref_hist.loss, rtol=rtol, atol=rtol)
    for a, b in zip(got.weights + got.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        assert a.dtype == dtype


# products large enough for two threads, so the optimizer step fused into the weight gradient
# runs on the tiles of both threads' strips: 520-300-12 (gradient split by rows, first layer
# reading its input in place, batch gathered by both threads) and 64-1700-12 (gradient split by
# columns, and an output layer of 12 through the narrow kernel on both threads); 40-50-3 in
# batches of 400 and 50: a gradient summed over several depth blocks in its buffer before the
# optimizer reads its tiles, then one whose tiles go to the optimizer without touching it
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("optimizer", OPTIMIZERS[1::2], ids=repr)
@pytest.mark.parametrize("sizes,batch,n", [([520, 300, 12], 64, 150), ([64, 1700, 12], 64, 150),
                                           ([40, 50, 3], 400, 450)], ids=str)
def test_compiled_epochs_match_the_reference_on_two_threads(backend, dtype, optimizer, sizes,
                                                            batch, n):
    X, Y = data(sizes, "cross_entropy", n=n)
    results = []
    with _config.num_threads(2):
        for name in ("numpy", backend):
            model = fastnn.Network(sizes, "relu", dtype=dtype, backend=name, seed=3)
            model.fit(X, Y, epochs=2, batch_size=batch, optimizer=optimizer)
            results.append(model)
    ref, got = results
    rtol = 2e-4 if dtype == np.float32 else 1e-10
    # Adam's step is about lr whatever the gradient's size, so a float32 gradient at rounding
    # level may move its weight by a small fraction of lr (measured: 4e-4 at lr 0.01, one of
    # 108800 weights); an update applied to the wrong tile would move many by about lr
    atol = 1e-3 if dtype == np.float32 and isinstance(optimizer, fastnn.Adam) else rtol
    for a, b in zip(got.weights + got.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("m", [1, 2, 17, 300])
@pytest.mark.parametrize("sizes", [[5, 3], [5, 9, 3], [5, 9, 11, 4, 3]], ids=str)
def test_compiled_predict_matches_the_reference(backend, dtype, m, sizes):
    X = np.random.default_rng(m).standard_normal((m, sizes[0]))
    net = fastnn.Network(sizes, activation="tanh", dtype=dtype, backend=backend, seed=1)
    ref = fastnn.Network(sizes, activation="tanh", dtype=dtype, backend="numpy", seed=1)
    got = net.forward(X)
    assert got.dtype == dtype and got.shape == (m, sizes[-1])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref.forward(X), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("n,size", [(1000, 4), (50, 7), (10, 9), (5, 5)])
def test_uniform_batches_are_distinct_and_uniform(n, size):
    rng = np.random.default_rng(0)
    counts = np.zeros(n)
    for _ in range(200):
        idx = epoch_indices(rng, n, size, "uniform")
        steps = -(-n // size)
        assert idx.dtype == np.int64 and idx.shape == (steps * size,)
        for batch in idx.reshape(steps, size):
            assert len(set(batch.tolist())) == size
        counts += np.bincount(idx, minlength=n)
    expected = counts.sum() / n
    assert np.all(np.abs(counts - expected) < 6 * np.sqrt(expected))


def test_shuffled_epochs_visit_every_sample_once():
    rng = np.random.default_rng(0)
    idx = epoch_indices(rng, 103, 8, "shuffle")
    assert sorted(idx.tolist()) == list(range(103))
    assert not np.array_equal(idx, np.arange(103))
    np.testing.assert_array_equal(epoch_indices(rng, 103, 8, "shuffle", shuffle=False),
                                  np.arange(103))
