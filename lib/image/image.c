/* In-memory images: creation, pixel-format conversion, cropping, orientation. */
#include <string.h>

#include "codec.h"

int fundus_pixfmt_channels(enum fundus_pixfmt fmt)
{
	switch (fmt) {
	case FUNDUS_PIX_GRAY8: case FUNDUS_PIX_GRAY16: return 1;
	case FUNDUS_PIX_GRAYA8: case FUNDUS_PIX_GRAYA16: return 2;
	case FUNDUS_PIX_RGB8: case FUNDUS_PIX_RGB16: return 3;
	case FUNDUS_PIX_RGBA8: case FUNDUS_PIX_RGBA16: return 4;
	case FUNDUS_PIX_NONE: break;
	}
	return 0;
}

int fundus_pixfmt_bytes(enum fundus_pixfmt fmt)
{
	switch (fmt) {
	case FUNDUS_PIX_GRAY8: case FUNDUS_PIX_GRAYA8: case FUNDUS_PIX_RGB8: case FUNDUS_PIX_RGBA8:
		return 1;
	case FUNDUS_PIX_GRAY16: case FUNDUS_PIX_GRAYA16: case FUNDUS_PIX_RGB16:
	case FUNDUS_PIX_RGBA16:
		return 2;
	case FUNDUS_PIX_NONE: break;
	}
	return 0;
}

const char *fundus_pixfmt_name(enum fundus_pixfmt fmt)
{
	static const char *const names[] = {"none", "gray8", "graya8", "rgb8", "rgba8",
					    "gray16", "graya16", "rgb16", "rgba16"};
	return (unsigned)fmt < sizeof names / sizeof names[0] ? names[fmt] : "unknown";
}

/* The pixel format with c channels and b bytes per sample. */
static enum fundus_pixfmt pixfmt_of(int c, int b)
{
	static const enum fundus_pixfmt f8[] = {FUNDUS_PIX_GRAY8, FUNDUS_PIX_GRAYA8,
						FUNDUS_PIX_RGB8, FUNDUS_PIX_RGBA8};
	static const enum fundus_pixfmt f16[] = {FUNDUS_PIX_GRAY16, FUNDUS_PIX_GRAYA16,
						 FUNDUS_PIX_RGB16, FUNDUS_PIX_RGBA16};
	if (c < 1 || c > 4)
		return FUNDUS_PIX_NONE;
	return b == 2 ? f16[c - 1] : f8[c - 1];
}

int fundus_image_new(struct fundus_image **out, int width, int height, enum fundus_pixfmt fmt)
{
	struct fundus_image *img;
	size_t stride, total;
	int c = fundus_pixfmt_channels(fmt), b = fundus_pixfmt_bytes(fmt);

	*out = NULL;
	if (width <= 0 || height <= 0 || c == 0)
		return fundus_error_set(FUNDUS_EINVAL, "bad image size %d x %d or format %d", width,
					height, (int)fmt);
	if (fundus_size_mul3(&stride, (size_t)width, (size_t)c, (size_t)b) < 0 ||
	    fundus_size_mul(&total, stride, (size_t)height) < 0)
		return FUNDUS_EOVERFLOW;
	img = fundus_malloc(sizeof *img);
	if (img == NULL)
		return FUNDUS_ENOMEM;
	img->data = fundus_calloc(1, total);
	if (img->data == NULL) {
		fundus_free(img);
		return FUNDUS_ENOMEM;
	}
	img->width = width;
	img->height = height;
	img->format = fmt;
	img->stride = stride;
	*out = img;
	return 0;
}

void fundus_image_free(struct fundus_image *img)
{
	if (img == NULL)
		return;
	fundus_free(img->data);
	fundus_free(img);
}

int fundus_image_crop(const struct fundus_image *src, int x, int y, int w, int h,
		      struct fundus_image **out)
{
	struct fundus_image *dst;
	size_t px = (size_t)fundus_pixfmt_channels(src->format) * fundus_pixfmt_bytes(src->format);
	int rc;

	*out = NULL;
	if (x < 0 || y < 0 || w <= 0 || h <= 0 || x > src->width - w || y > src->height - h)
		return fundus_error_set(FUNDUS_EINVAL,
					"region %d,%d %dx%d is not inside the %d x %d image", x, y, w,
					h, src->width, src->height);
	rc = fundus_image_new(&dst, w, h, src->format);
	if (rc < 0)
		return rc;
	for (int r = 0; r < h; r++)
		memcpy(dst->data + (size_t)r * dst->stride,
		       src->data + (size_t)(y + r) * src->stride + (size_t)x * px, (size_t)w * px);
	*out = dst;
	return 0;
}

int fundus_image_dup(const struct fundus_image *img, struct fundus_image **out)
{
	return fundus_image_crop(img, 0, 0, img->width, img->height, out);
}

/* Reads sample k of a pixel of b-byte samples as a 16-bit value (8 bits times 257). */
static inline unsigned get16(const uint8_t *p, int b, int k)
{
	return b == 2 ? ((const uint16_t *)p)[k] : p[k] * 257u;
}

int fundus_image_convert(const struct fundus_image *src, enum fundus_pixfmt fmt,
			 struct fundus_image **out)
{
	struct fundus_image *dst;
	int sc = fundus_pixfmt_channels(src->format), sb = fundus_pixfmt_bytes(src->format);
	int dc = fundus_pixfmt_channels(fmt), db = fundus_pixfmt_bytes(fmt);
	int rc;

	*out = NULL;
	if (dc == 0)
		return fundus_error_set(FUNDUS_EINVAL, "bad pixel format %d", (int)fmt);
	if (fmt == src->format)
		return fundus_image_dup(src, out);
	rc = fundus_image_new(&dst, src->width, src->height, fmt);
	if (rc < 0)
		return rc;
	for (int y = 0; y < src->height; y++) {
		const uint8_t *s = src->data + (size_t)y * src->stride;
		uint8_t *d = dst->data + (size_t)y * dst->stride;

		for (int x = 0; x < src->width; x++, s += sc * sb, d += dc * db) {
			unsigned v[4] = {0}, o[4] = {0};
			int scol = sc >= 3, dcol = dc >= 3;

			/* The fast, common 8-bit cases stay exact and cheap. */
			if (sb == 1 && db == 1) {
				unsigned g;

				if (scol && !dcol)
					g = (299u * s[0] + 587u * s[1] + 114u * s[2] + 500u) / 1000u;
				else
					g = s[0];
				if (dcol) {
					d[0] = scol ? s[0] : (uint8_t)g;
					d[1] = scol ? s[1] : (uint8_t)g;
					d[2] = scol ? s[2] : (uint8_t)g;
				} else {
					d[0] = (uint8_t)g;
				}
				if (dc == 2 || dc == 4)
					d[dc - 1] = (sc == 2 || sc == 4) ? s[sc - 1] : 255;
				continue;
			}
			for (int k = 0; k < sc; k++)
				v[k] = get16(s, sb, k);
			if (scol && !dcol)
				o[0] = (unsigned)((299ull * v[0] + 587ull * v[1] + 114ull * v[2] + 500) /
						  1000);
			else
				o[0] = v[0];
			if (dcol) {
				o[1] = scol ? v[1] : v[0];
				o[2] = scol ? v[2] : v[0];
				if (scol)
					o[0] = v[0];
			}
			if (dc == 2 || dc == 4)
				o[dc - 1] = (sc == 2 || sc == 4) ? v[sc - 1] : 65535u;
			for (int k = 0; k < dc; k++) {
				if (db == 2)
					((uint16_t *)d)[k] = (uint16_t)o[k];
				else
					d[k] = (uint8_t)((o[k] * 255u + 32767u) / 65535u);
			}
		}
	}
	*out = dst;
	return 0;
}

int fundus_image_orient(const struct fundus_image *src, int orientation,
			struct fundus_image **out)
{
	struct fundus_image *dst;
	size_t px = (size_t)fundus_pixfmt_channels(src->format) * fundus_pixfmt_bytes(src->format);
	int sw = src->width, sh = src->height, swap = fundus__orientation_swaps(orientation);
	int rc;

	*out = NULL;
	if (orientation < 1 || orientation > 8)
		return fundus_error_set(FUNDUS_EINVAL, "bad orientation %d", orientation);
	if (orientation == 1)
		return fundus_image_dup(src, out);
	rc = fundus_image_new(&dst, swap ? sh : sw, swap ? sw : sh, src->format);
	if (rc < 0)
		return rc;
	for (int y = 0; y < dst->height; y++) {
		uint8_t *d = dst->data + (size_t)y * dst->stride;

		for (int x = 0; x < dst->width; x++, d += px) {
			int sx, sy;

			/* Where displayed pixel (x, y) is stored, per the EXIF definitions. */
			switch (orientation) {
			case 2: sx = sw - 1 - x; sy = y; break;
			case 3: sx = sw - 1 - x; sy = sh - 1 - y; break;
			case 4: sx = x; sy = sh - 1 - y; break;
			case 5: sx = y; sy = x; break;
			case 6: sx = y; sy = sh - 1 - x; break;
			case 7: sx = sw - 1 - y; sy = sh - 1 - x; break;
			default: sx = sw - 1 - y; sy = x; break; /* 8 */
			}
			memcpy(d, src->data + (size_t)sy * src->stride + (size_t)sx * px, px);
		}
	}
	*out = dst;
	return 0;
}

void fundus__region_to_stored(int orientation, int dw, int dh, int x, int y, int w, int h,
			      int *sx, int *sy, int *sw, int *sh)
{
	/* Stored size. */
	int W = fundus__orientation_swaps(orientation) ? dh : dw;
	int H = fundus__orientation_swaps(orientation) ? dw : dh;

	switch (orientation) {
	case 2: *sx = W - x - w; *sy = y; *sw = w; *sh = h; break;
	case 3: *sx = W - x - w; *sy = H - y - h; *sw = w; *sh = h; break;
	case 4: *sx = x; *sy = H - y - h; *sw = w; *sh = h; break;
	case 5: *sx = y; *sy = x; *sw = h; *sh = w; break;
	case 6: *sx = y; *sy = H - x - w; *sw = h; *sh = w; break;
	case 7: *sx = W - y - h; *sy = H - x - w; *sw = h; *sh = w; break;
	case 8: *sx = W - y - h; *sy = x; *sw = h; *sh = w; break;
	default: *sx = x; *sy = y; *sw = w; *sh = h; break;
	}
}

int fundus__image_finish(struct fundus_image *img, int orientation, int done_scale,
			 const struct fundus_read_options *ro, struct fundus_image **out)
{
	struct fundus_image *t;
	int rc = 0, rest;

	*out = NULL;
	if (done_scale < 1 || ro->scale % done_scale != 0) {
		fundus_image_free(img);
		return fundus_error_set(FUNDUS_EINVAL, "scale %d is not a multiple of %d", ro->scale,
					done_scale);
	}
	rest = ro->scale / done_scale;
	if (rest > 1) {
		rc = fundus_image_shrink(img, rest, &t);
		fundus_image_free(img);
		if (rc < 0)
			return rc;
		img = t;
	}
	if (!ro->keep_orientation && orientation > 1 && orientation <= 8) {
		rc = fundus_image_orient(img, orientation, &t);
		fundus_image_free(img);
		if (rc < 0)
			return rc;
		img = t;
	}
	if (ro->format != FUNDUS_PIX_NONE && ro->format != img->format) {
		rc = fundus_image_convert(img, ro->format, &t);
		fundus_image_free(img);
		if (rc < 0)
			return rc;
		img = t;
	}
	*out = img;
	return 0;
}

void fundus_image_limits_default(struct fundus_image_limits *lim)
{
	lim->max_width = 200000;
	lim->max_height = 200000;
	lim->max_pixels = (int64_t)1 << 28;
	lim->max_pages = 10000;
}

enum fundus_pixfmt fundus__pixfmt_of(int channels, int bytes)
{
	return pixfmt_of(channels, bytes);
}
