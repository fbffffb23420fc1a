"""The Numba backend: the kernel contract compiled by Numba, no compiler needed at install time.

Design
------
Compiled functions start with ``_`` and check nothing; ``NumbaBackend`` (whose arguments the
Python boundary in ``fastnn.kernels`` / ``fastnn.Network`` has already checked and converted)
picks the variant and calls them. Every flag comes from ``fastnn._numba_config``.

* Products. The GEMM core is ``np.dot`` inside ``@njit`` (Numba calls the BLAS of SciPy through
  ``scipy.linalg.cython_blas``, with the transposes ``A_prev.T`` / ``W.T`` passed as flags, no
  copy). It is several times faster than register-blocked ``@njit`` loops on the MLP shapes and
  no slower on tiny ones (there both cost the call), so it is used for every shape.
  BLAS threads itself; training limits it to fastnn's thread count through threadpoolctl.
* Fused epilogues. Right after the product, one pass over the output rows (still in L2) adds the
  bias and applies the activation (``dense_forward``) or multiplies the derivative
  (``dense_backward``); ``db`` is the column sum of ``D`` in the same kernel as ``dW``. The
  activations are computed as in csrc/act.template.c, with the same formulas and constants
  (``maths``), which LLVM vectorises.
* Serial and parallel variants come from ONE Python function (``_numba_config.variants``): the
  parallel one is the same body compiled with ``parallel=True``, where ``prange`` splits blocks of
  rows (epilogues, loss) or contiguous chunks (updates) or column blocks (``db``) across threads.
  Each thread writes only its own rows / columns / chunk, and every element is computed in the same
  order in both variants, so results are bitwise identical for any thread count. The loss writes one
  float64 risk per row, summed serially afterwards. Small work takes the serial variant (thresholds
  in ``_numba_config``): a parallel region costs microseconds.
* dtype. Every kernel is generic over float32 / float64; arithmetic stays in the element type
  (constants are typed through ``maths.const``), the risk is accumulated in float64, and the
  losses use double-precision libm exactly as csrc/loss.template.c does.
* Threads. ``get_num_threads()`` is read on every call that may go parallel and Numba's own
  setting is synchronised with it (``numba.set_num_threads`` is per calling thread, so a kernel
  run from another Python thread still gets the right count).
* Whole networks. ``train_epoch`` runs an entire epoch in ONE compiled call (``TRAIN_EPOCH``:
  gather, forward, fused loss, delta recursion, finite checks, the optimizer step for every
  minibatch, as csrc/train.template.c) and ``predict`` all layers in one (``PREDICT``). Both
  call the serial kernel variants only, and never a ``prange`` region: a Numba parallel region
  right after a multi-threaded BLAS product (whose threads spin-wait after each call)
  oversubscribes the cores; the products still thread, inside BLAS (see ``epoch``).
* ``warmup()`` compiles (or loads from the on-disk cache) every kernel for both dtypes.

Modules: ``maths`` (exp, the activations), ``layers`` (dense forward / backward), ``loss``,
``optimizers``, ``epoch`` (whole epochs and networks), ``backend`` (``NumbaBackend``,
``warmup``).
"""

import scipy.linalg.cython_blas  # noqa: F401  np.dot inside @njit needs SciPy's BLAS

from ... import _config

if _config._global is not None:
    # fastnn.set_num_threads ran before SciPy's BLAS (a library of its own, beside NumPy's) was
    # loaded by the import above: apply the limit to it too
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=_config._global, user_api="blas")

from .backend import NumbaBackend, _threads, warmup  # noqa: E402
from .epoch import PREDICT, TRAIN_EPOCH  # noqa: E402
from .layers import BACKWARD, FORWARD, NO_ACTIVATION  # noqa: E402
from .loss import LOSS  # noqa: E402
from .maths import Act  # noqa: E402
from .optimizers import CHUNK, UPDATE  # noqa: E402

__all__ = ["NumbaBackend", "warmup", "Act", "FORWARD", "BACKWARD", "LOSS", "UPDATE",
           "TRAIN_EPOCH", "PREDICT", "NO_ACTIVATION", "CHUNK", "_threads"]
