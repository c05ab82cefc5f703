#include "cpu.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#define TH_X86 1
#include <cpuid.h>
#endif

static uint32_t g_features;
static int g_initialised;

#ifdef TH_X86
static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    /* xgetbv with ecx=0; encoded by bytes so no -mxsave is needed. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static uint32_t detect(void) {
    uint32_t a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return 0;
    }
    if (d & (1u << 26)) f |= TH_CPU_SSE2;
    if (c & (1u << 9)) f |= TH_CPU_SSSE3;
    if (c & (1u << 19)) f |= TH_CPU_SSE41;
    if (c & (1u << 23)) f |= TH_CPU_POPCNT;
    if (c & (1u << 12)) f |= TH_CPU_FMA;
    int osxsave = (c & (1u << 27)) != 0;
    if (c & (1u << 28)) f |= TH_CPU_AVX;
    if (osxsave) {
        uint64_t xcr0 = read_xcr0();
        if ((xcr0 & 0x6) == 0x6) f |= TH_CPU_OS_YMM;
        if ((xcr0 & 0xe6) == 0xe6) f |= TH_CPU_OS_ZMM;
    }
    if (__get_cpuid_max(0, 0) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (b & (1u << 5)) f |= TH_CPU_AVX2;
        if (b & (1u << 8)) f |= TH_CPU_BMI2;
        if (b & (1u << 16)) f |= TH_CPU_AVX512F;
        if (b & (1u << 17)) f |= TH_CPU_AVX512DQ;
        if (b & (1u << 30)) f |= TH_CPU_AVX512BW;
        if (b & (1u << 31)) f |= TH_CPU_AVX512VL;
        if (c & (1u << 14)) f |= TH_CPU_AVX512VPOPCNTDQ;
    }
    return f;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
static uint32_t detect(void) {
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) ? TH_CPU_NEON : 0;
}
#elif defined(__aarch64__)
static uint32_t detect(void) { return TH_CPU_NEON; } /* Advanced SIMD is part of ARMv8-A */
#else
static uint32_t detect(void) { return 0; }
#endif

void th_cpu_init(void) {
    if (!g_initialised) {
        g_features = detect();
        g_initialised = 1;
    }
}

uint32_t th_cpu_features(void) {
    th_cpu_init();
    return g_features;
}

int th_isa_supported(th_isa isa) {
    uint32_t f = th_cpu_features();
    switch (isa) {
    case TH_ISA_SCALAR:
        return 1;
#ifdef TH_X86
    case TH_ISA_AVX2: {
        uint32_t need = TH_CPU_AVX | TH_CPU_AVX2 | TH_CPU_POPCNT | TH_CPU_OS_YMM;
        return (f & need) == need;
    }
    case TH_ISA_AVX512: {
        uint32_t need = TH_CPU_AVX | TH_CPU_AVX2 | TH_CPU_POPCNT | TH_CPU_OS_YMM | TH_CPU_OS_ZMM | TH_CPU_AVX512F |
                        TH_CPU_AVX512BW | TH_CPU_AVX512VL | TH_CPU_AVX512DQ |
                        TH_CPU_AVX512VPOPCNTDQ;
        return (f & need) == need;
    }
#endif
#if defined(__aarch64__)
    case TH_ISA_NEON:
        return (f & TH_CPU_NEON) != 0;
#endif
    default:
        return 0;
    }
}

th_isa th_best_isa(void) {
    for (int i = TH_ISA_COUNT - 1; i > 0; i--) {
        if (th_isa_supported((th_isa)i)) return (th_isa)i;
    }
    return TH_ISA_SCALAR;
}

const char *th_isa_name(th_isa isa) {
    switch (isa) {
    case TH_ISA_SCALAR: return "scalar";
    case TH_ISA_AVX2: return "avx2";
    case TH_ISA_AVX512: return "avx512";
    case TH_ISA_NEON: return "neon";
    default: return "unknown";
    }
}
