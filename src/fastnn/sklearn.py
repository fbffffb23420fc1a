"""scikit-learn drop-in estimators on fastnn's kernels.

Design
------
``MLPClassifier`` and ``MLPRegressor`` take the parameters, defaults and fitted attributes of
``sklearn.neural_network``'s estimators, plus ``backend`` and ``n_threads``; ``Perceptron`` and
``LogisticRegression`` are the lecture notes' first models. Each estimator owns a
``fastnn.Network`` (``network_``) and trains it epoch by epoch through ``fastnn.training.Trainer``,
so the schedules, the stopping rules and early stopping of scikit-learn run around fastnn's
compiled epoch loop. ``from_sklearn`` builds one from a fitted scikit-learn MLP (its weights
copied into ``network_``), so that a model trained there is served here.

Prediction on an array already in the network's form skips scikit-learn's validation (it costs
tens of microseconds, more than a small network's forward pass on one row) and goes to the
network's compiled predictor; everything else is validated as scikit-learn does.

Scale conventions are scikit-learn's: its squared loss is ``mean((y - f)^2) / 2`` over samples
and outputs while fastnn's ``mse`` sums over outputs without the half, so the regressor trains
with half the learning rate (the same steps as scikit-learn) and reports scikit-learn's value;
``alpha`` is the L2 penalty ``alpha / (2 n_batch) ||W||^2`` per batch, i.e. a weight decay of
``alpha / batch_size`` on the weights.

``activation`` takes scikit-learn's names (``"logistic"`` for fastnn's sigmoid) and, beyond
them, every other activation fastnn can train by gradient descent (``TRAINABLE_ACTIVATIONS``,
e.g. ``"gelu"``): a documented extension, since scikit-learn has no such choice.
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._config import num_threads
from ._validation import as_kernel_array
from .activations import TRAINABLE_ACTIVATIONS
from .backends import z_buffers
from .network import Network
from .training import Trainer
from .optim import SGD, Adam

__all__ = ["MLPClassifier", "MLPRegressor", "Perceptron", "LogisticRegression"]

# activation names -> fastnn's: scikit-learn's, then fastnn's other trainable ones
_ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_ACTIVATIONS.update({a: a for a in TRAINABLE_ACTIVATIONS if a not in _ACTIVATIONS.values()})
_OUT_NAMES = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity"}
_SOLVERS = ("lbfgs", "sgd", "adam")
_SCHEDULES = ("constant", "invscaling", "adaptive")


def _stochastic(estimator):
    if estimator.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers; {estimator.solver!r} is "
            "not stochastic"
        )
    return True


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: checks, the training loops, the attributes."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 backend="auto", n_threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.n_threads = n_threads

    # -- parameters ------------------------------------------------------------------------------

    def _check_params(self):
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if np.isscalar(hidden) else list(hidden)
        if any(not isinstance(h, (int, np.integer)) or isinstance(h, bool) or h < 1
               for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {hidden}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {list(_ACTIVATIONS)}, "
                             f"got {self.activation!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {list(_SOLVERS)}, got {self.solver!r}")
        if self.learning_rate not in _SCHEDULES:
            raise ValueError(f"learning_rate must be one of {list(_SCHEDULES)}, "
                             f"got {self.learning_rate!r}")
        checks = [("alpha", self.alpha, 0, False), ("learning_rate_init", self.learning_rate_init,
                  0, True), ("power_t", self.power_t, 0, False), ("tol", self.tol, 0, False),
                  ("momentum", self.momentum, 0, False), ("beta_1", self.beta_1, 0, False),
                  ("beta_2", self.beta_2, 0, False), ("epsilon", self.epsilon, 0, True)]
        for name, value, low, strict in checks:
            if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or not (
                    value > low if strict else value >= low) or not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} "
                                 f"{low}, got {value!r}")
        if self.momentum > 1 or self.beta_1 >= 1 or self.beta_2 >= 1:
            raise ValueError("momentum must be <= 1, beta_1 and beta_2 < 1")
        for name in ("max_iter", "n_iter_no_change", "max_fun"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must lie in (0, 1), "
                             f"got {self.validation_fraction!r}")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, (int, np.integer))
                                          or isinstance(self.batch_size, bool)
                                          or self.batch_size < 1):
            raise ValueError(f"batch_size must be 'auto' or a positive integer, "
                             f"got {self.batch_size!r}")
        return [int(h) for h in hidden]

    # -- the network -------------------------------------------------------------------------------

    def _build(self, n_features, n_outputs, out_activation, loss, dtype, rng):
        hidden = self._check_params()
        self.network_ = Network([n_features, *hidden, n_outputs],
                                activation=_ACTIVATIONS[self.activation],
                                output_activation=out_activation, loss=loss, dtype=dtype,
                                backend=self.backend, seed=int(rng.randint(0, 2**31 - 1)))
        self.n_layers_ = len(hidden) + 2
        self.n_outputs_ = n_outputs
        self.out_activation_ = _OUT_NAMES[out_activation]
        self._sync()
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
        else:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf
        self._optimizer_state = None

    def _sync(self):
        self.coefs_ = list(self.network_.weights)
        self.intercepts_ = list(self.network_.biases)

    def _penalty(self, n):
        """scikit-learn's L2 term ``alpha / (2 n) sum ||W||^2`` for a batch of ``n``."""
        return 0.5 * self.alpha * sum(float(np.vdot(W, W)) for W in self.network_.weights) / n

    # -- training ----------------------------------------------------------------------------------

    def _fit(self, X, Y, incremental):
        if self.solver == "lbfgs":
            return self._fit_lbfgs(X, Y)
        return self._fit_stochastic(X, Y, incremental)

    def _fit_stochastic(self, X, Y, incremental):
        net = self.network_
        rng = check_random_state(self.random_state)
        early = self.early_stopping and not incremental
        X_val = Y_val = None
        if early:
            stratify = self._stratify(Y)
            X, X_val, Y, Y_val = train_test_split(X, Y, random_state=rng.randint(2**31 - 1),
                                                  test_size=self.validation_fraction,
                                                  stratify=stratify)
        n = X.shape[0]
        batch_size = min(200, n) if self.batch_size == "auto" else self.batch_size
        if batch_size > n and self.batch_size != "auto":
            warnings.warn("Got `batch_size` larger than the number of samples; it is clipped",
                          stacklevel=3)
        batch_size = min(batch_size, n)
        # the squared-loss scale changes SGD's steps; Adam's steps are invariant to it
        scale = self._lr_scale if self.solver == "sgd" else 1.0
        lr = getattr(self, "_lr", None) if incremental else None
        lr = self.learning_rate_init if lr is None else lr
        if self.solver == "sgd":
            optimizer = SGD(lr=scale * lr, momentum=self.momentum,
                            nesterov=self.nesterovs_momentum and self.momentum > 0,
                            weight_decay=self.alpha / batch_size / scale)
        else:
            optimizer = Adam(lr=lr, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
                             weight_decay=self.alpha / batch_size / self._lr_scale)
        trainer = Trainer(net, X, Y, batch_size, optimizer, "shuffle", self.shuffle,
                          state=self._optimizer_state if (incremental or self.warm_start)
                          else None)
        self._optimizer_state = trainer.state
        for _ in range(1 if incremental else self.max_iter):
            loss = trainer.run_epoch(self.n_iter_, scale * lr) * self._report_scale
            loss += self._penalty(batch_size) * -(-n // batch_size) * batch_size / n
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = loss
            self.loss_curve_.append(loss)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
            self._update_no_improvement(early, X_val, Y_val)
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                lr = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                if self.solver == "sgd" and self.learning_rate == "adaptive" and lr > 1e-6:
                    lr /= 5
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(f"Setting learning rate to {lr:f}")
                else:
                    what = "Validation score" if early else "Training loss"
                    if self.verbose:
                        print(f"{what} did not improve more than tol={self.tol:f} for "
                              f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                    break
        else:
            if not incremental:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                              "reached and the optimization hasn't converged yet.",
                              ConvergenceWarning, stacklevel=3)
        self._lr = lr
        if early:
            for dst, src in zip(net.weights + net.biases, self._best_params):
                dst[...] = src
        self._sync()

    def _update_no_improvement(self, early, X_val, Y_val):
        if early:
            score = self._validation_score(X_val, Y_val)
            self.validation_scores_.append(score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = [p.copy() for p in
                                     self.network_.weights + self.network_.biases]
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _fit_lbfgs(self, X, Y):
        from scipy.optimize import minimize

        net, backend = self.network_, self.network_.backend
        params = net.weights + net.biases
        shapes, sizes = [p.shape for p in params], [p.size for p in params]
        splits = np.cumsum(sizes)[:-1]
        n = X.shape[0]
        outs = [np.empty((n, k), net.dtype) for k in net.sizes[1:]]
        zs = z_buffers(net.sizes, net.activations, n, net.dtype)
        deltas = [np.empty_like(a) for a in outs]
        dW = [np.empty_like(W) for W in net.weights]
        db = [np.empty_like(b) for b in net.biases]
        scale = self._report_scale

        def loss_and_grad(theta):
            for p, chunk, shape in zip(params, np.split(theta, splits), shapes):
                p[...] = chunk.reshape(shape)
            backend.forward_train(net.weights, net.biases, net.activations, X, outs, zs)
            risk, _ = backend.loss_and_delta(outs[-1], Y, net.loss_name, net.output_activation,
                                             D=deltas[-1])
            backend.backward(net.weights, net.activations, X, outs, zs, deltas, dW, db)
            grads = [g * scale + self.alpha * W / n for g, W in zip(dW, net.weights)]
            grads += [g * scale for g in db]
            value = risk * scale + self._penalty(n)
            return value, np.concatenate([g.ravel() for g in grads]).astype(np.float64)

        theta0 = np.concatenate([p.ravel() for p in params]).astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            result = minimize(loss_and_grad, theta0, method="L-BFGS-B", jac=True,
                              options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                       "gtol": self.tol})
        for p, chunk, shape in zip(params, np.split(result.x, splits), shapes):
            p[...] = chunk.reshape(shape)
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        if result.status == 1:
            warnings.warn(f"lbfgs failed to converge (status=1): {result.message}; increase "
                          "max_iter or scale the data", ConvergenceWarning, stacklevel=3)
        self._sync()

    # -- import -------------------------------------------------------------------------------------

    @classmethod
    def from_sklearn(cls, model, *, backend="auto", n_threads=None):
        """This estimator with the weights of a fitted scikit-learn MLP: the same parameters,
        fitted attributes and predictions (to rounding), predicted by fastnn's kernels.

        ``model`` is a fitted ``sklearn.neural_network.MLPClassifier`` (for the classifier) or
        ``MLPRegressor``; its weights are copied, in their dtype. The optimizer's state (the
        momentum or Adam's moments) is scikit-learn's private business and is not imported: a
        ``partial_fit`` after the import starts it afresh.
        """
        from sklearn import neural_network

        kind = getattr(neural_network, cls._sklearn_model)
        if not isinstance(model, kind):
            raise TypeError(f"{cls.__name__}.from_sklearn takes a fitted "
                            f"sklearn.neural_network.{kind.__name__}, got {type(model).__name__}")
        check_is_fitted(model, "coefs_")
        params, defaults = model.get_params(), kind().get_params()
        ours = cls().get_params()
        for name in set(params) - set(ours):  # what this scikit-learn has and fastnn has not
            if params[name] != defaults[name]:
                raise ValueError(f"fastnn's {cls.__name__} has no {name}={params[name]!r}")
        est = cls(**{k: v for k, v in params.items() if k in ours}, backend=backend,
                  n_threads=n_threads)
        coefs, intercepts = model.coefs_, model.intercepts_
        dtype = np.result_type(*coefs, *intercepts)
        out = {"softmax": "softmax", "logistic": "sigmoid", "identity": "identity"}
        if model.out_activation_ not in out:
            raise ValueError(f"unknown output activation {model.out_activation_!r}")
        out = out[model.out_activation_]
        loss = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(out, "mse")
        est._import_targets(model)
        est._build(coefs[0].shape[0], coefs[-1].shape[1], out, loss, dtype,
                   check_random_state(0))
        if est.network_.sizes[1:-1] != [W.shape[1] for W in coefs[:-1]]:
            raise ValueError("the model's weights do not match its hidden_layer_sizes")
        for dst, src in zip(est.network_.weights + est.network_.biases, [*coefs, *intercepts]):
            dst[...] = src
        est._sync()
        for name in ("n_features_in_", "feature_names_in_", "n_iter_", "t_", "loss_",
                     "best_loss_", "validation_scores_", "best_validation_score_"):
            if hasattr(model, name):
                setattr(est, name, getattr(model, name))
        est.loss_curve_ = list(getattr(model, "loss_curve_", []))
        return est

    # -- fitting entry points ----------------------------------------------------------------------

    def fit(self, X, y):
        """Fit the model to ``X`` and ``y`` (the parameters say how)."""
        return self._fit_entry(X, y, incremental=False)

    @available_if(_stochastic)
    def partial_fit(self, X, y, **kwargs):
        """One epoch over ``X`` and ``y``, continuing from the current state."""
        return self._fit_entry(X, y, incremental=True, **kwargs)

    def _check_Xy(self, X, y, first, **kwargs):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True,
                             reset=first, **kwargs)
        if y.ndim == 2 and y.shape[1] == 1:  # a column vector is one target, as in sklearn
            y = column_or_1d(y, warn=True)
        return X, y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _predict_raw(self, X):
        net = getattr(self, "network_", None)
        if net is not None and type(X) is np.ndarray and not hasattr(self, "feature_names_in_"):
            # a row already in the network's form (dtype, width, layout, finite) skips
            # scikit-learn's validation, which costs far more than a small network's forward
            # pass; anything else, and an estimator fitted on named features (whose check
            # warns about an array), takes the full path below
            P = net.backend.predict_ready(net, X, self.n_threads)
            if P is not None:
                return P
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        X = X.astype(self.network_.dtype, copy=False)
        with num_threads(self.n_threads):
            return self.network_.forward(X)


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: ``sklearn.neural_network.MLPClassifier`` on fastnn.

    Same parameters, defaults and fitted attributes, plus ``backend`` (a fastnn backend name)
    and ``n_threads``. Multiclass targets train a softmax output with cross-entropy; binary and
    multilabel targets a logistic output with binary cross-entropy. float32 input trains a
    float32 network; anything else float64.
    """

    _report_scale = 1.0
    _lr_scale = 1.0
    _sklearn_model = "MLPClassifier"

    def _import_targets(self, model):
        """The label encoding of scikit-learn's ``model`` (see ``from_sklearn``)."""
        self.classes_ = model.classes_
        if model.out_activation_ == "logistic" and model.n_outputs_ > 1:  # multilabel
            self._label_binarizer = LabelBinarizer().fit(np.eye(model.n_outputs_, dtype=int))
        else:
            self._label_binarizer = LabelBinarizer().fit(model.classes_)

    def _stratify(self, Y):
        """Class labels to stratify the early-stopping split on (None for multilabel)."""
        if self._label_binarizer.y_type_.startswith("multilabel"):
            return None
        return Y[:, 0] if Y.shape[1] == 1 else np.argmax(Y, axis=1)

    def _fit_entry(self, X, y, incremental, classes=None):
        self._check_params()
        first = not (incremental or self.warm_start) or not hasattr(self, "network_")
        X, y = self._check_Xy(X, y, first)
        dtype = X.dtype
        if first:
            if incremental and classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._label_binarizer = LabelBinarizer()
            target_type = type_of_target(y)
            if target_type not in ("binary", "multiclass", "multilabel-indicator"):
                raise ValueError(f"Unknown label type: {target_type!r}; MLPClassifier takes "
                                 "binary, multiclass or multilabel-indicator targets")
            self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
        else:
            if incremental and classes is not None and not np.array_equal(
                    unique_labels(classes), self.classes_):
                raise ValueError(f"classes={classes!r} is not the same as on the first call to "
                                 f"partial_fit: {self.classes_!r}")
            if not set(unique_labels(y)) <= set(self.classes_):
                raise ValueError(f"y holds labels not seen in the first fit: "
                                 f"{sorted(set(unique_labels(y)) - set(self.classes_))}")
        Y = self._label_binarizer.transform(y).astype(dtype)
        multilabel = self._label_binarizer.y_type_.startswith("multilabel")
        out = "sigmoid" if (Y.shape[1] == 1 or multilabel) else "softmax"
        loss = "binary_cross_entropy" if out == "sigmoid" else "cross_entropy"
        if first:
            self._build(X.shape[1], Y.shape[1], out, loss, dtype,
                        check_random_state(self.random_state))
        X = as_kernel_array(X, self.network_.dtype)
        Y = as_kernel_array(Y, self.network_.dtype)
        with num_threads(self.n_threads):
            self._fit(X, Y, incremental)
        return self

    def _validation_score(self, X_val, Y_val):
        return float(np.mean(np.all(self._decide(self.network_.forward(X_val))
                                    == self._decide(Y_val), axis=1)))

    def _decide(self, P):
        if P.shape[1] == 1 or self._label_binarizer.y_type_.startswith("multilabel"):
            return (P > 0.5).astype(np.int64)
        return np.eye(P.shape[1], dtype=np.int64)[np.argmax(P, axis=1)]

    def predict(self, X):
        """Class labels for the rows of ``X``."""
        P = self._predict_raw(X)
        if self._label_binarizer.y_type_.startswith("multilabel") or len(self.classes_) < 2:
            return self._label_binarizer.inverse_transform(self._decide(P))
        # LabelBinarizer.inverse_transform's choice (threshold 0.5, else the largest
        # probability) without building the indicator matrix
        index = (P[:, 0] > 0.5).astype(np.intp) if P.shape[1] == 1 else np.argmax(P, axis=1)
        return self.classes_[index]

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        P = self._predict_raw(X)
        if P.shape[1] == 1 and not self._label_binarizer.y_type_.startswith("multilabel"):
            return np.hstack([1 - P, P])
        return P

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: ``sklearn.neural_network.MLPRegressor`` on fastnn.

    Identity output, squared loss; same parameters, defaults and fitted attributes as
    scikit-learn's, plus ``backend`` and ``n_threads``.
    """

    _lr_scale = 0.5  # fastnn's mse gradient is twice scikit-learn's squared-loss gradient
    _sklearn_model = "MLPRegressor"

    def _import_targets(self, model):
        self._y_1d = model.n_outputs_ == 1  # scikit-learn's predict ravels one output

    @property
    def _report_scale(self):
        return 0.5 / self.n_outputs_

    def _stratify(self, Y):
        return None

    def _fit_entry(self, X, y, incremental):
        self._check_params()
        first = not (incremental or self.warm_start) or not hasattr(self, "network_")
        X, y = self._check_Xy(X, y, first, y_numeric=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        self._y_1d = y.ndim == 1
        if first:
            self._build(X.shape[1], Y.shape[1], "identity", "mse", X.dtype,
                        check_random_state(self.random_state))
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, the model {self.n_outputs_}")
        X = as_kernel_array(X, self.network_.dtype)
        Y = as_kernel_array(Y, self.network_.dtype)
        with num_threads(self.n_threads):
            self._fit(X, Y, incremental)
        return self

    def _validation_score(self, X_val, Y_val):
        from sklearn.metrics import r2_score

        return float(r2_score(Y_val, self.network_.forward(X_val)))

    def predict(self, X):
        """Predicted values, shape ``(n,)`` for a 1-D ``y`` at fit, ``(n, n_outputs)`` otherwise."""
        P = self._predict_raw(X)
        return P[:, 0] if self._y_1d else P


class Perceptron(ClassifierMixin, BaseEstimator):
    """Rosenblatt's perceptron: one layer of step units, trained by the perceptron rule.

    For each misclassified sample ``w <- w + eta (y - f(x)) x`` (and the bias alike), with
    ``f(x) = step(w . x + b)``, in epochs over the shuffled data until an epoch makes no mistake
    or ``max_iter`` epochs have run. Multiclass targets train one unit per class, one against
    the rest, and predict the class with the largest ``w . x + b``. The forward pass runs on
    the chosen fastnn backend.
    """

    def __init__(self, *, eta0=1.0, max_iter=1000, shuffle=True, random_state=None,
                 backend="auto"):
        self.eta0 = eta0
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.backend = backend

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32))
        if not (isinstance(self.eta0, (int, float)) and self.eta0 > 0):
            raise ValueError(f"eta0 must be positive, got {self.eta0!r}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        target_type = type_of_target(y)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(f"Unknown label type: {target_type!r}")
        self._label_binarizer = LabelBinarizer().fit(y)
        self.classes_ = self._label_binarizer.classes_
        T = self._label_binarizer.transform(y).astype(X.dtype)
        rng = check_random_state(self.random_state)
        self.network_ = Network([X.shape[1], T.shape[1]], output_activation="step", loss="mse",
                                dtype=X.dtype, backend=self.backend,
                                seed=int(rng.randint(0, 2**31 - 1)))
        W, b = self.network_.weights[0], self.network_.biases[0]
        W[...] = 0
        order = np.arange(X.shape[0])
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            if self.shuffle:
                rng.shuffle(order)
            mistakes = 0
            for i in order:
                error = T[i] - self.network_.forward(X[i:i + 1])[0]
                if error.any():
                    W += self.eta0 * np.outer(X[i], error)
                    b += self.eta0 * error
                    mistakes += 1
            self.n_iter_ += 1
            if mistakes == 0:
                break
        self.coef_, self.intercept_ = W.T, b
        return self

    def decision_function(self, X):
        check_is_fitted(self, "network_")
        X = validate_data(self, X, dtype=self.network_.dtype, reset=False)
        W, b = self.network_.weights[0], self.network_.biases[0]
        Z = X @ W + b
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict(self, X):
        Z = self.decision_function(X)
        if Z.ndim == 1:
            return self.classes_[(Z > 0).astype(int)]
        return self.classes_[np.argmax(Z, axis=1)]


class LogisticRegression(MLPClassifier):
    """Logistic regression: a network without hidden layers (one sigmoid unit, or a softmax
    layer for several classes) trained by minibatch SGD or Adam on the cross-entropy, with L2
    penalty ``alpha``. Its parameters are those of ``MLPClassifier`` that apply; the others are
    fixed below."""

    hidden_layer_sizes = ()
    activation = "identity"
    power_t = 0.5
    early_stopping = False
    validation_fraction = 0.1
    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-8
    max_fun = 15000

    def __init__(self, *, solver="sgd", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.1, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, n_iter_no_change=10, backend="auto", n_threads=None):
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.n_iter_no_change = n_iter_no_change
        self.backend = backend
        self.n_threads = n_threads

    @property
    def coef_(self):
        check_is_fitted(self, "network_")
        return self.network_.weights[0]

    @property
    def intercept_(self):
        check_is_fitted(self, "network_")
        return self.network_.biases[0]
