/* codes.c -- the tables of codes listed in fastnn.h, for the Python layer and the checks of the
 * kernels (what each activation allows), made from the same X-macro rows as the
 * enums so that a new row needs nothing here. */
#include "fastnn.h"

#define FNN_CASE_NAME(name, code, str) case code: return str;
#define FNN_CASE_ACT_NAME(name, code, str, flags, forward, derivative) case code: return str;
#define FNN_CASE_OPT_NAME(name, code, str, moments) case code: return str;
#define FNN_CASE_MOMENTS(name, code, str, moments) case code: return moments;
#define FNN_CASE_FLAGS(name, code, str, flags, forward, derivative) case code: return flags;

const char *fnn_code_name(int table, int code)
{
    switch (table) {
    case FNN_TABLE_STATUS:
        switch (code) { FNN_STATUSES(FNN_CASE_NAME) }
        break;
    case FNN_TABLE_ACTIVATION:
        switch (code) { FNN_ACTIVATIONS(FNN_CASE_ACT_NAME) }
        break;
    case FNN_TABLE_LOSS:
        switch (code) { FNN_LOSSES(FNN_CASE_NAME) }
        break;
    case FNN_TABLE_OPTIMIZER:
        switch (code) { FNN_OPTIMIZERS(FNN_CASE_OPT_NAME) }
        break;
    case FNN_TABLE_ISA:
        switch (code) { FNN_ISAS(FNN_CASE_NAME) }
        break;
    }
    return NULL;
}

int fnn_act_flags(int act)
{
    switch (act) { FNN_ACTIVATIONS(FNN_CASE_FLAGS) }
    return -1;
}

int fnn_opt_moments(int kind)
{
    switch (kind) { FNN_OPTIMIZERS(FNN_CASE_MOMENTS) }
    return -1;
}
