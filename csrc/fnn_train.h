/* fnn_train.h -- whole epochs of minibatch training and whole-network inference, in C.
 *
 * A network of L layers: W[l] [sizes[l] x sizes[l+1]], b[l] [sizes[l+1]], acts[l] its activation
 * (acts[L-1] the output activation, applied inside the fused loss while training).
 * All arrays are C-contiguous and of one type.  Nothing is allocated: every buffer is the
 * caller's, allocated once per fit (training) or cached across calls (inference).
 */
#ifndef FNN_TRAIN_H
#define FNN_TRAIN_H

#include "fastnn.h" /* the statuses and fnn_optimizer */

/* FNN_EDIVERGED: a step produced a non-finite loss or bias gradient, and nothing of it was
   applied.  FNN_EDIVERGED_APPLIED: a tile of a weight gradient was not finite; it was not
   applied, but other tiles of the step may have been: the caller restores the parameters and
   the optimizer state from before the epoch and replays up to the step (training is
   deterministic). */

/* One epoch: batch j holds the samples indices[j*S .. min((j+1)*S, n_indices)) with
 * S = batch_size; each gets the forward pass, the fused loss and output delta, the delta
 * recursion and one optimizer step.
 *   IN      L, sizes[L+1], acts[L], loss (FNN_LOSS_*), X [n x sizes[0]], Y [n x sizes[L]],
 *           indices[n_indices] (each in [0, n)), batch_size >= 1
 *   IN/OUT  W[L], b[L]; m[2L], v[2L], the optimizer's state per parameter in the order W0, b0,
 *           W1, b1, ... (NULL where fnn_update needs none); opt->t, advanced once per step.
 *           Weight decay applies to the weights, not the biases.
 *   SCRATCH Xb [S x sizes[0]], Yb [S x sizes[L]], A[L], D[L] [S x sizes[l+1]],
 *           Z[L] [S x sizes[l+1]] for the hidden layers whose activation has FNN_ACT_NEEDS_Z
 *           (the other entries may be NULL), dW[L], db[L] shaped like W, b
 *   OUT     *mean_loss: sum over batches of risk * batch rows / n_indices
 *           *failed_step: on FNN_EDIVERGED(_APPLIED), the 0-based step that diverged
 * Returns FNN_OK, FNN_EDIVERGED, FNN_EDIVERGED_APPLIED, FNN_ENOMEM, or FNN_EINVAL (bad sizes,
 * an index out of range, NULL). */
int fnn_train_epoch_f32(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, int loss,
                        float *const *W, float *const *b, const float *X, const float *Y,
                        ptrdiff_t n, const long long *indices, ptrdiff_t n_indices,
                        ptrdiff_t batch_size, fnn_optimizer *opt, float *const *m,
                        float *const *v, float *Xb, float *Yb, float *const *A,
                        float *const *Z, float *const *D, float *const *dW, float *const *db,
                        int n_threads, double *mean_loss, ptrdiff_t *failed_step);
int fnn_train_epoch_f64(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts, int loss,
                        double *const *W, double *const *b, const double *X, const double *Y,
                        ptrdiff_t n, const long long *indices, ptrdiff_t n_indices,
                        ptrdiff_t batch_size, fnn_optimizer *opt, double *const *m,
                        double *const *v, double *Xb, double *Yb, double *const *A,
                        double *const *Z, double *const *D, double *const *dW, double *const *db,
                        int n_threads, double *mean_loss, ptrdiff_t *failed_step);

/* Inference: out [m x sizes[L]] = the network's output for X [m x sizes[0]], streamed through
 * the layers in blocks of rows (their buffers allocated here: FNN_ENOMEM when that fails).
 *   NONFINITE_ROW  NULL, or: X's rows are checked, and *NONFINITE_ROW is the first row of a
 *                  block holding a NaN or an infinity (out is then unspecified), or -1. */
int fnn_predict_f32(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts,
                    const float *const *W, const float *const *b, ptrdiff_t m, const float *X,
                    float *out, int n_threads, ptrdiff_t *nonfinite_row);
int fnn_predict_f64(ptrdiff_t L, const ptrdiff_t *sizes, const int *acts,
                    const double *const *W, const double *const *b, ptrdiff_t m,
                    const double *X, double *out, int n_threads, ptrdiff_t *nonfinite_row);

#endif /* FNN_TRAIN_H */
