/* MIH probes for CPUs with POPCNT (used at the avx2 and avx512 levels). */
#define MIH_RANGE_NAME mih_range_popcnt
#include "mih_body.h"
