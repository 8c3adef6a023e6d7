/*
 * Internal: a sink for decoded rows that reduces as they arrive.
 *
 * Codecs that decode from top to bottom (PNG rows, TIFF strips and tile
 * rows) push the stored rows of a region into a sink, which either keeps
 * them (scale 1) or averages scale x scale blocks on the fly, so that a
 * reduced read holds only the reduced image and one row of sums. The
 * result is exactly what fundus_image_shrink() gives for the whole region:
 * the same blocks, the same rounding.
 */
#ifndef FUNDUS_IMAGE_ROWSINK_H
#define FUNDUS_IMAGE_ROWSINK_H

#include "codec.h"

struct fundus__rowsink {
	struct fundus_image *img; /* the result: ceil(width / scale) x ceil(height / scale) */
	int width, height, scale; /* of the rows pushed in */
	int channels, bytes;
	int row;       /* rows received so far */
	uint64_t *acc; /* sums for the current output row; NULL when scale is 1 */
};

/*
 * Prepares a sink for height rows of width pixels of format fmt, reduced
 * by scale (1 or more). Allocates the result. Returns 0, FUNDUS_EINVAL,
 * FUNDUS_EOVERFLOW or FUNDUS_ENOMEM; on failure nothing is kept.
 */
int fundus__rowsink_init(struct fundus__rowsink *s, int width, int height, enum fundus_pixfmt fmt,
			 int scale);

/* Takes the next row: width pixels of the sink's format. Extra rows are ignored. */
void fundus__rowsink_put(struct fundus__rowsink *s, const uint8_t *row);

/*
 * Hands over the result once every row has been put (the caller owns it)
 * and frees the rest. Returns NULL if rows are missing.
 */
struct fundus_image *fundus__rowsink_take(struct fundus__rowsink *s);

/* Frees everything the sink holds; safe after take() and on a zeroed sink. */
void fundus__rowsink_free(struct fundus__rowsink *s);

#endif
