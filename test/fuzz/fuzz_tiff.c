/*
 * Fuzz target for the TIFF codec: probe, open with small limits (4 M
 * pixels, 16 pages), page_info of every page, a read at scale 1, a scaled
 * read, a region read chosen by the last byte, reads of level 1 (whole and
 * a region) when the page has levels, and a round trip of the scaled
 * result through the encoder, which must decode to the same pixels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/image.h"
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A region of about a quarter of a w x h level, in its middle. */
static void middle(struct fundus_read_options *ro, int w, int h)
{
	ro->region.x = w / 3;
	ro->region.y = h / 4;
	ro->region.w = (w - w / 3 + 1) / 2;
	ro->region.h = (h - h / 4 + 1) / 2;
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

	if (name == NULL || strcmp(name, "tiff") != 0)
		return 0;
	fundus_image_limits_default(&lim);
	lim.max_pixels = (int64_t)1 << 22;
	lim.max_width = lim.max_height = 1 << 16;
	lim.max_pages = 16;
	if (fundus_image_open_memory(&src, data, size, &lim) != 0)
		return 0;
	info = fundus_image_source_info(src);
	if (info->width < 1 || info->height < 1 || info->orientation < 1 || info->orientation > 8 ||
	    info->pages < 1 || info->pages > 16 || info->levels < 1 ||
	    info->levels > FUNDUS_IMAGE_MAX_LEVELS || info->channels < 1 || info->channels > 4)
		abort();
	for (int p = 0; p < info->pages; p++) {
		struct fundus_image_info pi;

		if (fundus_image_page_info(src, p, &pi) == 0 &&
		    (pi.width < 1 || pi.height < 1 || pi.levels < 1 || pi.pages != info->pages))
			abort();
	}

	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	(void)fuzz_try_read(src, &ro, NULL);
	ro.scale = 2 + (sel & 7);
	(void)fuzz_try_read(src, &ro, &small);

	ro.scale = sel & 8 ? 3 : 1;
	ro.keep_orientation = (sel >> 4) & 1;
	if (ro.keep_orientation && info->orientation >= 5)
		middle(&ro, info->height, info->width);
	else
		middle(&ro, info->width, info->height);
	(void)fuzz_try_read(src, &ro, NULL);

	if (info->levels > 1) {
		fundus_read_options_default(&ro);
		ro.level = 1;
		(void)fuzz_try_read(src, &ro, NULL);
		middle(&ro, info->level[1].width, info->level[1].height);
		(void)fuzz_try_read(src, &ro, NULL);
	}
	if (info->pages > 1) {
		fundus_read_options_default(&ro);
		ro.page = info->pages - 1;
		ro.scale = 2;
		(void)fuzz_try_read(src, &ro, NULL);
	}
	fundus_image_close(src);
	if (small != NULL) {
		struct fundus_save_options so;

		fundus_save_options_default(&so);
		so.type = FUNDUS_IMAGE_TIFF;
		fuzz_round_trip(small, &so, 1);
		fundus_image_free(small);
	}
	return 0;
}
