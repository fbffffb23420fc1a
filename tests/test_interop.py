"""Models in and out: scikit-learn's fitted MLPs imported (``from_sklearn``) predict what
scikit-learn predicts, and fastnn's models exported to ONNX (``fastnn.onnx.to_onnx``) compute
in onnxruntime what they compute in fastnn."""

import warnings

import numpy as np
import pytest
from conftest import DTYPES
from sklearn import neural_network as skl
from sklearn.exceptions import NotFittedError

import fastnn
from fastnn.sklearn import MLPClassifier, MLPRegressor

TARGETS = {
    "binary": lambda rng, n: rng.choice(["cat", "dog"], n),
    "multiclass": lambda rng, n: rng.integers(0, 5, n) * 3 - 4,
    "multilabel": lambda rng, n: rng.integers(0, 2, (n, 3)),
    "regression": lambda rng, n: rng.standard_normal(n),
    "regression 2 outputs": lambda rng, n: rng.standard_normal((n, 2)),
}


def sklearn_model(target, activation="relu", dtype=np.float64, hidden=(11, 6), n=80):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 7)).astype(dtype)
    cls = skl.MLPRegressor if target.startswith("regression") else skl.MLPClassifier
    model = cls(hidden_layer_sizes=hidden, activation=activation, max_iter=30, random_state=0,
                learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        model.fit(X, TARGETS[target](rng, n))
    return model, rng.standard_normal((50, 7)).astype(dtype)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_an_imported_model_predicts_what_scikit_learn_predicts(target, activation):
    model, X = sklearn_model(target, activation)
    cls = MLPRegressor if target.startswith("regression") else MLPClassifier
    est = cls.from_sklearn(model)
    assert est.network_.dtype == np.float64
    assert est.get_params()["activation"] == activation
    assert est.n_features_in_ == 7 and est.n_layers_ == model.n_layers_
    assert est.out_activation_ == model.out_activation_
    assert est.loss_curve_ == model.loss_curve_ and est.n_iter_ == model.n_iter_
    for rows in (X, X[:1]):
        if cls is MLPClassifier:
            np.testing.assert_allclose(est.predict_proba(rows), model.predict_proba(rows),
                                       rtol=0, atol=1e-12)
            np.testing.assert_array_equal(est.predict(rows), model.predict(rows))
            np.testing.assert_array_equal(est.classes_, model.classes_)
        else:
            got, want = est.predict(rows), model.predict(rows)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.score(X[:20], model.predict(X[:20])), 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_import_keeps_the_models_dtype(dtype):
    model, X = sklearn_model("multiclass", dtype=dtype)
    est = MLPClassifier.from_sklearn(model, backend="cython" if "cython" in
                                     fastnn.available_backends() else "auto")
    assert all(W.dtype == dtype for W in est.coefs_ + est.intercepts_)
    np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(X),
                               rtol=0, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_an_imported_model_trains_on():
    model, X = sklearn_model("multiclass")
    est = MLPClassifier.from_sklearn(model)
    rng = np.random.default_rng(1)
    est.partial_fit(X, TARGETS["multiclass"](rng, len(X)))
    assert est.n_iter_ == model.n_iter_ + 1
    assert not np.array_equal(est.coefs_[0], model.coefs_[0])


def test_the_import_refuses_what_it_cannot_take():
    model, _ = sklearn_model("multiclass")
    with pytest.raises(TypeError, match="MLPRegressor"):
        MLPRegressor.from_sklearn(model)
    with pytest.raises(TypeError, match="MLPClassifier"):
        MLPClassifier.from_sklearn(MLPClassifier())
    with pytest.raises(NotFittedError):
        MLPClassifier.from_sklearn(skl.MLPClassifier())


def test_a_scikit_learn_setting_fastnn_lacks_is_refused():
    model, _ = sklearn_model("regression")
    if "loss" not in model.get_params():
        pytest.skip("this scikit-learn's MLPRegressor has no loss parameter")
    model.set_params(loss="poisson")
    with pytest.raises(ValueError, match="poisson"):
        MLPRegressor.from_sklearn(model)


# -- ONNX ----------------------------------------------------------------------------------------

def onnx_session(model):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from fastnn.onnx import to_onnx

    proto = to_onnx(model)
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


TOL = {np.float32: 1e-5, np.float64: 1e-12}


def test_every_activation_has_an_onnx_form():
    pytest.importorskip("onnx")
    from fastnn.activations import ACTIVATIONS
    from fastnn.onnx import ACTIVATION_OPS

    assert set(ACTIVATION_OPS) == set(ACTIVATIONS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", sorted(fastnn.activations.HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize("output", sorted(fastnn.activations.ACTIVATIONS))
def test_an_exported_network_computes_what_fastnn_computes(dtype, hidden, output):
    net = fastnn.Network([6, 9, 5, 4], activation=hidden, output_activation=output,
                         dtype=dtype, seed=3)
    rng = np.random.default_rng(1)
    for W, b in zip(net.weights, net.biases):  # biases away from 0, so that they count
        b[...] = rng.standard_normal(b.shape)
    X = rng.standard_normal((33, 6)).astype(dtype)
    X[0] = 0  # step's and relu's edge
    (got,) = onnx_session(net).run(None, {"X": X})
    assert got.dtype == dtype and got.shape == (33, 4)
    np.testing.assert_allclose(got, net.forward(X), rtol=0, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel", "strings", "floats",
                                    "one class"])
def test_an_exported_classifier_gives_labels_and_probabilities(dtype, target):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 5)).astype(dtype)
    y = {"binary": rng.integers(0, 2, 90), "multiclass": rng.integers(0, 4, 90) * 7 - 3,
         "multilabel": rng.integers(0, 2, (90, 3)),
         "strings": rng.choice(["setosa", "versicolor", "virginica"], 90),
         "floats": rng.choice([-1.0, 2.0, 5.0], 90), "one class": np.full(90, 7)}[target]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=20,
                            random_state=0).fit(X, y)
    session = onnx_session(est)
    assert [o.name for o in session.get_outputs()] == ["label", "probabilities"]
    label, proba = session.run(None, {"X": X})
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=TOL[dtype])
    want = est.predict(X)
    if target == "strings":
        label = label.astype(str)
    np.testing.assert_array_equal(label, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("outputs", [1, 3])
def test_an_exported_regressor_gives_variable(dtype, outputs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((70, 4)).astype(dtype)
    y = rng.standard_normal((70, outputs)) if outputs > 1 else rng.standard_normal(70)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPRegressor(hidden_layer_sizes=(10, 6), max_iter=20, random_state=0).fit(X, y)
    session = onnx_session(est)
    assert [o.name for o in session.get_outputs()] == ["variable"]
    (got,) = session.run(None, {"X": X})
    assert got.shape == (70, outputs)
    np.testing.assert_allclose(got.reshape(est.predict(X).shape), est.predict(X), rtol=0,
                               atol=TOL[dtype])


def test_an_imported_scikit_learn_model_exports():
    model, X = sklearn_model("multiclass")
    label, proba = onnx_session(MLPClassifier.from_sklearn(model)).run(None, {"X": X})
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(label, model.predict(X))


def test_the_export_refuses_what_it_cannot_take():
    pytest.importorskip("onnx")
    from fastnn.onnx import to_onnx

    with pytest.raises(NotFittedError):
        to_onnx(MLPClassifier())
    with pytest.raises(TypeError, match="Network"):
        to_onnx(skl.MLPClassifier())
    net = fastnn.Network([2, 3])
    net.weights[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        to_onnx(net)
