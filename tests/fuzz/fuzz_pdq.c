/* Differential fuzzer for the PDQ kernels: every ISA must give the scalar
 * kernel's hash and quality, and no kernel may read or write outside the
 * exact-size pixel buffer and scratch it is given (run under ASan+UBSan).
 *
 * Two ways to build (see .ci/fuzz):
 *   libFuzzer:  clang -fsanitize=fuzzer,address,undefined ... (LLVMFuzzerTestOneInput)
 *   standalone: gcc -fsanitize=address,undefined -DTH_FUZZ_MAIN ... ; ./fuzz_pdq N SEED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdq/pdq.h"

static int check_one(const uint8_t *params, size_t nparams, const uint8_t *pix_seed, size_t nseed) {
    if (nparams < 8) return 0;
    int64_t rows = 1 + (params[0] | (params[1] << 8)) % 700;
    int64_t cols = 1 + (params[2] | (params[3] << 8)) % 700;
    static const int channel_choices[3] = {1, 3, 4};
    int channels = channel_choices[params[4] % 3];
    int64_t pad = params[5] % 37;
    int dihedral = params[6] & 1;
    int pattern = params[7] % 4;
    int64_t stride = cols * channels + pad;
    size_t nbytes = (size_t)((rows - 1) * stride + cols * channels);
    uint8_t *pix = malloc(nbytes);
    if (pix == NULL) return 0;
    for (size_t i = 0; i < nbytes; i++) {
        uint8_t s = nseed ? pix_seed[i % nseed] : 0;
        switch (pattern) {
        case 0: pix[i] = (uint8_t)(s ^ (i * 2654435761u >> 13)); break;  /* noise */
        case 1: pix[i] = 0; break;                                      /* flat */
        case 2: pix[i] = (uint8_t)((i / (size_t)channels) % 251 + s); break; /* ramp */
        default: pix[i] = (uint8_t)((i % 7) ? 255 : s); break;           /* spiky */
        }
    }
    th_pixels px = {pix, rows, cols, stride, channels};
    size_t nfloat = pdq_scratch_floats(rows, cols);
    float *scratch = malloc(nfloat * sizeof(float));
    uint8_t ref[8][PDQ_HASH_BYTES], got[8][PDQ_HASH_BYTES];
    int qref = -1, q = -1;
    int st = pdq_hash(&px, TH_ISA_SCALAR, dihedral, scratch, ref, &qref);
    if (st != TH_OK) {
        fprintf(stderr, "scalar status %d for %lldx%lld c%d\n", st, (long long)rows, (long long)cols, channels);
        abort();
    }
    for (int isa = 1; isa < TH_ISA_COUNT; isa++) {
        if (!th_isa_supported((th_isa)isa)) continue;
        memset(got, 0xAA, sizeof got);
        st = pdq_hash(&px, (th_isa)isa, dihedral, scratch, got, &q);
        int n = dihedral ? 8 : 1;
        if (st != TH_OK || q != qref || memcmp(got, ref, (size_t)n * PDQ_HASH_BYTES) != 0) {
            fprintf(stderr, "MISMATCH isa=%s %lldx%lld c%d pad%lld dihedral%d pattern%d q %d vs %d\n",
                    th_isa_name((th_isa)isa), (long long)rows, (long long)cols, channels,
                    (long long)pad, dihedral, pattern, q, qref);
            abort();
        }
    }
    free(scratch);
    free(pix);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    th_cpu_init();
    pdq_init();
    if (size < 8) return 0;
    return check_one(data, 8, data + 8, size - 8);
}

#ifdef TH_FUZZ_MAIN
int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 2000;
    unsigned seed = argc > 2 ? (unsigned)atol(argv[2]) : 1;
    srand(seed);
    th_cpu_init();
    pdq_init();
    uint8_t buf[64];
    for (long it = 0; it < iters; it++) {
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)rand();
        LLVMFuzzerTestOneInput(buf, 8 + (size_t)(rand() % 56));
    }
    printf("fuzz_pdq: %ld cases, all ISAs agree with scalar\n", iters);
    return 0;
}
#endif
