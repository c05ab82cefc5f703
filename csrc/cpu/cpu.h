/* CPU feature detection and the kernel table, filled once at import.
 *
 * Levels are ordered; a level is usable only if the CPU reports every feature
 * it needs AND the OS saves the register state (XGETBV), otherwise the first
 * AVX instruction would fault. */
#ifndef TIDEHASH_CPU_H
#define TIDEHASH_CPU_H

#include <stdint.h>

typedef enum {
    TH_ISA_SCALAR = 0,
    TH_ISA_AVX2 = 1,
    TH_ISA_AVX512 = 2,
    TH_ISA_NEON = 3, /* arm64 */
    TH_ISA_COUNT = 4
} th_isa;

/* Feature bits reported by th_cpu_features(). */
enum {
    TH_CPU_SSE2 = 1u << 0,
    TH_CPU_SSSE3 = 1u << 1,
    TH_CPU_SSE41 = 1u << 2,
    TH_CPU_POPCNT = 1u << 3,
    TH_CPU_AVX = 1u << 4,
    TH_CPU_AVX2 = 1u << 5,
    TH_CPU_FMA = 1u << 6,
    TH_CPU_BMI2 = 1u << 7,
    TH_CPU_AVX512F = 1u << 8,
    TH_CPU_AVX512BW = 1u << 9,
    TH_CPU_AVX512VL = 1u << 10,
    TH_CPU_AVX512DQ = 1u << 11,
    TH_CPU_AVX512VPOPCNTDQ = 1u << 12,
    TH_CPU_OS_YMM = 1u << 13, /* XCR0 saves SSE+AVX state */
    TH_CPU_OS_ZMM = 1u << 14, /* XCR0 saves opmask+ZMM state */
    TH_CPU_NEON = 1u << 15    /* arm64 Advanced SIMD (HWCAP_ASIMD) */
};

/* Detected once by th_cpu_init(); later calls return the cached values. */
void th_cpu_init(void);
uint32_t th_cpu_features(void);
/* 1 if this build contains kernels for `isa` and the running CPU can execute them. */
int th_isa_supported(th_isa isa);
/* Highest supported level. */
th_isa th_best_isa(void);
const char *th_isa_name(th_isa isa);

#endif
