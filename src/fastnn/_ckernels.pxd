# The C kernels of csrc/ that the Cython wrappers call, declared nogil.

cdef extern from "fastnn.h" nogil:
    enum:
        FNN_OK
        FNN_EINVAL
        FNN_ENOMEM
        FNN_EISA
    enum:
        FNN_TABLE_STATUS
        FNN_TABLE_ACTIVATION
        FNN_TABLE_LOSS
        FNN_TABLE_OPTIMIZER
        FNN_TABLE_ISA
    const char *fnn_code_name(int table, int code)
    int fnn_act_flags(int act)
    int fnn_opt_moments(int kind)
    enum: FNN_ACT_HIDDEN
    enum: FNN_ACT_NEEDS_Z
    int fnn_best_isa()
    int fnn_isa_compiled(int isa)
    int fnn_cpu_has(int isa)
    int fnn_get_isa()
    int fnn_set_isa(int isa)
    ctypedef void (*fnn_blasfn_f32)(const char *, const char *, const int *, const int *,
                                    const int *, const float *, const float *, const int *,
                                    const float *, const int *, const float *, float *,
                                    const int *)
    ctypedef void (*fnn_blasfn_f64)(const char *, const char *, const int *, const int *,
                                    const int *, const double *, const double *, const int *,
                                    const double *, const int *, const double *, double *,
                                    const int *)
    void fnn_set_blas(fnn_blasfn_f32 sgemm, fnn_blasfn_f64 dgemm)
    int fnn_openmp_enabled()
    int fnn_omp_max_threads()
    void fnn_set_cpu_budget(int cpus)
    void fnn_call_begin()
    void fnn_call_end()
    int fnn_calls_active()
    int fnn_team(int n_threads)

    # the wrappers pass no epilogue (NULL) to fnn_gemm: a plain product
    ctypedef struct fnn_epilogue_f32:
        pass
    ctypedef struct fnn_epilogue_f64:
        pass

    int fnn_gemm_f32(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *A, Py_ssize_t rsa,
                     Py_ssize_t csa, const float *B, Py_ssize_t rsb, Py_ssize_t csb, float *C,
                     Py_ssize_t ldc, const fnn_epilogue_f32 *ep, int n_threads)
    int fnn_gemm_f64(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double *A, Py_ssize_t rsa,
                     Py_ssize_t csa, const double *B, Py_ssize_t rsb, Py_ssize_t csb, double *C,
                     Py_ssize_t ldc, const fnn_epilogue_f64 *ep, int n_threads)
    int fnn_dense_forward_f32(Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, const float *X,
                              const float *W, const float *b, int act, float *out, float *Z,
                              int n_threads)
    int fnn_dense_forward_f64(Py_ssize_t m, Py_ssize_t k, Py_ssize_t n, const double *X,
                              const double *W, const double *b, int act, double *out, double *Z,
                              int n_threads)
    int fnn_dense_backward_f32(Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out,
                               const float *A_prev, const float *Z_prev, const float *W,
                               const float *D, int act_prev, float *dW, float *db, float *D_prev,
                               int n_threads)
    int fnn_dense_backward_f64(Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out,
                               const double *A_prev, const double *Z_prev, const double *W,
                               const double *D, int act_prev, double *dW, double *db,
                               double *D_prev, int n_threads)
    ctypedef struct fnn_optimizer:
        int kind
        double lr, weight_decay, momentum
        int nesterov
        double beta1, beta2, eps
        long long t
    int fnn_update_f32(const fnn_optimizer *opt, Py_ssize_t size, float *param,
                       const float *grad, float *m, float *v)
    int fnn_update_f64(const fnn_optimizer *opt, Py_ssize_t size, double *param,
                       const double *grad, double *m, double *v)

cdef extern from "fnn_loss.h" nogil:
    int fnn_loss_delta_f32(Py_ssize_t m, Py_ssize_t n, const float *Z, const float *Y, int loss,
                           int act, float *D, double *risk)
    int fnn_loss_delta_f64(Py_ssize_t m, Py_ssize_t n, const double *Z, const double *Y,
                           int loss, int act, double *D, double *risk)

cdef extern from "fnn_train.h" nogil:
    enum:
        FNN_EDIVERGED
        FNN_EDIVERGED_APPLIED
    int fnn_train_epoch_f32(Py_ssize_t L, const Py_ssize_t *sizes, const int *acts, int loss,
                            float **W, float **b, const float *X, const float *Y, Py_ssize_t n,
                            const long long *indices, Py_ssize_t n_indices, Py_ssize_t batch_size,
                            fnn_optimizer *opt, float **m, float **v, float *Xb,
                            float *Yb, float **A, float **Z, float **D, float **dW, float **db,
                            int n_threads, double *mean_loss, Py_ssize_t *failed_step)
    int fnn_train_epoch_f64(Py_ssize_t L, const Py_ssize_t *sizes, const int *acts, int loss,
                            double **W, double **b, const double *X, const double *Y,
                            Py_ssize_t n, const long long *indices, Py_ssize_t n_indices,
                            Py_ssize_t batch_size, fnn_optimizer *opt, double **m,
                            double **v, double *Xb, double *Yb, double **A, double **Z,
                            double **D, double **dW, double **db, int n_threads, double *mean_loss,
                            Py_ssize_t *failed_step)
    int fnn_predict_f32(Py_ssize_t L, const Py_ssize_t *sizes, const int *acts,
                        const float **W, const float **b, Py_ssize_t m, const float *X,
                        float *out, int n_threads, Py_ssize_t *nonfinite_row)
    int fnn_predict_f64(Py_ssize_t L, const Py_ssize_t *sizes, const int *acts,
                        const double **W, const double **b, Py_ssize_t m, const double *X,
                        double *out, int n_threads, Py_ssize_t *nonfinite_row)
