"""Loop-level, obviously correct versions of the kernels, in float64: the tests' ground truth.

They are slow on purpose and share no code with fastnn.
"""

import math

import numpy as np


def act(name, z):
    if name == "identity":
        return z
    if name == "relu":
        return z if z > 0 else 0.0
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    if name == "tanh":
        return math.tanh(z)
    if name == "step":
        return 1.0 if z > 0 else 0.0
    if name == "leaky_relu":
        return z if z > 0 else 0.01 * z
    if name == "gelu":
        return 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    raise ValueError(name)


# derivatives written from the input z (activations whose output does not determine z)
def _d_gelu(z):
    u = math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)
    du = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * z * z)
    return 0.5 * (1 + math.tanh(u)) + 0.5 * z * (1 - math.tanh(u) ** 2) * du


D_ACT_FROM_Z = {"gelu": _d_gelu}


def d_act(name, a):
    return {"identity": 1.0, "relu": float(a > 0), "sigmoid": a * (1 - a), "tanh": 1 - a * a,
            "step": 0.0, "leaky_relu": 1.0 if a > 0 else 0.01}[name]


def dense_forward(X, W, b, activation):
    m, k = X.shape
    n = W.shape[1]
    out = np.empty((m, n))
    for i in range(m):
        for j in range(n):
            out[i, j] = sum(float(X[i, p]) * float(W[p, j]) for p in range(k)) + float(b[j])
        if activation == "softmax":
            row = out[i] - out[i].max()
            out[i] = np.exp(row) / np.exp(row).sum()
        else:
            for j in range(n):
                out[i, j] = act(activation, out[i, j])
    return out


def dense_backward(A_prev, W, D, activation_prev, Z_prev=None):
    """The derivative from ``A_prev``, or from ``Z_prev`` for the activations written from z."""
    m, n_in = A_prev.shape
    n_out = W.shape[1]
    dW = np.zeros((n_in, n_out))
    db = np.zeros(n_out)
    D_prev = np.zeros((m, n_in))
    for i in range(m):
        for j in range(n_out):
            db[j] += D[i, j]
            for p in range(n_in):
                dW[p, j] += A_prev[i, p] * D[i, j]
                D_prev[i, p] += D[i, j] * W[p, j]
    if activation_prev is None:
        return dW, db, None
    for i in range(m):
        for p in range(n_in):
            if activation_prev in D_ACT_FROM_Z:
                D_prev[i, p] *= D_ACT_FROM_Z[activation_prev](float(Z_prev[i, p]))
            else:
                D_prev[i, p] *= d_act(activation_prev, float(A_prev[i, p]))
    return dW, db, D_prev
