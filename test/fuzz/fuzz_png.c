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
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
	(void)fuzz_try_read(src, &ro, NULL);
	ro.scale = 2 + (sel & 7);
	(void)fuzz_try_read(src, &ro, &small);

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
	(void)fuzz_try_read(src, &ro, NULL);
	fundus_image_close(src);
	if (small != NULL) {
		struct fundus_save_options so;

		fundus_save_options_default(&so);
		so.type = FUNDUS_IMAGE_PNG;
		so.compression = 1;
		fuzz_round_trip(small, &so, 1);
		fundus_image_free(small);
	}
	return 0;
}
