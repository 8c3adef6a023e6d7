/*
 * Fuzz target for the DICOM codec (GDCM behind dicom.h): probe, open from
 * memory with small limits, read every frame whole, a region of the last
 * one, and the metadata with and without the patient's fields. Nothing may
 * crash or leak, and a failed read returns no image.
 */
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "fundus/image.h"
#include "image/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fundus_image_limits lim;
	struct fundus_image_source *src;
	struct fundus_read_options ro;
	const struct fundus_image_info *info;
	struct fundus_image *img;
	cJSON *meta;

	fundus_image_limits_default(&lim);
	lim.max_width = lim.max_height = 2048;
	lim.max_pixels = 1 << 20;
	lim.max_pages = 16;
	if (fundus_image_open_memory(&src, data, size, &lim) != 0)
		return 0;
	info = fundus_image_source_info(src);
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	for (int p = 0; p < info->pages; p++) {
		int rc;

		ro.page = p;
		rc = fundus_image_read(src, &ro, &img);
		if ((rc == 0) != (img != NULL))
			abort();
		fundus_image_free(img);
	}
	if (info->width > 2 && info->height > 2) {
		ro.region.x = ro.region.y = 1;
		ro.region.w = info->width - 2;
		ro.region.h = info->height - 2;
		ro.scale = 2;
		ro.format = FUNDUS_PIX_RGB8;
		if (fundus_image_read(src, &ro, &img) == 0)
			fundus_image_free(img);
	}
	meta = cJSON_CreateObject();
	if (meta) {
		fundus__image_meta(src, 0, 0, meta);
		fundus__image_meta(src, 0, FUNDUS__META_PHI, meta);
		cJSON_Delete(meta);
	}
	fundus_image_close(src);
	return 0;
}
