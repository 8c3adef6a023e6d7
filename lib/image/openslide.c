/*
 * Whole-slide images through OpenSlide: Aperio SVS, Hamamatsu NDPI and VMS,
 * MIRAX, Leica SCN, Ventana BIF, Philips TIFF, Sakura and Trestle.
 *
 * OpenSlide opens files by name, so this codec takes only sources opened
 * from a path, through is_a_path(). It claims a TIFF file only when
 * OpenSlide names a vendor for it other than "generic-tiff": plain and
 * generic tiled TIFF files, pyramids included, stay with the TIFF codec.
 *
 * The pyramid's levels are the image's levels. A read takes a region of a
 * level in bands of rows, so that OpenSlide's ARGB buffer stays small
 * whatever the region; premultiplied ARGB is composed over white (slide
 * background, where the scanner saw nothing, is transparent) into RGB.
 * The whole read is bounded by max_pixels like any other decode.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openslide.h>

#include "codec.h"

/* Rows of ARGB per call of openslide_read_region(): about 16 MB for a wide region. */
#define BAND_PIXELS ((int64_t)4 << 20)

/* Whether the bytes start like a TIFF file (classic or BigTIFF, either byte order). */
static int tiff_magic(const uint8_t *d, size_t len)
{
	return len >= 4 && ((d[0] == 'I' && d[1] == 'I' && (d[2] == 42 || d[2] == 43) && !d[3]) ||
			    (d[0] == 'M' && d[1] == 'M' && !d[2] && (d[3] == 42 || d[3] == 43)));
}

/* The extension of a path (after the last dot of its last component), or "". */
static const char *extension(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot && !strchr(dot, '/') ? dot + 1 : "";
}

static int os_is_a_path(const char *path, const uint8_t *data, size_t len)
{
	const char *ext = extension(path), *vendor;

	/* Only files that may be slides reach OpenSlide's probe, which opens the file. */
	if (!tiff_magic(data, len) && strcasecmp(ext, "mrxs") != 0 && strcasecmp(ext, "vms") != 0 &&
	    strcasecmp(ext, "vmu") != 0 && !(len >= 16 && memcmp(data, "SQLite format 3", 16) == 0))
		return 0;
	vendor = openslide_detect_vendor(path);
	return vendor != NULL && strcmp(vendor, "generic-tiff") != 0;
}

static int os_header(struct fundus_image_source *src)
{
	openslide_t *osr;
	const char *err;
	int32_t levels;
	int rc;

	if (src->path == NULL)
		return fundus_error_set(FUNDUS_EUNSUPPORTED, "whole-slide images need a file name");
	osr = openslide_open(src->path);
	if (osr == NULL)
		return fundus_error_set(FUNDUS_EUNSUPPORTED, "OpenSlide cannot read this slide");
	src->priv = osr;
	err = openslide_get_error(osr);
	if (err)
		return fundus_error_set(FUNDUS_EFORMAT, "%s", err);
	levels = openslide_get_level_count(osr);
	if (levels < 1)
		return fundus_error_set(FUNDUS_EFORMAT, "a slide without levels");
	if (levels > FUNDUS_IMAGE_MAX_LEVELS)
		levels = FUNDUS_IMAGE_MAX_LEVELS; /* the smallest ones are left out */
	for (int32_t l = 0; l < levels; l++) {
		int64_t w, h;

		openslide_get_level_dimensions(osr, l, &w, &h);
		rc = fundus__check_dims(src, w, h);
		if (rc < 0)
			return rc;
		src->info.level[l].width = (int)w;
		src->info.level[l].height = (int)h;
		src->info.level[l].downsample = openslide_get_level_downsample(osr, l);
	}
	src->info.width = src->info.level[0].width;
	src->info.height = src->info.level[0].height;
	src->info.levels = levels;
	src->info.channels = 3;
	src->info.bits = 8;
	src->info.colour = "rgb";
	return 0;
}

/* Premultiplied ARGB over white, into RGB. */
static void argb_to_rgb(const uint32_t *p, uint8_t *o, int n)
{
	for (int i = 0; i < n; i++, o += 3) {
		uint32_t v = p[i], a = v >> 24, bg = 255 - a;

		o[0] = (uint8_t)(((v >> 16) & 255) + bg);
		o[1] = (uint8_t)(((v >> 8) & 255) + bg);
		o[2] = (uint8_t)((v & 255) + bg);
	}
}

static int os_read(struct fundus_image_source *src, const struct fundus_read_options *ro,
		   struct fundus_image **out)
{
	openslide_t *osr = src->priv;
	struct fundus_image *img;
	uint32_t *argb;
	double ds = src->info.level[ro->level].downsample;
	int rows, rc, w = ro->region.w, h = ro->region.h;
	const char *err;

	rc = fundus__check_pixels(src, w, h);
	if (rc < 0)
		return rc;
	rows = (int)(BAND_PIXELS / w);
	rows = rows < 1 ? 1 : rows > h ? h : rows;
	rc = fundus_image_new(&img, w, h, FUNDUS_PIX_RGB8);
	if (rc < 0)
		return rc;
	argb = fundus_malloc((size_t)w * (size_t)rows * sizeof *argb);
	if (argb == NULL) {
		fundus_image_free(img);
		return FUNDUS_ENOMEM;
	}
	for (int y = 0; y < h; y += rows) {
		int n = h - y < rows ? h - y : rows;

		/* Region origins are level-0 coordinates; sizes are the level's. */
		openslide_read_region(osr, argb, (int64_t)((double)ro->region.x * ds + 0.5),
				      (int64_t)((double)(ro->region.y + y) * ds + 0.5), ro->level,
				      w, n);
		err = openslide_get_error(osr);
		if (err) {
			rc = fundus_error_set(FUNDUS_EFORMAT, "%s", err);
			break;
		}
		for (int r = 0; r < n; r++)
			argb_to_rgb(argb + (size_t)r * (size_t)w,
				    img->data + (size_t)(y + r) * img->stride, w);
		if (fundus_progress_report(ro->progress, "reading slide", y + n, h) != 0) {
			rc = fundus_error_set(FUNDUS_ECANCELED, "stopped");
			break;
		}
	}
	fundus_free(argb);
	if (rc < 0) {
		fundus_image_free(img);
		return rc;
	}
	return fundus__image_finish(img, 1, 1, ro, out);
}

static void os_close(struct fundus_image_source *src)
{
	if (src->priv)
		openslide_close(src->priv);
	src->priv = NULL;
}

/* Adds a property that is a number, as a number. */
static int add_number(openslide_t *osr, const char *prop, const char *key, struct cJSON *meta)
{
	const char *v = openslide_get_property_value(osr, prop);
	char *end;
	double d;

	if (v == NULL)
		return 0;
	d = strtod(v, &end);
	if (end == v || *end != '\0')
		return 0;
	return cJSON_AddNumberToObject(meta, key, d) ? 0 : FUNDUS_ENOMEM;
}

/*
 * Only what describes the optics: a slide's other properties (file names,
 * user names, dates, barcodes) may identify a patient or a case.
 */
static int os_meta(struct fundus_image_source *src, int page, unsigned flags, struct cJSON *meta)
{
	openslide_t *osr = src->priv;
	const char *vendor = openslide_get_property_value(osr, OPENSLIDE_PROPERTY_NAME_VENDOR);
	int rc;

	(void)page, (void)flags;
	if (vendor && !cJSON_AddStringToObject(meta, "vendor", vendor))
		return FUNDUS_ENOMEM;
	if ((rc = add_number(osr, OPENSLIDE_PROPERTY_NAME_MPP_X, "mpp_x", meta)) < 0 ||
	    (rc = add_number(osr, OPENSLIDE_PROPERTY_NAME_MPP_Y, "mpp_y", meta)) < 0 ||
	    (rc = add_number(osr, OPENSLIDE_PROPERTY_NAME_OBJECTIVE_POWER, "objective_power",
			     meta)) < 0)
		return rc;
	return 0;
}

const char *fundus__openslide_format(const struct fundus_image_source *src)
{
	static const struct {
		const char *vendor, *format;
	} names[] = {
	    {"aperio", "svs"},           {"mirax", "mrxs"},     {"leica", "scn"},
	    {"ventana", "bif"},          {"sakura", "svslide"}, {"philips", "philips-tiff"},
	    {"trestle", "trestle-tiff"},
	};
	const char *vendor, *ext;

	if (src->codec != &fundus__codec_openslide || src->priv == NULL)
		return NULL;
	vendor = openslide_get_property_value(src->priv, OPENSLIDE_PROPERTY_NAME_VENDOR);
	if (vendor == NULL)
		return "slide";
	if (strcmp(vendor, "hamamatsu") == 0) {
		ext = extension(src->path);
		return strcasecmp(ext, "vms") == 0   ? "vms"
		       : strcasecmp(ext, "vmu") == 0 ? "vmu"
						     : "ndpi";
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(vendor, names[i].vendor) == 0)
			return names[i].format;
	return "slide";
}

const struct fundus__codec fundus__codec_openslide = {
    .name = "openslide",
    .is_a = NULL,
    .header = os_header,
    .page_info = NULL,
    .read = os_read,
    .close = os_close,
    .encode = NULL,
    .is_a_path = os_is_a_path,
    .meta = os_meta,
};
