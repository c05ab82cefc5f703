/* The entry points the page's WebAssembly module exports: PDQ (hash + quality,
 * one or 8 dihedral hashes) over the project's own kernels in csrc/, built for
 * wasm32 by web/build.py from the `any` lines of csrc/kernels.txt.
 *
 * The module imports nothing: memory comes from wasi-libc's malloc (which grows
 * the linear memory), and nothing here does I/O. JavaScript (web/src/) and the
 * Python tests (tests/web/) copy pixels in with th_alloc, call th_pdq, read the
 * hashes back and th_free the buffer. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "pdq/pdq.h"

#define EXPORT(name) __attribute__((export_name(name)))

/* Returned by th_pdq when the filter's scratch cannot be allocated (the kernels'
 * own codes, common/status.h, are 0 and negative). */
#define TH_WEB_ENOMEM (-100)

EXPORT("th_alloc") void *th_alloc(uint32_t nbytes) { return malloc(nbytes ? nbytes : 1); }

EXPORT("th_free") void th_free(void *p) { free(p); }

/* PDQ of `rows` lines of `cols` pixels, `channels` (1 grey, 3 RGB, 4 RGBA: the 4th
 * byte ignored) bytes per pixel, lines adjacent. With dihedral != 0 writes the 8
 * variants (256 bytes) to `hashes`, else one hash (32 bytes); the quality to
 * `*quality`. Returns a th_status (0 ok) or TH_WEB_ENOMEM. */
EXPORT("th_pdq")
int th_pdq(const uint8_t *data, int32_t rows, int32_t cols, int32_t channels,
           int32_t dihedral, uint8_t *hashes, int32_t *quality) {
    if (rows <= 0 || cols <= 0) return TH_EBADARG;
    th_pixels px = {data, rows, cols, (int64_t)cols * channels, channels};
    float *scratch = NULL;
    if (rows >= PDQ_MIN_DIM && cols >= PDQ_MIN_DIM) {
        size_t n = pdq_scratch_floats(rows, cols);
        if (n == 0 || n > SIZE_MAX / sizeof(float)) return TH_EBADARG;
        scratch = malloc(n * sizeof(float));
        if (scratch == NULL) return TH_WEB_ENOMEM;
    }
    int q = 0;
    int rc = pdq_hash(&px, TH_ISA_SCALAR, dihedral, scratch,
                      (uint8_t(*)[PDQ_HASH_BYTES])hashes, &q);
    free(scratch);
    *quality = q;
    return rc;
}

/* The DCT matrix as pdq_init computes it (the same formula, with this build's
 * libm cos): the tests compare it with the native one, since a libm that rounds
 * one cosine differently would change hashes only now and then. */
EXPORT("th_pdq_dct")
void th_pdq_dct(float *out /* 16 x 64 */) {
    const float scale = (float)sqrt(2.0 / 64.0);
    const double pi = 3.14159265358979323846;
    for (int i = 0; i < 16; i++) {
        for (int j = 0; j < 64; j++) {
            double arg = (pi / 2.0 / 64.0) * (double)(i + 1) * (double)(2 * j + 1);
            out[i * 64 + j] = (float)((double)scale * cos(arg));
        }
    }
}
