/*
 * Fuzz target for the PNG codec: probe, open with small limits, a read at
 * scale 1, a scaled read, a region read (oriented and not, scaled and not)
 * chosen by the last byte, and a round trip of the scaled result through
 * the encoder, which must always decode to the same pixels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads with ro; keeps the result in *keep if asked, else frees it. */
static int try_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		    struct fundus_image **keep)
{
	struct fundus_image *img;
	int rc = fundus_image_read(src, ro, &img);

	if (rc == 0 && img == NULL)
		abort();
	if (rc < 0 && img != NULL)
		abort();
	if (rc == 0 && keep)
		*keep = img;
	else
		fundus_image_free(img);
	return rc;
}

/* Encodes img as PNG and checks that it decodes to the same pixels. */
static void round_trip(const struct fundus_image *img)
{
	struct fundus_save_options so;
	struct fundus_read_options ro;
	struct fundus_image_source *src;
	struct fundus_image *back = NULL;
	uint8_t *enc;
	size_t n, row = (size_t)img->width * fundus_pixfmt_channels(img->format) *
			fundus_pixfmt_bytes(img->format);

	fundus_save_options_default(&so);
	so.type = FUNDUS_IMAGE_PNG;
	so.compression = 1;
	if (fundus_image_encode(img, &so, &enc, &n) != 0)
		abort();
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	if (fundus_image_open_memory(&src, enc, n, NULL) != 0)
		abort();
	if (fundus_image_read(src, &ro, &back) != 0 || back->format != img->format ||
	    back->width != img->width || back->height != img->height)
		abort();
	fundus_image_close(src);
	for (int y = 0; y < img->height; y++)
		if (memcmp(img->data + (size_t)y * img->stride,
			   back->data + (size_t)y * back->stride, row) != 0)
			abort();
	fundus_image_free(back);
	fundus_free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *name = fundus_image_probe(data, size);
	struct fundus_image_limits lim;
	struct fundus_image_source *src;
	const struct fundus_image_info *info;
	struct fundus_read_options ro;
	struct fundus_image *small = NULL;
	uint8_t sel = size > 0 ? data[size - 1] : 0;

	if (name == NULL || strcmp(name, "png") != 0)
		return 0;
	fundus_image_limits_default(&lim);
	lim.max_pixels = (int64_t)1 << 22;
	lim.max_width = lim.max_height = 1 << 15;
	lim.max_pages = 16;
	if (fundus_image_open_memory(&src, data, size, &lim) != 0)
		return 0;
	info = fundus_image_source_info(src);
	if (info->width < 1 || info->height < 1 || info->orientation < 1 || info->orientation > 8 ||
	    info->pages != 1 || info->levels != 1 || info->channels < 1 || info->channels > 4)
		abort();

	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	(void)try_read(src, &ro, NULL);
	ro.scale = 2 + (sel & 7);
	(void)try_read(src, &ro, &small);

	ro.scale = sel & 8 ? 3 : 1;
	ro.keep_orientation = (sel >> 4) & 1;
	{
		int w = info->width, h = info->height;

		if (ro.keep_orientation && info->orientation >= 5) {
			w = info->height;
			h = info->width;
		}
		ro.region.x = w / 3;
		ro.region.y = h / 4;
		ro.region.w = (w - w / 3 + 1) / 2;
		ro.region.h = (h - h / 4 + 1) / 2;
	}
	(void)try_read(src, &ro, NULL);
	fundus_image_close(src);
	if (small != NULL) {
		round_trip(small);
		fundus_image_free(small);
	}
	return 0;
}
