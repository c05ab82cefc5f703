/* pHash resize, serial reference: the plain C body at the baseline
 * instruction set. */
#define KERNEL(name) phash_##name##_scalar
#define KERNELS_NAME phash_kernels_scalar
#include "phash_resize_body.h"
