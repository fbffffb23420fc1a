/* fnn_loss.h -- the loss value and the output delta, fused (plain C99, no Python headers).
 *
 * Z [m x n] holds the output layer's logits, Y [m x n] the targets, both C-contiguous; the output
 * activation `act` (an activation code of fastnn.h) is applied inside, so the classic
 * pairs are computed from the logits:
 *   FNN_LOSS_MSE + identity:   loss_i = sum_j (z - y)^2                      D = 2 (A - Y) / m
 *   FNN_LOSS_BCE + sigmoid:    loss_i = sum_j max(z,0) - z y + log1p(e^-|z|)  D = (A - Y) / m
 *   FNN_LOSS_CE  + softmax:    loss_i = logsumexp(z) sum_j y - <y, z>         D = (A - Y) / m
 * Any other pair: A = act(Z), the loss from A (clipped to [eps, 1-eps] where a log needs it,
 * eps the type's machine epsilon) and D = act.backward(A, dR/dA): elementwise act'(A) or, for
 * softmax, the Jacobian-vector product A (G - <G, A>).
 *   OUT  D     [m x n], written without being read (it may alias neither Z nor Y)
 *   OUT  risk  (1/m) sum_i loss_i, accumulated in double, row by row (deterministic)
 * Returns FNN_OK, or FNN_EINVAL for m < 1, n < 1, NULL pointers, unknown loss or activation.
 */
#ifndef FNN_LOSS_H
#define FNN_LOSS_H

#include "fastnn.h" /* FNN_LOSS_* and the activation codes */

int fnn_loss_delta_f32(ptrdiff_t m, ptrdiff_t n, const float *Z, const float *Y, int loss, int act,
                       float *D, double *risk);
int fnn_loss_delta_f64(ptrdiff_t m, ptrdiff_t n, const double *Z, const double *Y, int loss,
                       int act, double *D, double *risk);

#endif /* FNN_LOSS_H */
