/* The clock every timing in fundus reads. */
#include <time.h>

#include "fundus/core.h"

double fundus_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
