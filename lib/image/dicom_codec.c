/*
 * The DICOM codec: recognises "DICM" at offset 128 and reads through the
 * GDCM wrapper (dicom.h). Frames are pages. The first read decodes every
 * frame at once (GDCM decodes an object whole) and keeps them until the
 * source is closed, so the pixels of all frames together are checked
 * against max_pixels before anything is decoded.
 */
#include <string.h>

#include "codec.h"
#include "dicom.h"

struct dcm {
	struct fundus__dicom *d;
	struct fundus__dicom_info info;
};

static int dcm_is_a(const uint8_t *data, size_t len)
{
	return len >= 132 && memcmp(data + 128, "DICM", 4) == 0;
}

static int dcm_header(struct fundus_image_source *src)
{
	struct dcm *p = fundus_calloc(1, sizeof *p);
	int rc;

	if (p == NULL)
		return FUNDUS_ENOMEM;
	src->priv = p;
	rc = fundus__dicom_open(src->data, src->len, src->limits.max_pages, &p->d, &p->info);
	if (rc < 0)
		return rc;
	rc = fundus__check_dims(src, p->info.width, p->info.height);
	if (rc < 0)
		return rc;
	src->info.width = src->info.level[0].width = p->info.width;
	src->info.height = src->info.level[0].height = p->info.height;
	src->info.level[0].downsample = 1;
	src->info.channels = p->info.channels;
	src->info.bits = p->info.bits;
	src->info.colour = p->info.channels == 1 ? "gray" : "rgb";
	src->info.pages = p->info.frames;
	return 0;
}

static int dcm_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		    struct fundus_image **out)
{
	struct dcm *p = src->priv;
	struct fundus_image *img;
	const uint8_t *frame;
	size_t px = (size_t)(p->info.bits / 8) * (size_t)p->info.channels;
	int rc;

	rc = fundus__check_pixels(src, p->info.width, (int64_t)p->info.height * p->info.frames);
	if (rc < 0)
		return rc;
	rc = fundus__dicom_decode(p->d);
	if (rc < 0)
		return rc;
	frame = fundus__dicom_frame(p->d, ro->page);
	rc = fundus_image_new(&img, ro->region.w, ro->region.h,
			      fundus__pixfmt_of(p->info.channels, p->info.bits / 8));
	if (rc < 0)
		return rc;
	for (int y = 0; y < ro->region.h; y++)
		memcpy(img->data + (size_t)y * img->stride,
		       frame + ((size_t)(ro->region.y + y) * (size_t)p->info.width +
				(size_t)ro->region.x) *
				   px,
		       (size_t)ro->region.w * px);
	return fundus__image_finish(img, 1, 1, ro, out);
}

static void dcm_close(struct fundus_image_source *src)
{
	struct dcm *p = src->priv;

	if (p)
		fundus__dicom_close(p->d);
	fundus_free(p);
	src->priv = NULL;
}

static int dcm_meta(struct fundus_image_source *src, int page, unsigned flags, struct cJSON *meta)
{
	struct dcm *p = src->priv;

	(void)page;
	return fundus__dicom_meta(p->d, (flags & FUNDUS__META_PHI) != 0, meta);
}

const struct fundus__codec fundus__codec_dicom = {
    .name = "dicom",
    .is_a = dcm_is_a,
    .header = dcm_header,
    .page_info = NULL,
    .read = dcm_read,
    .close = dcm_close,
    .encode = NULL,
    .is_a_path = NULL,
    .meta = dcm_meta,
};
