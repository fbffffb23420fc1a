"""Export to ONNX: a ``Network`` or a fitted estimator as an ONNX model, for runtimes without
Python.

Design
------
Each layer is ``MatMul`` then ``Add`` of the bias, then its activation; ``ACTIVATION_OPS`` holds one
builder per fastnn activation (a test checks that none is missing), each a standard ONNX operator
or, where ONNX has none in the opset used, the same formula from elementary ones (gelu's tanh
form). The graph computes in the network's dtype, float32 or float64. The estimators' outputs
are named as scikit-learn's converters name them, so code that serves such models takes these:
a classifier's ``label`` (the classes as int64, double or strings; a 0/1 matrix for multilabel
targets) and ``probabilities`` (a plain tensor, no ZipMap), a regressor's ``variable``. A
``Network`` has one output, ``output``. The input is ``X``, of shape ``(N, n_features)``.

``onnx`` is an optional dependency (``pip install fastnn[onnx]``, which also brings onnxruntime).
"""

import numpy as np

import fastnn

__all__ = ["to_onnx", "ACTIVATION_OPS", "OPSET"]

OPSET = 17  # Softmax over one axis (13); every runtime of the last years runs it
_IR_VERSION = 8  # the oldest IR that carries opset 17, for the widest choice of runtimes


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("fastnn.onnx needs the onnx package: pip install fastnn[onnx]") from exc
    return onnx


class _Graph:
    """The nodes and constants of a graph being built, with unique names."""

    def __init__(self, onnx, dtype):
        self.onnx, self.dtype = onnx, np.dtype(dtype)
        self.nodes, self.initializers, self._count = [], [], 0

    def name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint="c", dtype=None):
        name = self.name(hint)
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type, inputs, output=None, **attrs):
        output = output or self.name(op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [output], **attrs))
        return output


def _gelu(g, z, out):
    # 0.5 z (1 + tanh(C (z + K z^3))), fastnn's tanh form (Gelu is an operator only from opset 20)
    from .activations import _GELU_C, _GELU_K

    z3 = g.op("Mul", [g.op("Mul", [z, z]), z])
    inner = g.op("Mul", [g.op("Add", [z, g.op("Mul", [z3, g.const(_GELU_K)])]), g.const(_GELU_C)])
    half = g.op("Mul", [z, g.const(0.5)])
    return g.op("Mul", [half, g.op("Add", [g.op("Tanh", [inner]), g.const(1.0)])], out)


# activation name -> (graph, input name, output name or None) -> output name
ACTIVATION_OPS = {
    "identity": lambda g, z, out: g.op("Identity", [z], out),
    "relu": lambda g, z, out: g.op("Relu", [z], out),
    "sigmoid": lambda g, z, out: g.op("Sigmoid", [z], out),
    "tanh": lambda g, z, out: g.op("Tanh", [z], out),
    # 1 where z > 0, else 0 (NaN: 0), as fastnn's kernels
    "step": lambda g, z, out: g.op("Cast", [g.op("Greater", [z, g.const(0.0)])], out,
                                   to=g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype)),
    "softmax": lambda g, z, out: g.op("Softmax", [z], out, axis=1),
    # z times 0.01 where z < 0, else 1, as fastnn's kernels; not LeakyRelu, whose slope is a
    # float32 attribute (0.01 rounded to float32 would differ from fastnn in float64)
    "leaky_relu": lambda g, z, out: g.op("Mul", [z, g.op("Where", [
        g.op("Less", [z, g.const(0.0)]), g.const(0.01), g.const(1.0)])], out),
    "gelu": _gelu,
}


def _layers(g, net, x, out=None):
    """The network's forward pass from input ``x``; returns the name of its output."""
    for layer, (W, b, act) in enumerate(zip(net.weights, net.biases, net.activations)):
        z = g.op("Add", [g.op("MatMul", [x, g.const(W, f"W{layer}")]), g.const(b, f"b{layer}")])
        x = ACTIVATION_OPS[act](g, z, out if layer == net.n_layers - 1 else None)
    return x


def _classifier_outputs(g, est, net, x, onnx):
    """``label`` and ``probabilities`` of a fitted MLPClassifier, by its predict rules: their
    (name, tensor type, shape)."""
    multilabel = est._label_binarizer.y_type_.startswith("multilabel")
    tensor_type = onnx.helper.np_dtype_to_tensor_dtype(net.dtype)
    if multilabel or net.sizes[-1] > 1:
        p = scores = _layers(g, net, x, "probabilities")
    else:  # one logistic unit: the columns P(classes_[0]), P(classes_[1])
        p1 = _layers(g, net, x)
        p = g.op("Concat", [g.op("Sub", [g.const(1.0), p1]), p1], "probabilities", axis=1)
        scores = p if len(est.classes_) > 1 else p1  # one class: always classes_[0]
    probabilities = ("probabilities", tensor_type, ["N", max(net.sizes[-1], 2)])
    if multilabel:
        g.op("Cast", [g.op("Greater", [p, g.const(0.5)])], "label",
             to=onnx.TensorProto.INT64)
        return [("label", onnx.TensorProto.INT64, ["N", net.sizes[-1]]), probabilities]
    classes = np.asarray(est.classes_)
    if classes.dtype.kind in "iub":
        classes, label_type = classes.astype(np.int64), onnx.TensorProto.INT64
    elif classes.dtype.kind == "f":
        classes, label_type = classes.astype(np.float64), onnx.TensorProto.DOUBLE
    elif all(isinstance(c, str) for c in classes.tolist()):
        classes, label_type = np.array(classes.tolist(), dtype=object), onnx.TensorProto.STRING
    else:
        raise TypeError(f"classes of dtype {classes.dtype} have no ONNX tensor type; "
                        "integers, floats and strings do")
    # the first largest probability, as predict's argmax (and its 0.5 threshold for 2 classes)
    index = g.op("ArgMax", [scores], axis=1, keepdims=0)
    g.op("Gather", [g.const(classes, "classes", dtype=classes.dtype), index], "label", axis=0)
    return [("label", label_type, ["N"]), probabilities]


def to_onnx(model, *, name=None):
    """``model`` as an ``onnx.ModelProto``: a ``fastnn.Network``, or a fitted
    ``fastnn.sklearn.MLPClassifier`` (or ``LogisticRegression``) or ``MLPRegressor``.

    Save it with ``onnx.save(proto, path)``; run it with onnxruntime::

        session = onnxruntime.InferenceSession(proto.SerializeToString())
        label, probabilities = session.run(None, {"X": X})

    The input ``X`` must have the model's dtype (float32 or float64). Outputs: ``output`` for a
    ``Network``; ``label`` and ``probabilities`` for a classifier; ``variable``, of shape
    ``(N, n_outputs)``, for a regressor.
    """
    from .sklearn import MLPClassifier, MLPRegressor

    onnx = _onnx()
    if isinstance(model, fastnn.Network):
        net, est = model, None
    elif isinstance(model, (MLPClassifier, MLPRegressor)):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(model, "network_")
        net, est = model.network_, model
    else:
        raise TypeError("to_onnx takes a fastnn.Network or a fitted fastnn.sklearn.MLPClassifier "
                        f"or MLPRegressor, got {type(model).__name__}")
    for W, b in zip(net.weights, net.biases):
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ValueError("the model's parameters are not all finite")
    tensor_type = onnx.helper.np_dtype_to_tensor_dtype(net.dtype)
    g = _Graph(onnx, net.dtype)
    if isinstance(est, MLPClassifier):
        outputs = _classifier_outputs(g, est, net, "X", onnx)
    else:
        out = "variable" if isinstance(est, MLPRegressor) else "output"
        _layers(g, net, "X", out)
        outputs = [(out, tensor_type, ["N", net.sizes[-1]])]
    graph = onnx.helper.make_graph(
        g.nodes, name or type(model).__name__,
        [onnx.helper.make_tensor_value_info("X", tensor_type, ["N", net.sizes[0]])],
        [onnx.helper.make_tensor_value_info(n, t, shape) for n, t, shape in outputs],
        initializer=g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="fastnn", producer_version=fastnn.__version__)
    proto.ir_version = _IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    return proto
