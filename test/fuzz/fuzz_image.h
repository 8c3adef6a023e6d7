/*
 * What the image fuzz targets share: a read that checks the decoder's
 * contract (an image exactly when it succeeds), and a round trip of a
 * decoded image through an encoder.
 */
#ifndef FUNDUS_FUZZ_IMAGE_H
#define FUNDUS_FUZZ_IMAGE_H

#include <stdlib.h>
#include <string.h>

#include "fundus/image.h"

/*
 * Reads with ro; aborts when the result breaks the contract (an image on
 * failure, none on success). Keeps the image in *keep if asked, else frees
 * it. Returns the read's code.
 */
static inline int fuzz_try_read(struct fundus_image_source *src,
				const struct fundus_read_options *ro, struct fundus_image **keep)
{
	struct fundus_image *img;
	int rc = fundus_image_read(src, ro, &img);

	if ((rc == 0) != (img != NULL))
		abort();
	if (rc == 0 && keep)
		*keep = img;
	else
		fundus_image_free(img);
	return rc;
}

/*
 * Encodes img with so and aborts unless it decodes back to an image of the
 * same size, and, when exact is set (lossless encoders), the same format and
 * pixels.
 */
static inline void fuzz_round_trip(const struct fundus_image *img,
				   const struct fundus_save_options *so, int exact)
{
	struct fundus_read_options ro;
	struct fundus_image_source *src;
	struct fundus_image *back = NULL;
	uint8_t *enc;
	size_t n, row = (size_t)img->width * fundus_pixfmt_channels(img->format) *
			fundus_pixfmt_bytes(img->format);

	if (fundus_image_encode(img, so, &enc, &n) != 0)
		abort();
	fundus_read_options_default(&ro);
	if (exact)
		ro.format = FUNDUS_PIX_NONE;
	if (fundus_image_open_memory(&src, enc, n, NULL) != 0 ||
	    fundus_image_read(src, &ro, &back) != 0 || back->width != img->width ||
	    back->height != img->height || (exact && back->format != img->format))
		abort();
	for (int y = 0; exact && y < img->height; y++)
		if (memcmp(img->data + (size_t)y * img->stride,
			   back->data + (size_t)y * back->stride, row) != 0)
			abort();
	fundus_image_close(src);
	fundus_image_free(back);
	fundus_free(enc);
}

#endif
