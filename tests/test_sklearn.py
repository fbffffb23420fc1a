"""The scikit-learn estimators: scikit-learn's own estimator checks, accuracy on its bundled
datasets, and the behaviour a user of sklearn.neural_network expects."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastnn.sklearn import LogisticRegression, MLPClassifier, MLPRegressor, Perceptron

# expected failures of scikit-learn's checks, each with its reason
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [MLPClassifier(max_iter=300, random_state=0), MLPRegressor(max_iter=300, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.25, random_state=0, stratify=y)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_digits_accuracy(backend, digits, solver):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(128,), solver=solver, max_iter=100, random_state=0,
                        learning_rate_init=0.001 if solver == "adam" else 0.05, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.97


def test_breast_cancer_accuracy(backend):
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
    scaler = StandardScaler().fit(X_train)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(scaler.transform(X_train), y_train)
    assert clf.score(scaler.transform(X_test), y_test) >= 0.95
    proba = clf.predict_proba(scaler.transform(X_test))
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_fitted_attributes_match_sklearn(digits):
    from sklearn.neural_network import MLPClassifier as SkMLP

    X_train, _, y_train, _ = digits
    ours = MLPClassifier(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0)
    theirs = SkMLP(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(X_train, y_train)
        theirs.fit(X_train, y_train)
    for attr in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_",
                 "n_features_in_", "best_validation_score_", "validation_scores_"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [c.shape for c in ours.intercepts_] == [c.shape for c in theirs.intercepts_]
    assert len(ours.loss_curve_) == 5 and ours.loss_ == ours.loss_curve_[-1]
    assert ours.best_loss_ == min(ours.loss_curve_)
    # one more epoch of training lands in the same loss range as scikit-learn's
    assert 0.2 < ours.loss_ / theirs.loss_ < 5


def test_float32_input_trains_a_float32_model(digits):
    X_train, X_test, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train.astype(np.float32), y_train)
    assert all(c.dtype == np.float32 for c in clf.coefs_)
    assert clf.predict_proba(X_test.astype(np.float32)).dtype == np.float32


def test_early_stopping_keeps_the_best_validation_score(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, max_iter=200,
                        n_iter_no_change=3, random_state=0)
    clf.fit(X_train, y_train)
    assert clf.best_loss_ is None
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.n_iter_ < 200


def test_partial_fit_and_warm_start(digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), solver="sgd", learning_rate_init=0.1,
                        random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X_train, y_train)
    clf.partial_fit(X_train, y_train, classes=np.arange(10))
    for _ in range(20):
        clf.partial_fit(X_train, y_train)
    assert clf.n_iter_ == 21 and clf.score(X_test, y_test) > 0.9
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit
    warm = MLPClassifier(hidden_layer_sizes=(32,), max_iter=2, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X_train, y_train)
        first = [c.copy() for c in warm.coefs_]
        warm.fit(X_train, y_train)
    assert warm.n_iter_ == 4
    assert any(not np.array_equal(a, b) for a, b in zip(first, warm.coefs_))


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
def test_sgd_schedules_learn_as_well_as_sklearn(digits, learning_rate):
    from sklearn.neural_network import MLPClassifier as SkMLP

    X_train, X_test, y_train, y_test = digits
    params = dict(hidden_layer_sizes=(32,), solver="sgd", learning_rate=learning_rate,
                  learning_rate_init=0.2, max_iter=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**params).fit(X_train, y_train)
        theirs = SkMLP(**params).fit(X_train, y_train)
    assert ours.score(X_test, y_test) >= theirs.score(X_test, y_test) - 0.03
    if learning_rate == "invscaling":  # lr_init / (samples seen + 1) ** power_t
        assert ours._lr == pytest.approx(0.2 / (ours.t_ + 1) ** 0.5)


def test_lbfgs(digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.93


def test_multilabel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < 0.5]).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.predict(X).shape == Y.shape
    assert np.mean(clf.predict(X) == Y) > 0.9


def test_regressor_r2():
    X, y = make_regression(n_samples=400, n_features=8, noise=1.0, random_state=0)
    y = y / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=400, learning_rate_init=0.01,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    assert reg.score(X, y) > 0.95
    assert reg.predict(X).shape == (400,)
    assert reg.out_activation_ == "identity"


def test_perceptron_and_logistic_regression():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(-2, 0.5, (50, 2)), rng.normal(2, 0.5, (50, 2))])
    y = np.repeat(["no", "yes"], 50)
    p = Perceptron(random_state=0).fit(X, y)
    assert np.all(p.predict(X) == y) and p.coef_.shape == (1, 2)
    lr = LogisticRegression(random_state=0).fit(X, y)
    assert lr.score(X, y) == 1.0
    xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    assert Perceptron(max_iter=50).fit(xor, [0, 1, 1, 0]).score(xor, [0, 1, 1, 0]) < 1


@pytest.mark.parametrize("params,match", [
    ({"activation": "softplus"}, "activation"), ({"solver": "newton"}, "solver"),
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"), ({"learning_rate_init": 0}, "learning"),
    ({"batch_size": 0}, "batch_size"), ({"backend": "cuda"}, "backend"),
])
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**params).fit(np.ones((4, 2)), [0, 1, 0, 1])
