"""Digits: fastnn's MLPClassifier beside scikit-learn's, same parameters, same data.

    python examples/digits.py
"""

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP

from fastnn.sklearn import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.25, random_state=0,
                                                    stratify=y)
params = dict(hidden_layer_sizes=(128,), solver="sgd", learning_rate_init=0.05, max_iter=100,
              random_state=0)
for name, cls in (("fastnn", MLPClassifier), ("scikit-learn", SklearnMLP)):
    clf = cls(**params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    print(f"{name:>12}: test accuracy {clf.score(X_test, y_test):.4f}, {clf.n_iter_} epochs "
          f"in {elapsed:.2f} s")
