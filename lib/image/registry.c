/*
 * The codec registry: recognises a file by its first bytes, validates read
 * options against the header, and hands the work to the codec.
 */
#include <string.h>
#include <strings.h>

#include "codec.h"

static const struct fundus__codec *const codecs[] = {
	&fundus__codec_openslide, /* only is_a_path: some TIFF files, by their name */
	&fundus__codec_dicom,
	&fundus__codec_jpeg,
	&fundus__codec_png,
	&fundus__codec_tiff,
};
#define NCODECS (sizeof codecs / sizeof codecs[0])

/* The codec for these first bytes, and for the file at path when path is not NULL. */
static const struct fundus__codec *probe(const char *path, const uint8_t *data, size_t len)
{
	for (size_t i = 0; path && i < NCODECS; i++)
		if (codecs[i]->is_a_path && codecs[i]->is_a_path(path, data, len))
			return codecs[i];
	for (size_t i = 0; i < NCODECS; i++)
		if (codecs[i]->is_a && codecs[i]->is_a(data, len))
			return codecs[i];
	return NULL;
}

const char *fundus_image_probe(const void *data, size_t len)
{
	const struct fundus__codec *c = probe(NULL, data, len);
	return c ? c->name : NULL;
}

int fundus__check_dims(const struct fundus_image_source *src, int64_t w, int64_t h)
{
	if (w <= 0 || h <= 0)
		return fundus_error_set(FUNDUS_EFORMAT, "image size %lld x %lld is not valid",
					(long long)w, (long long)h);
	if (w > src->limits.max_width || h > src->limits.max_height)
		return fundus_error_set(FUNDUS_ELIMIT,
					"image is %lld x %lld, more than the limit of %lld x %lld",
					(long long)w, (long long)h, (long long)src->limits.max_width,
					(long long)src->limits.max_height);
	return 0;
}

int fundus__check_pixels(const struct fundus_image_source *src, int64_t w, int64_t h)
{
	int rc = fundus__check_dims(src, w, h);

	if (rc < 0)
		return rc;
	if (w > src->limits.max_pixels / h)
		return fundus_error_set(FUNDUS_ELIMIT,
					"decoding %lld x %lld pixels is more than the limit of %lld",
					(long long)w, (long long)h, (long long)src->limits.max_pixels);
	return 0;
}

static int open_common(struct fundus_image_source *src, const struct fundus_image_limits *lim)
{
	int rc;

	if (lim)
		src->limits = *lim;
	else
		fundus_image_limits_default(&src->limits);
	if (src->len == 0)
		return fundus_error_set(FUNDUS_EFORMAT, "empty file");
	src->codec = probe(src->path, src->data, src->len);
	if (src->codec == NULL)
		return fundus_error_set(FUNDUS_EUNSUPPORTED,
					"not an image format fundus reads (JPEG, PNG, TIFF, DICOM, "
					"whole-slide images)");
	src->info.orientation = 1;
	src->info.pages = 1;
	src->info.levels = 1;
	rc = src->codec->header(src);
	if (rc < 0)
		return rc;
	src->info.format = src->codec->name;
	return 0;
}

int fundus_image_open(struct fundus_image_source **out, const char *path,
		      const struct fundus_image_limits *lim)
{
	struct fundus_image_source *src;
	int rc;

	*out = NULL;
	src = fundus_calloc(1, sizeof *src);
	if (src == NULL)
		return FUNDUS_ENOMEM;
	src->path = fundus_strdup(path);
	if (src->path == NULL) {
		fundus_free(src);
		return FUNDUS_ENOMEM;
	}
	rc = fundus_file_map(path, &src->map);
	if (rc == 0) {
		src->data = src->map->data;
		src->len = src->map->size;
		rc = open_common(src, lim);
	}
	if (rc < 0) {
		fundus_image_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

int fundus_image_open_memory(struct fundus_image_source **out, const void *data, size_t len,
			     const struct fundus_image_limits *lim)
{
	struct fundus_image_source *src;
	int rc;

	*out = NULL;
	src = fundus_calloc(1, sizeof *src);
	if (src == NULL)
		return FUNDUS_ENOMEM;
	src->data = data;
	src->len = len;
	rc = open_common(src, lim);
	if (rc < 0) {
		fundus_image_close(src);
		return rc;
	}
	*out = src;
	return 0;
}

void fundus_image_close(struct fundus_image_source *src)
{
	if (src == NULL)
		return;
	if (src->codec && src->codec->close)
		src->codec->close(src);
	fundus_file_unmap(src->map);
	fundus_free(src->path);
	fundus_free(src);
}

const struct fundus_image_info *fundus_image_source_info(const struct fundus_image_source *src)
{
	return &src->info;
}

int fundus_image_page_info(struct fundus_image_source *src, int page,
			   struct fundus_image_info *info)
{
	if (page < 0 || page >= src->info.pages)
		return fundus_error_set(FUNDUS_EINVAL, "page %d does not exist (the file has %d)",
					page, src->info.pages);
	if (page == 0 || src->codec->page_info == NULL) {
		*info = src->info;
		return 0;
	}
	return src->codec->page_info(src, page, info);
}

void fundus_read_options_default(struct fundus_read_options *ro)
{
	memset(ro, 0, sizeof *ro);
	ro->scale = 1;
	ro->format = FUNDUS_PIX_RGB8;
}

int fundus_image_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		      struct fundus_image **out)
{
	struct fundus_read_options o;
	struct fundus_image_info pinfo;
	int rc, lw, lh;

	*out = NULL;
	if (ro)
		o = *ro;
	else
		fundus_read_options_default(&o);
	if (o.scale < 1)
		return fundus_error_set(FUNDUS_EINVAL, "scale must be 1 or more, not %d", o.scale);
	if (o.format != FUNDUS_PIX_NONE && fundus_pixfmt_channels(o.format) == 0)
		return fundus_error_set(FUNDUS_EINVAL, "bad pixel format %d", (int)o.format);
	rc = fundus_image_page_info(src, o.page, &pinfo);
	if (rc < 0)
		return rc;
	if (o.level < 0 || o.level >= pinfo.levels)
		return fundus_error_set(FUNDUS_EINVAL, "level %d does not exist (the image has %d)",
					o.level, pinfo.levels);
	lw = pinfo.level[o.level].width;
	lh = pinfo.level[o.level].height;
	if (o.keep_orientation && fundus__orientation_swaps(pinfo.orientation)) {
		int t = lw;
		lw = lh;
		lh = t;
	}
	if (o.region.w == 0 && o.region.h == 0) {
		o.region.x = o.region.y = 0;
		o.region.w = lw;
		o.region.h = lh;
	}
	if (o.region.x < 0 || o.region.y < 0 || o.region.w <= 0 || o.region.h <= 0 ||
	    o.region.x > lw - o.region.w || o.region.y > lh - o.region.h)
		return fundus_error_set(FUNDUS_EINVAL,
					"region %d,%d %dx%d is not inside the %d x %d image",
					o.region.x, o.region.y, o.region.w, o.region.h, lw, lh);
	return src->codec->read(src, &o, out);
}

int fundus_image_load(const char *path, const struct fundus_read_options *ro,
		      struct fundus_image **out)
{
	struct fundus_image_source *src;
	int rc;

	*out = NULL;
	rc = fundus_image_open(&src, path, NULL);
	if (rc < 0)
		return rc;
	rc = fundus_image_read(src, ro, out);
	fundus_image_close(src);
	return rc;
}

int fundus_image_fit_scale(int width, int height, int min_side)
{
	int side = width > height ? width : height, s = 1;

	while (s < 8 && (side + 2 * s - 1) / (2 * s) >= min_side)
		s *= 2;
	return s;
}

void fundus_save_options_default(struct fundus_save_options *so)
{
	memset(so, 0, sizeof *so);
	so->quality = 92;
	so->subsample = 1;
	so->compression = -1;
}

enum fundus_image_type fundus_image_type_from_name(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot == NULL || strchr(dot, '/'))
		return FUNDUS_IMAGE_AUTO;
	if (strcasecmp(dot, ".png") == 0)
		return FUNDUS_IMAGE_PNG;
	if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)
		return FUNDUS_IMAGE_JPEG;
	if (strcasecmp(dot, ".tif") == 0 || strcasecmp(dot, ".tiff") == 0)
		return FUNDUS_IMAGE_TIFF;
	return FUNDUS_IMAGE_AUTO;
}

static const struct fundus__codec *codec_for_type(enum fundus_image_type t)
{
	switch (t) {
	case FUNDUS_IMAGE_PNG: return &fundus__codec_png;
	case FUNDUS_IMAGE_JPEG: return &fundus__codec_jpeg;
	case FUNDUS_IMAGE_TIFF: return &fundus__codec_tiff;
	case FUNDUS_IMAGE_AUTO: break;
	}
	return NULL;
}

int fundus_image_encode(const struct fundus_image *img, const struct fundus_save_options *so,
			uint8_t **data, size_t *len)
{
	struct fundus_save_options o;
	const struct fundus__codec *c;

	*data = NULL;
	*len = 0;
	if (so)
		o = *so;
	else
		fundus_save_options_default(&o);
	c = codec_for_type(o.type);
	if (c == NULL || c->encode == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "no image type to encode to");
	if (o.quality < 1 || o.quality > 100)
		return fundus_error_set(FUNDUS_EINVAL, "JPEG quality must be 1 to 100, not %d",
					o.quality);
	return c->encode(img, &o, data, len);
}

int fundus_image_save(const struct fundus_image *img, const char *path,
		      const struct fundus_save_options *so)
{
	struct fundus_save_options o;
	uint8_t *data;
	size_t len;
	int rc;

	if (so)
		o = *so;
	else
		fundus_save_options_default(&o);
	if (o.type == FUNDUS_IMAGE_AUTO)
		o.type = fundus_image_type_from_name(path);
	if (o.type == FUNDUS_IMAGE_AUTO)
		return fundus_error_set(FUNDUS_EINVAL,
					"cannot tell the image type from the name (use .png, "
					".jpg or .tif)");
	rc = fundus_image_encode(img, &o, &data, &len);
	if (rc < 0)
		return rc;
	if (strcmp(path, "-") == 0) {
		/* The caller asked for stdout. checksrc: allow */
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) /* checksrc: allow */
			rc = fundus_error_set(FUNDUS_EIO, "cannot write to standard output");
	} else {
		rc = fundus_file_write_atomic(path, data, len);
	}
	fundus_free(data);
	return rc;
}
