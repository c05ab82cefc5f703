/* Quickselect (Hoare partition, middle pivot), one definition for every element
 * type the kernels need: TH_DEFINE_SELECT_KTH(name, T) defines
 *     static T name(T *v, int len, int k)
 * which reorders v[0 .. len-1] in place and returns its k-th smallest value
 * (0-based). No allocation, no I/O (the PDQ kernels stay wasm-buildable). */
#ifndef TIDEHASH_SELECT_KTH_H
#define TIDEHASH_SELECT_KTH_H

#define TH_DEFINE_SELECT_KTH(name, T)                 \
    static T name(T *v, int len, int k) {             \
        int lo = 0, hi = len - 1;                     \
        while (lo < hi) {                             \
            const T pivot = v[lo + (hi - lo) / 2];    \
            int i = lo, j = hi;                       \
            while (i <= j) {                          \
                while (v[i] < pivot) i++;             \
                while (v[j] > pivot) j--;             \
                if (i <= j) {                         \
                    const T tmp = v[i];               \
                    v[i] = v[j];                      \
                    v[j] = tmp;                       \
                    i++;                              \
                    j--;                              \
                }                                     \
            }                                         \
            if (k <= j) {                             \
                hi = j;                               \
            } else if (k >= i) {                      \
                lo = i;                               \
            } else {                                  \
                break;                                \
            }                                         \
        }                                             \
        return v[k];                                  \
    }

#endif
