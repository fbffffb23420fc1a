/* steal.template.c -- work stealing between the strips of a parallel GEMM, one type.
 *
 * Design
 * ------
 * #included by gemm.template.c after the row block it hands out (row_block).  Each thread of
 * a parallel GEMM computes one strip of C as a serial blocked GEMM (gemm_block).  Another
 * process on the machine holds up one thread at random, so a thread that finishes its strip
 * early takes row blocks of the others' current KC x NC stage, reading the panel of B that
 * their owner packed.  The owner publishes each stage in its strip's FN(steal) (steal_open
 * once, steal_stage per stage), claims blocks like the others, and starts the next stage only
 * when every block of this one is done: the panel of B is then free to be overwritten, and
 * every element of C still gets its depth blocks in order, whoever computed them, so results
 * do not depend on the number of threads.  A block is claimed by a compare and swap on a word
 * that carries the stage's number, so a thief never runs a block against a panel that has
 * since been replaced.
 */

/* A strip's current stage, whose row blocks threads that have finished their own strips take
   too (see steal_claim).  word = stage << 40 | blocks << 20 | next block, so that a block is
   claimed (compare and swap) only within the stage whose panel it was read with. */
typedef struct {
    long long word, done; /* atomics: done counts the blocks of the stage finished */
    int fin;              /* atomic: the strip is finished */
    /* the stage, written by the owner before it publishes word */
    const T *Bp;
    ptrdiff_t jc, nc, pc, kc;
    int accumulate;
    const EP *ep;
    /* the strip */
    const KERN *kn;
    int direct;
    ptrdiff_t m, MC, KC, rsa, csa, ldc;
    const T *A;
    T *C;
    ptrdiff_t nblk; /* row blocks per stage */
} FN(steal);

/* The next block of the stage in w (the strip's word, as read), or -1 if none is left. */
static ptrdiff_t FN(steal_claim)(FN(steal) *sh, long long w)
{
    for (;;) {
        const long long next = w & FNN_STEAL_MASK, nblk = (w >> FNN_STEAL_BITS) & FNN_STEAL_MASK;
        const long long stage = w >> (2 * FNN_STEAL_BITS);
        if (next >= nblk)
            return -1;
        if (FNN_ACAS(&sh->word, &w, w + 1))
            return (ptrdiff_t)next;
        if (w >> (2 * FNN_STEAL_BITS) != stage)
            return -1;
    }
}

/* Row block b of the strip's current stage (claimed), then counted as done. */
static void FN(steal_run)(FN(steal) *sh, ptrdiff_t b, T *Ap)
{
    const ptrdiff_t ic = b * sh->MC, mc = sh->m - ic < sh->MC ? sh->m - ic : sh->MC;
    FN(row_block)(sh->kn, sh->direct, ic, mc, sh->jc, sh->nc, sh->pc, sh->kc, sh->A, sh->rsa,
                  sh->csa, sh->Bp, sh->C, sh->ldc, sh->accumulate, sh->ep, Ap);
    FNN_AINC(&sh->done);
}

/* Starts sharing a strip's stages in sh (NULL: not shared): its fixed operands, and the panel
   buffer of B every stage is packed into.  Returns sh, or NULL (the strip then runs alone)
   when it has more row blocks than the claim word can count. */
static FN(steal) *FN(steal_open)(FN(steal) *sh, const KERN *kn, int direct, ptrdiff_t m,
                                 ptrdiff_t MC, ptrdiff_t KC, ptrdiff_t nblk, const T *A,
                                 ptrdiff_t rsa, ptrdiff_t csa, T *C, ptrdiff_t ldc, const T *Bp)
{
    if (!sh)
        return NULL;
    if (nblk > FNN_STEAL_MASK) {
        FNN_ASTORE(&sh->fin, 1);
        return NULL;
    }
    sh->kn = kn;
    sh->direct = direct;
    sh->m = m;
    sh->MC = MC;
    sh->KC = KC;
    sh->nblk = nblk;
    sh->A = A;
    sh->rsa = rsa;
    sh->csa = csa;
    sh->C = C;
    sh->ldc = ldc;
    sh->Bp = Bp;
    return sh;
}

/* The strip is finished (or failed): thieves stop looking at it. */
static void FN(steal_close)(FN(steal) *sh)
{
    if (sh)
        FNN_ASTORE(&sh->fin, 1);
}

/* The stage (jc, pc) of the strip, its panel of B packed: published for thieves, its row blocks
   claimed and run by the owner too, and waited for until all are done. */
static void FN(steal_stage)(FN(steal) *sh, long long stage, ptrdiff_t jc, ptrdiff_t nc,
                            ptrdiff_t pc, ptrdiff_t kc, int accumulate, const EP *ep, T *Ap)
{
    const long long w = (stage << (2 * FNN_STEAL_BITS)) | ((long long)sh->nblk << FNN_STEAL_BITS);
    ptrdiff_t b;
    unsigned spins = 0;
    sh->jc = jc;
    sh->nc = nc;
    sh->pc = pc;
    sh->kc = kc;
    sh->accumulate = accumulate;
    sh->ep = ep;
    FNN_ASTORE(&sh->done, 0);
    FNN_ASTORE(&sh->word, w);
    while ((b = FN(steal_claim)(sh, FNN_ALOAD(&sh->word))) >= 0)
        FN(steal_run)(sh, b, Ap);
    /* the blocks that other threads took: they read Bp and write C */
    while (FNN_ALOAD(&sh->done) < sh->nblk)
        FNN_WAIT(spins);
}

#ifdef _OPENMP
/* After its own strip: take row blocks of the other strips until all are finished. */
static void FN(steal_help)(FN(steal) *sh, int nsh, int self)
{
    T *Ap = NULL;
    size_t cap = 0;
    unsigned spins = 0;
    for (;;) {
        int s, active = 0;
        for (s = 0; s < nsh; ++s) {
            long long w;
            ptrdiff_t b;
            size_t need;
            if (s == self || FNN_ALOAD(&sh[s].fin))
                continue;
            active = 1;
            w = FNN_ALOAD(&sh[s].word);
            if ((w & FNN_STEAL_MASK) >= ((w >> FNN_STEAL_BITS) & FNN_STEAL_MASK))
                continue;
            need = (size_t)sh[s].MC * (size_t)sh[s].KC;
            if (need > cap) {
                if (Ap)
                    fnn_buffer_done(0, Ap);
                Ap = (T *)fnn_buffer_get(0, need * sizeof(T));
                cap = Ap ? need : 0;
            }
            if (Ap && (b = FN(steal_claim)(&sh[s], w)) >= 0) {
                FN(steal_run)(&sh[s], b, Ap);
                spins = 0;
            }
        }
        if (!active) {
            if (Ap)
                fnn_buffer_done(0, Ap);
            return;
        }
        FNN_WAIT(spins);
    }
}
#endif
