/* internal.h: what the files of lib/record share beyond json.h (internal). */
#ifndef FUNDUS_RECORD_INTERNAL_H
#define FUNDUS_RECORD_INTERNAL_H

#include "fundus/record.h"

/* Copies lim (NULL for none) into dst, with the default for every field that is 0. */
void fundus__record_limits_resolve(struct fundus_record_limits *dst,
				   const struct fundus_record_limits *lim);

#endif
