/* What every kernel entry point returns: one set of codes for all families, so
 * the Cython layer has one translation to exceptions (_native.pyx, check_status). */
#ifndef TIDEHASH_STATUS_H
#define TIDEHASH_STATUS_H

typedef enum {
    TH_OK = 0,
    TH_EBADARG = -1, /* null pointer, size out of range, bad channel count, stride,
                        table or layout: the caller's arguments break the kernel's rules */
    TH_EISA = -2,    /* the requested instruction set is not compiled in or not
                        supported by this CPU */
    TH_ESINK = -3    /* a caller's sink asked to stop (out of memory collecting hits) */
} th_status;

#endif
