/*
 * Working copies: an 8-bit image no longer than the wanted side, made from
 * any source in bounded memory.
 *
 * A whole-slide image is never decoded whole: the pyramid level nearest
 * above the wanted size is read band by band (a few thousand rows at most),
 * and each band is averaged into the result as it comes, so memory is one
 * band plus the result. A single-level image is first reduced by a power
 * of two while it stays above the wanted size (the JPEG codec does that in
 * the DCT); what remains is an exact area average, and when the source is
 * already the wanted size its pixels are copied unchanged.
 */
#include <math.h>
#include <string.h>

#include "image/codec.h"
#include "internal.h"

/* A band holds about this many bytes of decoded pixels. */
#define BAND_BYTES ((size_t)16 << 20)
/* Below this many pixels a level is read in one piece (a band of JPEG or PNG rows costs a
 * decode of everything above it). */
#define WHOLE_PIXELS ((int64_t)24 << 20)

void fundus__working_size(int w, int h, int long_side, int *tw, int *th)
{
	int side = w > h ? w : h;

	*tw = w;
	*th = h;
	if (long_side <= 0 || side <= long_side)
		return;
	if (w >= h) {
		*tw = long_side;
		*th = (int)llround((double)h * long_side / w);
	} else {
		*th = long_side;
		*tw = (int)llround((double)w * long_side / h);
	}
	if (*tw < 1)
		*tw = 1;
	if (*th < 1)
		*th = 1;
}

/*
 * An area-averaging resampler fed one source row at a time. Output column
 * x covers [x * sw, (x + 1) * sw) and source column i covers
 * [i * tw, (i + 1) * tw), in units of 1 / (sw * tw) of the picture, so the
 * overlaps are exact integers; rows likewise.
 */
struct resampler {
	int sw, sh, tw, th, ch;
	int *x0, *xn; /* first source column and count, per output column */
	float *xw;    /* weights, xn[x] per output column, in order */
	float *hrow;  /* a source row resampled across */
	float *acc;   /* the output row being summed */
	int y;        /* output row being summed */
	int r;        /* next source row */
	struct fundus_image *dst;
};

static void rs_free(struct resampler *rs)
{
	fundus_free(rs->x0);
	fundus_free(rs->xn);
	fundus_free(rs->xw);
	fundus_free(rs->hrow);
	fundus_free(rs->acc);
}

/* Prepares the column weights. */
static int rs_init(struct resampler *rs, int sw, int sh, struct fundus_image *dst)
{
	int ch = fundus_pixfmt_channels(dst->format), tw = dst->width;
	size_t nw = 0;

	memset(rs, 0, sizeof *rs);
	rs->sw = sw, rs->sh = sh, rs->tw = tw, rs->th = dst->height, rs->ch = ch, rs->dst = dst;
	rs->x0 = fundus_calloc((size_t)tw, sizeof *rs->x0);
	rs->xn = fundus_calloc((size_t)tw, sizeof *rs->xn);
	rs->xw = fundus_calloc((size_t)sw + (size_t)tw, sizeof *rs->xw);
	rs->hrow = fundus_calloc((size_t)tw * (size_t)ch, sizeof *rs->hrow);
	rs->acc = fundus_calloc((size_t)tw * (size_t)ch, sizeof *rs->acc);
	if (!rs->x0 || !rs->xn || !rs->xw || !rs->hrow || !rs->acc) {
		rs_free(rs);
		return FUNDUS_ENOMEM;
	}
	for (int x = 0; x < tw; x++) {
		int64_t a = (int64_t)x * sw, b = a + sw;
		int i = (int)(a / tw);

		rs->x0[x] = i;
		for (; i < sw && (int64_t)i * tw < b; i++) {
			int64_t lo = (int64_t)i * tw > a ? (int64_t)i * tw : a;
			int64_t hi = (int64_t)(i + 1) * tw < b ? (int64_t)(i + 1) * tw : b;

			rs->xw[nw++] = (float)((double)(hi - lo) / (double)sw);
			rs->xn[x]++;
		}
	}
	return 0;
}

/* Adds one source row; writes out each output row it completes. */
static void rs_push(struct resampler *rs, const uint8_t *row)
{
	const float *w = rs->xw;
	int ch = rs->ch;

	for (int x = 0; x < rs->tw; x++) {
		const uint8_t *p = row + (size_t)rs->x0[x] * (size_t)ch;
		float *h = rs->hrow + (size_t)x * (size_t)ch;

		for (int c = 0; c < ch; c++)
			h[c] = 0;
		for (int k = 0; k < rs->xn[x]; k++, w++, p += ch)
			for (int c = 0; c < ch; c++)
				h[c] += *w * p[c];
	}
	while (rs->y < rs->th) {
		int64_t ya = (int64_t)rs->y * rs->sh, yb = ya + rs->sh;
		int64_t ra = (int64_t)rs->r * rs->th, rb = ra + rs->th;
		int64_t ov = (yb < rb ? yb : rb) - (ya > ra ? ya : ra);
		size_t n = (size_t)rs->tw * (size_t)ch;

		if (ov > 0) {
			float f = (float)((double)ov / (double)rs->sh);

			for (size_t i = 0; i < n; i++)
				rs->acc[i] += f * rs->hrow[i];
		}
		if (yb > rb)
			break;
		uint8_t *out = rs->dst->data + (size_t)rs->y * rs->dst->stride;

		for (size_t i = 0; i < n; i++) {
			float v = rs->acc[i] + 0.5f;

			out[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
			rs->acc[i] = 0;
		}
		rs->y++;
	}
	rs->r++;
}

/* The level to read: the smallest one still at least tw x th. */
static int pick_level(const struct fundus_image_info *info, int tw, int th)
{
	int best = 0;

	for (int l = 1; l < info->levels; l++)
		if (info->level[l].width >= tw && info->level[l].height >= th &&
		    info->level[l].width < info->level[best].width)
			best = l;
	return best;
}

int fundus__render_working(struct fundus_image_source *src, int page, int long_side,
			   struct fundus_image **out, int *level)
{
	struct fundus_image_info info;
	struct fundus_read_options ro;
	struct fundus_image *dst = NULL, *band = NULL;
	struct resampler rs;
	enum fundus_pixfmt fmt;
	int rc, tw, th, lw, lh, s, sw, sh, bh, copy, have_rs = 0;

	*out = NULL;
	rc = fundus_image_page_info(src, page, &info);
	if (rc < 0)
		return rc;
	fundus__working_size(info.width, info.height, long_side, &tw, &th);
	*level = pick_level(&info, tw, th);
	lw = info.level[*level].width;
	lh = info.level[*level].height;
	/* Halve while the result stays at least the wanted size. */
	for (s = 1; s < 8 && (lw + 2 * s - 1) / (2 * s) >= tw && (lh + 2 * s - 1) / (2 * s) >= th;)
		s *= 2;
	sw = (lw + s - 1) / s;
	sh = (lh + s - 1) / s;
	fmt = info.channels - (info.has_alpha ? 1 : 0) == 1 ? FUNDUS_PIX_GRAY8 : FUNDUS_PIX_RGB8;
	rc = fundus__check_pixels(src, tw, th);
	if (rc < 0)
		return rc;
	rc = fundus_image_new(&dst, tw, th, fmt);
	if (rc < 0)
		return rc;
	copy = sw == tw && sh == th;
	if (!copy) {
		rc = rs_init(&rs, sw, sh, dst);
		if (rc < 0)
			goto out;
		have_rs = 1;
	}
	/* Rows of the level per band: a multiple of s, all of it when small. */
	if ((int64_t)lw * lh <= WHOLE_PIXELS) {
		bh = lh;
	} else {
		size_t row = (size_t)lw * (size_t)fundus_pixfmt_channels(fmt);

		bh = (int)(BAND_BYTES / row);
		bh = bh < s ? s : bh - bh % s;
		if (bh > lh)
			bh = lh;
	}
	fundus_read_options_default(&ro);
	ro.page = page;
	ro.level = *level;
	ro.scale = s;
	ro.format = fmt;
	for (int y = 0, oy = 0; y < lh; y += bh) {
		ro.region.x = 0;
		ro.region.y = y;
		ro.region.w = lw;
		ro.region.h = lh - y < bh ? lh - y : bh;
		rc = fundus_image_read(src, &ro, &band);
		if (rc < 0)
			goto out;
		for (int r = 0; r < band->height; r++, oy++) {
			const uint8_t *p = band->data + (size_t)r * band->stride;

			if (oy >= sh) {
				rc = fundus_error_set(
				    FUNDUS_EFORMAT, "a band of %d rows is too tall", band->height);
				goto out;
			}
			if (copy)
				memcpy(dst->data + (size_t)oy * dst->stride, p,
				       (size_t)tw * (size_t)fundus_pixfmt_channels(fmt));
			else
				rs_push(&rs, p);
		}
		fundus_image_free(band);
		band = NULL;
	}
out:
	fundus_image_free(band);
	if (have_rs)
		rs_free(&rs);
	if (rc < 0) {
		fundus_image_free(dst);
		return rc;
	}
	*out = dst;
	return 0;
}
