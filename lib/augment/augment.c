/*
 * Training augmentation. One pass over dst maps each pixel centre back into
 * src (an affine map, stepped along the row, so no trigonometry per pixel),
 * samples bilinearly and applies the per-pixel photometry on the spot:
 * channel matrix, gain times a quadratic illumination field, black level,
 * clipping, then a 256-entry table per channel for gamma and contrast.
 * Blur and noise, when drawn, are further passes in place. Nothing is
 * allocated: the tables and the blur's ring buffer live on the stack
 * (about 20 KB at most), so a call cannot fail for want of memory and the
 * training loop's threads may call it freely.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

/* Largest side of src or dst: keeps coordinates exact enough in doubles and ints. */
#define MAX_SIDE 32768

/* The blur's largest sigma and the kernel radius it needs (3 sigma). */
#define BLUR_MAX  8.0f
#define BLUR_R    24
#define BLUR_TAPS (2 * BLUR_R + 1)

/* The blur works on strips of 16 pixels (48 samples) across, the lanes of one step. */
#define STRIP 16
#define LANES (3 * STRIP)

/* The largest black level subtracted by a full darkening, in levels. */
#define BLACK_MAX 16.0f

static const double pi = 3.14159265358979323846;

void fundus_augment_defaults(struct fundus_augment *a)
{
	memset(a, 0, sizeof *a);
	a->zoom_min = 0.7f;
	a->zoom_max = 1.4f;
	a->translate = 0.35f;
	a->rotate = 15;
	a->flip_h = 0.5f;
	a->flip_v = 0.2f;
	a->min_visible = 0.6f;
	a->gamma = 0.7f;
	a->darken_p = 0.5f;
	a->darken = 0.85f;
	a->bright = 0.3f;
	a->illum = 0.8f;
	a->mix = 0.2f;
	a->desaturate_p = 0.4f;
	a->contrast = 0.3f;
	a->blur_p = 0.2f;
	a->blur = 1.5f;
	a->noise = 3;
	a->dim_p = 0.3f;
	a->dim = 1;
}

void fundus_augment_none(struct fundus_augment *a)
{
	memset(a, 0, sizeof *a);
	a->zoom_min = 1;
	a->zoom_max = 1;
}

/* Checks that an option lies in [lo, hi] (NaN does not). */
static int check_range(float v, float lo, float hi, const char *name)
{
	if (v >= lo && v <= hi)
		return 0;
	return fundus_error_set(FUNDUS_EINVAL, "augment: %s is %g, outside [%g, %g]", name,
				(double)v, (double)lo, (double)hi);
}

/* Checks every option against the ranges the header gives. */
static int check_options(const struct fundus_augment *a)
{
	const struct {
		float v, lo, hi;
		const char *name;
	} opt[] = {
	    {a->zoom_min, 0.01f, 100, "zoom_min"},
	    {a->zoom_max, 0.01f, 100, "zoom_max"},
	    {a->translate, 0, 4, "translate"},
	    {a->rotate, 0, 180, "rotate"},
	    {a->flip_h, 0, 1, "flip_h"},
	    {a->flip_v, 0, 1, "flip_v"},
	    {a->min_visible, 0, 1, "min_visible"},
	    {a->gamma, 0, 10, "gamma"},
	    {a->darken_p, 0, 1, "darken_p"},
	    {a->darken, 0, 1, "darken"},
	    {a->bright, 0, 10, "bright"},
	    {a->illum, 0, 1, "illum"},
	    {a->mix, 0, 0.45f, "mix"},
	    {a->desaturate_p, 0, 1, "desaturate_p"},
	    {a->contrast, 0, 0.5f, "contrast"},
	    {a->blur_p, 0, 1, "blur_p"},
	    {a->blur, 0, BLUR_MAX, "blur"},
	    {a->noise, 0, 64, "noise"},
	    {a->dim_p, 0, 1, "dim_p"},
	    {a->dim, 0, 1, "dim"},
	};

	for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
		int rc = check_range(opt[i].v, opt[i].lo, opt[i].hi, opt[i].name);

		if (rc < 0)
			return rc;
	}
	if (a->zoom_min > a->zoom_max)
		return fundus_error_set(FUNDUS_EINVAL, "augment: zoom_min %g is above zoom_max %g",
					(double)a->zoom_min, (double)a->zoom_max);
	return 0;
}

/* Checks that img is an RGB8 image that the warp can address. */
static int check_image(const struct fundus_image *img, const char *name)
{
	if (!img || !img->data)
		return fundus_error_set(FUNDUS_EINVAL, "augment: no %s image", name);
	if (img->format != FUNDUS_PIX_RGB8)
		return fundus_error_set(FUNDUS_EINVAL, "augment: %s image is %s, not rgb8", name,
					fundus_pixfmt_name(img->format));
	if (img->width < 1 || img->height < 1 || img->width > MAX_SIDE || img->height > MAX_SIDE)
		return fundus_error_set(FUNDUS_EINVAL,
					"augment: %s image is %d x %d; sides must be 1 to %d", name,
					img->width, img->height, MAX_SIDE);
	if (img->stride < (size_t)img->width * 3)
		return fundus_error_set(FUNDUS_EINVAL, "augment: %s image's stride %zu is below %d",
					name, img->stride, img->width * 3);
	return 0;
}

/* The bytes an image's pixels span, as addresses, to tell whether two overlap. */
static void image_span(const struct fundus_image *img, uintptr_t *lo, uintptr_t *hi)
{
	*lo = (uintptr_t)img->data;
	*hi = *lo + (size_t)(img->height - 1) * img->stride + (size_t)img->width * 3;
}

/* Checks the arguments of fundus_augment_apply(), before anything is drawn or written. */
static int check_args(const struct fundus_augment *a, const struct fundus_rng *rng,
		      const struct fundus_image *src, const struct fundus_box *boxes,
		      const int *labels, int n, const struct fundus_image *dst,
		      const struct fundus_box *out_boxes, const int *out_labels, const int *out_n)
{
	uintptr_t s0, s1, d0, d1;
	int rc;

	if (!a || !rng || !out_n)
		return fundus_error_set(FUNDUS_EINVAL, "augment: no %s",
					!a     ? "options"
					: !rng ? "generator"
					       : "count");
	if ((rc = check_options(a)) < 0 || (rc = check_image(src, "source")) < 0 ||
	    (rc = check_image(dst, "destination")) < 0)
		return rc;
	image_span(src, &s0, &s1);
	image_span(dst, &d0, &d1);
	if (s0 < d1 && d0 < s1)
		return fundus_error_set(FUNDUS_EINVAL, "augment: source and destination overlap");
	if (n < 0)
		return fundus_error_set(FUNDUS_EINVAL, "augment: %d boxes", n);
	if (n > 0 && (!boxes || !out_boxes))
		return fundus_error_set(FUNDUS_EINVAL, "augment: no %s boxes",
					!boxes ? "input" : "output");
	if (labels && !out_labels)
		return fundus_error_set(FUNDUS_EINVAL, "augment: labels but no room for them");
	for (int i = 0; i < n; i++) {
		const struct fundus_box *b = &boxes[i];

		if (!isfinite(b->x0) || !isfinite(b->y0) || !isfinite(b->x1) || !isfinite(b->y1) ||
		    b->x0 > b->x1 || b->y0 > b->y1)
			return fundus_error_set(FUNDUS_EINVAL,
						"augment: box %d [%g, %g, %g, %g] is not a box", i,
						b->x0, b->y0, b->x1, b->y1);
	}
	return 0;
}

/*
 * Scales a random quadratic field to span [-1, 1] over dst, judged on a 9 x 9
 * grid (which holds the corners, where a quadratic's extremes mostly lie;
 * an interior extreme between grid points can overshoot slightly, which the
 * clipping absorbs). Returns the offset and scale through mid and half.
 */
static void field_range(const float q[5], float *mid, float *half)
{
	float lo = INFINITY, hi = -INFINITY;

	for (int gy = 0; gy <= 8; gy++) {
		for (int gx = 0; gx <= 8; gx++) {
			float x = gx / 4.0f - 1, y = gy / 4.0f - 1;
			float v = q[0] * x + q[1] * y + q[2] * x * x + q[3] * y * y + q[4] * x * y;

			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	}
	*mid = (lo + hi) / 2;
	*half = (hi - lo) / 2;
}

void fundus__augment_draw(const struct fundus_augment *a, struct fundus_rng *rng, int src_w,
			  int src_h, int dst_w, int dst_h, struct fundus__augment_draw *d)
{
	double fit = fmin((double)dst_w / src_w, (double)dst_h / src_h);
	double s, c, sn, fx, fy, csx = src_w / 2.0, csy = src_h / 2.0;
	double cdx = dst_w / 2.0, cdy = dst_h / 2.0;
	double lg = log1p(a->gamma), lb = log1p(a->bright);
	float w[6], t, sum, mid, half;
	double u_dark, u_gain, u_black, u_desat, u_sat, u_blur, u_sigma, u_dim, u_dimk;

	memset(d, 0, sizeof *d);

	/* Geometry, in a fixed order. */
	d->zoom = exp(fundus_rng_range(rng, log(a->zoom_min), log(a->zoom_max)));
	d->angle = fundus_rng_range(rng, -a->rotate, a->rotate) * (pi / 180);
	d->flip_h = fundus_rng_uniform(rng) < a->flip_h;
	d->flip_v = fundus_rng_uniform(rng) < a->flip_v;
	d->tx = fundus_rng_range(rng, -a->translate, a->translate) * dst_w;
	d->ty = fundus_rng_range(rng, -a->translate, a->translate) * dst_h;

	/* dst = c_dst + t + s F R (src - c_src); its inverse is (1/s) R^T F. */
	s = fit * d->zoom;
	c = cos(d->angle);
	sn = sin(d->angle);
	fx = d->flip_h ? -1 : 1;
	fy = d->flip_v ? -1 : 1;
	d->fwd[0][0] = s * fx * c;
	d->fwd[0][1] = -s * fx * sn;
	d->fwd[1][0] = s * fy * sn;
	d->fwd[1][1] = s * fy * c;
	d->fwd[0][2] = cdx + d->tx - (d->fwd[0][0] * csx + d->fwd[0][1] * csy);
	d->fwd[1][2] = cdy + d->ty - (d->fwd[1][0] * csx + d->fwd[1][1] * csy);
	d->inv[0][0] = c * fx / s;
	d->inv[0][1] = sn * fy / s;
	d->inv[1][0] = -sn * fx / s;
	d->inv[1][1] = c * fy / s;
	d->inv[0][2] = csx - (d->inv[0][0] * (cdx + d->tx) + d->inv[0][1] * (cdy + d->ty));
	d->inv[1][2] = csy - (d->inv[1][0] * (cdx + d->tx) + d->inv[1][1] * (cdy + d->ty));

	/* Photometry: every number is drawn whether or not it is used. */
	for (int k = 0; k < 3; k++)
		d->gamma[k] = (float)exp(fundus_rng_range(rng, -lg, lg));
	d->gain = (float)exp(fundus_rng_range(rng, -lb, lb));
	u_dark = fundus_rng_uniform(rng);
	u_gain = fundus_rng_uniform(rng);
	u_black = fundus_rng_uniform(rng);
	if (u_dark < a->darken_p) {
		d->gain *= (float)(1 - a->darken * u_gain);
		d->black = (float)(BLACK_MAX * a->darken * u_black);
	}
	d->illum_k = (float)(a->illum * fundus_rng_uniform(rng));
	for (int k = 0; k < 5; k++)
		d->q[k] = (float)fundus_rng_range(rng, -1, 1);
	/* The field is used as (q - mid) / half, which spans [-1, 1] over dst. */
	field_range(d->q, &mid, &half);
	if (half < 1e-3f) {
		d->illum_k = 0; /* flat: nothing to scale */
	} else {
		for (int k = 0; k < 5; k++)
			d->q[k] /= half;
		d->q_mid = mid / half;
	}
	for (int k = 0; k < 6; k++)
		w[k] = (float)fundus_rng_range(rng, -a->mix, a->mix);
	/* Row r takes w of the other two channels; rows sum to 1 so gray stays gray. */
	for (int r = 0, k = 0; r < 3; r++) {
		for (int col = 0; col < 3; col++)
			d->mix[r][col] = col == r ? 1 : w[k++];
		sum = d->mix[r][0] + d->mix[r][1] + d->mix[r][2];
		for (int col = 0; col < 3; col++)
			d->mix[r][col] /= sum;
	}
	u_desat = fundus_rng_uniform(rng);
	u_sat = fundus_rng_uniform(rng);
	if (u_desat < a->desaturate_p) {
		/* D = (1 - t) I + t 1 y^T with y the luma weights; mix becomes D mix. */
		static const float luma[3] = {0.299f, 0.587f, 0.114f};
		float m[3][3], y[3];

		t = (float)u_sat;
		for (int col = 0; col < 3; col++)
			y[col] = luma[0] * d->mix[0][col] + luma[1] * d->mix[1][col] +
				 luma[2] * d->mix[2][col];
		for (int r = 0; r < 3; r++)
			for (int col = 0; col < 3; col++)
				m[r][col] = (1 - t) * d->mix[r][col] + t * y[col];
		for (int r = 0; r < 3; r++)
			for (int col = 0; col < 3; col++)
				d->mix[r][col] = m[r][col];
	}
	d->contrast = (float)fundus_rng_range(rng, 1 - a->contrast, 1 + a->contrast);
	u_blur = fundus_rng_uniform(rng);
	u_sigma = fundus_rng_uniform(rng);
	if (u_blur < a->blur_p && a->blur >= 0.3f)
		d->blur_sigma = (float)(0.3 + (a->blur - 0.3) * u_sigma);
	d->noise = (float)(a->noise * fundus_rng_uniform(rng));
	d->noise_seed = fundus_rng_u64(rng);
	u_dim = fundus_rng_uniform(rng);
	u_dimk = fundus_rng_uniform(rng);
	d->dim = u_dim < a->dim_p ? (float)(a->dim * u_dimk) : 0;
}

/* Levels below which the gamma curve is a straight line (see make_lut()). */
#define GAMMA_TOE 10.0

/*
 * The output table of one channel: gamma, then contrast. The gamma curve
 * is a power above GAMMA_TOE and the straight line from black to that
 * point below it, so that a gamma under 1 does not amplify the noise of a
 * photograph's black surround without bound (a pure power has an infinite
 * slope at 0). Contrast is the cubic z = y + c y (1 - y) (2y - 1) with
 * c = 2 (k - 1): slope k at mid-gray, 0 and 1 kept, a finite slope 3 - 2k
 * at black (the power-based S-curves again have an infinite one), and
 * monotone for the k that the option allows (up to 1.5).
 */
static void make_lut(uint8_t lut[256], float gamma, float k)
{
	const double toe = GAMMA_TOE / 255, toe_slope = pow(toe, gamma - 1.0);
	const double c = 2 * ((double)k - 1);

	for (int v = 0; v < 256; v++) {
		double y = v / 255.0;

		if (gamma != 1)
			y = y < toe ? y * toe_slope : pow(y, gamma);
		if (k != 1)
			y += c * y * (1 - y) * (2 * y - 1);
		lut[v] = (uint8_t)(int)(255 * y + 0.5);
	}
}

/* Pixels in one chunk of a row: the arithmetic runs over whole chunks, which compilers vectorise.
 */
#define CHUNK 64

/* Bits of a bilinear weight: a sample is then an int32 scaled by 2^(2 WBITS). */
#define WBITS 11
#define WONE  (1 << WBITS)

/* Reads pixel (x, y) of src into p[0..2], or black outside src. */
static inline void fetch(const struct fundus_image *src, int64_t x, int64_t y, int32_t p[3])
{
	if (x < 0 || y < 0 || x >= src->width || y >= src->height) {
		p[0] = p[1] = p[2] = 0;
	} else {
		const uint8_t *s = src->data + (size_t)y * src->stride + (size_t)x * 3;

		p[0] = s[0];
		p[1] = s[1];
		p[2] = s[2];
	}
}

/*
 * Narrows [*a, *b) to the i for which lo < x0 + dx i < hi, give or take
 * one pixel (the samples themselves are checked again).
 */
static void row_span(double x0, double dx, double lo, double hi, int *a, int *b)
{
	double ia, ib, t;

	if (dx == 0) {
		if (!(x0 > lo && x0 < hi))
			*b = *a;
		return;
	}
	ia = (lo - x0) / dx;
	ib = (hi - x0) / dx;
	if (ia > ib) {
		t = ia;
		ia = ib;
		ib = t;
	}
	ia = floor(ia) - 1;
	ib = ceil(ib) + 2;
	if (ia > *a)
		*a = ia > *b ? *b : (int)ia;
	if (ib < *b)
		*b = ib < *a ? *a : (int)ib;
}

/*
 * Samples one run of len <= CHUNK pixels bilinearly into v (r, g, b planes
 * of CHUNK), scaled by 2^(2 WBITS). (sx, sy) is the first position and
 * (dx, dy) the step, in fixed point with 32 fraction bits, in coordinates
 * where src's pixel centres are the integers.
 */
static void sample_run(const struct fundus_image *src, int64_t sx, int64_t sy, int64_t dx,
		       int64_t dy, int len, int32_t v[3][CHUNK])
{
	const uint64_t fast_w = (uint64_t)src->width - 1, fast_h = (uint64_t)src->height - 1;
	const size_t ss = src->stride;

	for (int k = 0; k < len; k++, sx += dx, sy += dy) {
		/* Arithmetic shifts: floor, also left of src. */
		int64_t xi = sx >> 32, yi = sy >> 32;
		int32_t ax = (int32_t)(((uint64_t)sx >> (32 - WBITS)) & (WONE - 1));
		int32_t ay = (int32_t)(((uint64_t)sy >> (32 - WBITS)) & (WONE - 1));

		if ((uint64_t)xi < fast_w && (uint64_t)yi < fast_h) {
			const uint8_t *p = src->data + (size_t)yi * ss + (size_t)xi * 3;
			const uint8_t *q = p + ss;

			for (int c = 0; c < 3; c++) {
				int32_t top = p[c] * (WONE - ax) + p[c + 3] * ax;
				int32_t bot = q[c] * (WONE - ax) + q[c + 3] * ax;

				v[c][k] = top * (WONE - ay) + bot * ay;
			}
		} else {
			/* At or past the border: the samples beyond src are black. */
			int32_t p00[3], p01[3], p10[3], p11[3];

			fetch(src, xi, yi, p00);
			fetch(src, xi + 1, yi, p01);
			fetch(src, xi, yi + 1, p10);
			fetch(src, xi + 1, yi + 1, p11);
			for (int c = 0; c < 3; c++)
				v[c][k] = (p00[c] * (WONE - ax) + p01[c] * ax) * (WONE - ay) +
					  (p10[c] * (WONE - ax) + p11[c] * ax) * ay;
		}
	}
	for (int k = len; k < CHUNK; k++)
		v[0][k] = v[1][k] = v[2][k] = 0;
}

/* The per-pixel photometry of a row, everything but the pixel values fixed. */
struct row_photo {
	float m[3][3];    /* channel matrix, scaled by 2^(-2 WBITS) */
	float g0, g1, g2; /* gain at field coordinate X: (g2 X + g1) X + g0 */
	float x0, dx;     /* X of the row's first pixel, and its step */
	float black;
};

/*
 * Applies the channel matrix, the gain, the black level and the clipping
 * to one chunk, leaving table indices in idx. A fixed trip count with no
 * branches, for the vectoriser.
 */
static void photo_chunk(const struct row_photo *rp, int i0, const int32_t v[3][CHUNK],
			int32_t idx[3][CHUNK])
{
	const float m00 = rp->m[0][0], m01 = rp->m[0][1], m02 = rp->m[0][2];
	const float m10 = rp->m[1][0], m11 = rp->m[1][1], m12 = rp->m[1][2];
	const float m20 = rp->m[2][0], m21 = rp->m[2][1], m22 = rp->m[2][2];
	const float black = rp->black;

	for (int k = 0; k < CHUNK; k++) {
		float x = rp->x0 + rp->dx * (float)(i0 + k);
		float gain = (rp->g2 * x + rp->g1) * x + rp->g0;
		float r = (float)v[0][k], g = (float)v[1][k], b = (float)v[2][k];
		float o0 = (m00 * r + m01 * g + m02 * b) * gain - black;
		float o1 = (m10 * r + m11 * g + m12 * b) * gain - black;
		float o2 = (m20 * r + m21 * g + m22 * b) * gain - black;

		/*
		 * Rounded, then clipped as integers (GCC vectorises that, not
		 * the float comparisons). |o| stays far below 2^31: the gain and
		 * the matrix are bounded by the option ranges.
		 */
		int32_t i0v = (int32_t)(o0 + 0.5f), i1v = (int32_t)(o1 + 0.5f);
		int32_t i2v = (int32_t)(o2 + 0.5f);

		i0v = i0v > 0 ? i0v : 0;
		i1v = i1v > 0 ? i1v : 0;
		i2v = i2v > 0 ? i2v : 0;
		idx[0][k] = i0v < 255 ? i0v : 255;
		idx[1][k] = i1v < 255 ? i1v : 255;
		idx[2][k] = i2v < 255 ? i2v : 255;
	}
}

/*
 * The warp and the per-pixel photometry. Pixel (i, j) of dst has its centre
 * at (i + 0.5, j + 0.5); inv takes it to an edge coordinate of src, and
 * subtracting 0.5 gives the coordinate in which src's pixel centres are
 * the integers, where bilinear weights are read off. Pixels whose position
 * falls wholly outside src are black, which the photometry keeps black.
 */
static void warp(const struct fundus__augment_draw *d, const struct fundus_image *src,
		 struct fundus_image *dst, const uint8_t lut[3][256])
{
	const int sw = src->width, sh = src->height, dw = dst->width, dh = dst->height;
	const double b00 = d->inv[0][0], b01 = d->inv[0][1], b10 = d->inv[1][0], b11 = d->inv[1][1];
	const double one = 4294967296.0; /* 2^32 */
	const int64_t dx = llround(b00 * one), dy = llround(b10 * one);
	const float scale = 1.0f / ((float)WONE * WONE), kq = d->illum_k;
	struct row_photo rp;
	int32_t v[3][CHUNK], idx[3][CHUNK];

	for (int r = 0; r < 3; r++)
		for (int c = 0; c < 3; c++)
			rp.m[r][c] = d->mix[r][c] * scale;
	rp.black = d->black;
	rp.x0 = 1.0f / dw - 1; /* the field's X runs over [-1, 1] across dst */
	rp.dx = 2.0f / dw;
	for (int j = 0; j < dh; j++) {
		uint8_t *o = dst->data + (size_t)j * dst->stride;
		double yc = j + 0.5;
		double x0 = b00 * 0.5 + b01 * yc + d->inv[0][2] - 0.5;
		double y0 = b10 * 0.5 + b11 * yc + d->inv[1][2] - 0.5;
		float fy = (2.0f * j + 1) / dh - 1;
		int a = 0, b = dw;

		/* Gain along the row: G (1 + k ((q2 X + q0 + q4 Y) X + q1 Y + q3 Y^2 - mid)). */
		rp.g2 = d->gain * kq * d->q[2];
		rp.g1 = d->gain * kq * (d->q[0] + d->q[4] * fy);
		rp.g0 = d->gain * (1 + kq * (d->q[1] * fy + d->q[3] * fy * fy - d->q_mid));
		/*
		 * Only the pixels that can see src are sampled; this also keeps
		 * the fixed-point positions small (|x| < 2^31) however far the
		 * row's ends map.
		 */
		row_span(x0, b00, -1, sw, &a, &b);
		row_span(y0, b10, -1, sh, &a, &b);
		memset(o, 0, (size_t)a * 3);
		memset(o + (size_t)b * 3, 0, (size_t)(dw - b) * 3);
		for (int i0 = a; i0 < b; i0 += CHUNK) {
			int len = b - i0 < CHUNK ? b - i0 : CHUNK;
			uint8_t *p = o + (size_t)i0 * 3;

			sample_run(src, llround((x0 + b00 * i0) * one),
				   llround((y0 + b10 * i0) * one), dx, dy, len, v);
			photo_chunk(&rp, i0, v, idx);
			for (int k = 0; k < len; k++, p += 3) {
				p[0] = lut[0][idx[0][k]];
				p[1] = lut[1][idx[1][k]];
				p[2] = lut[2][idx[2][k]];
			}
		}
	}
}

/*
 * Convolves, in place, n positions that lie step bytes apart, each holding
 * lanes (<= LANES) samples at the byte offsets off[] (NULL: 0, 1, 2, ...),
 * with the kernel k of radius r, in fixed point (weights summing to 256);
 * beyond the ends the end samples repeat. A ring of the 2r + 1 input
 * positions around the current one keeps the inputs that the outputs
 * overwrite; it is stored twice over so that the window is contiguous.
 * The sums run over all LANES in 16-bit integers (255 * 256 fits), a
 * fixed count that compilers vectorise; lanes past `lanes` are not stored.
 */
static void blur_line(uint8_t *base, int n, ptrdiff_t step, const ptrdiff_t *off, int lanes,
		      const uint16_t *k, int r)
{
	uint8_t ring[2 * BLUR_TAPS][LANES];
	uint16_t acc[LANES];
	uint8_t out[LANES];
	int taps = 2 * r + 1, head = 0;

	memset(ring, 0, sizeof(ring[0]) * 2 * (size_t)taps);
	for (int t = 0; t < 2 * taps; t++) {
		/* Slots t and t + taps hold the same position, t - r, clamped. */
		int pos = t % taps - r;
		const uint8_t *p = base + (pos < 0 ? 0 : pos >= n ? n - 1 : pos) * step;

		if (off)
			for (int l = 0; l < lanes; l++)
				ring[t][l] = p[off[l]];
		else
			memcpy(ring[t], p, (size_t)lanes);
	}
	for (int i = 0; i < n; i++) {
		uint8_t *p = base + i * step;

		for (int l = 0; l < LANES; l++)
			acc[l] = 128; /* rounds the final shift */
		for (int t = 0; t < taps; t++) {
			const uint8_t *x = ring[head + t];
			uint16_t w = k[t];

			for (int l = 0; l < LANES; l++)
				acc[l] = (uint16_t)(acc[l] + w * x[l]);
		}
		for (int l = 0; l < LANES; l++)
			out[l] = (uint8_t)(acc[l] >> 8);
		if (off)
			for (int l = 0; l < lanes; l++)
				p[off[l]] = out[l];
		else
			memcpy(p, out, (size_t)lanes);
		if (i + 1 < n) {
			/* The oldest position leaves the window, i + r + 1 enters it. */
			const uint8_t *q = base + (i + r + 1 < n ? i + r + 1 : n - 1) * step;

			if (off)
				for (int l = 0; l < lanes; l++)
					ring[head][l] = q[off[l]];
			else
				memcpy(ring[head], q, (size_t)lanes);
			memcpy(ring[head + taps], ring[head], LANES);
			head = head + 1 == taps ? 0 : head + 1;
		}
	}
}

/*
 * Blurs dst in place with a Gaussian of the given sigma, rows then columns.
 * The weights are rounded to 1/256 and sum to exactly 256, so a flat image
 * stays flat.
 */
static void blur(struct fundus_image *dst, float sigma)
{
	float kf[BLUR_TAPS], sum = 0;
	uint16_t k[BLUR_TAPS];
	ptrdiff_t off[LANES];
	int r = (int)ceilf(3 * sigma), total = 0;
	const ptrdiff_t stride = (ptrdiff_t)dst->stride;

	if (r > BLUR_R)
		r = BLUR_R;
	for (int t = -r; t <= r; t++) {
		kf[t + r] = expf(-(float)(t * t) / (2 * sigma * sigma));
		sum += kf[t + r];
	}
	for (int t = 0; t <= 2 * r; t++) {
		k[t] = (uint16_t)(256 * kf[t] / sum + 0.5f);
		total += k[t];
	}
	k[r] = (uint16_t)(k[r] + 256 - total); /* the centre takes the rounding */
	/* Along the rows: the lanes are the three samples of STRIP rows. */
	for (int y = 0; y < dst->height; y += STRIP) {
		int rows = dst->height - y < STRIP ? dst->height - y : STRIP;

		for (int l = 0; l < 3 * rows; l++)
			off[l] = (l / 3) * stride + l % 3;
		blur_line(dst->data + (size_t)y * dst->stride, dst->width, 3, off, 3 * rows, k, r);
	}
	/* Down the columns: the lanes are the samples of STRIP neighbouring pixels. */
	for (int x = 0; x < dst->width; x += STRIP) {
		int cols = dst->width - x < STRIP ? dst->width - x : STRIP;

		blur_line(dst->data + (size_t)x * 3, dst->height, stride, NULL, 3 * cols, k, r);
	}
}

/*
 * The inverse of the standard normal distribution function, by Acklam's
 * rational approximation (relative error below 1.2e-9), for 0 < p < 1.
 */
static double normal_quantile(double p)
{
	static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
				    -2.759285104469687e+02, 1.383577518672690e+02,
				    -3.066479806614716e+01, 2.506628277459239e+00};
	static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
				    -1.556989798598866e+02, 6.680131188771972e+01,
				    -1.328068155288572e+01};
	static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
				    -2.400758277161838e+00, -2.549732539343734e+00,
				    4.374664141464968e+00,  2.938163982698783e+00};
	static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01,
				    2.445134137142996e+00, 3.754408661907416e+00};
	double q, r;

	if (p > 0.5)
		return -normal_quantile(1 - p);
	if (p < 0.02425) {
		q = sqrt(-2 * log(p));
		return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
		       ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	}
	q = p - 0.5;
	r = q * q;
	return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
	       (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* splitmix64 as a counter: a fast private stream for the noise. */
static inline uint64_t mix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * Adds Gaussian noise of the given sigma to every sample. Each random byte
 * picks one of 256 equally likely normal deviates (the quantiles at
 * (k + 0.5) / 256, rescaled to unit variance, so the tails stop at 2.9
 * sigma), so a 64-bit draw serves eight samples and no sample needs a
 * logarithm. The stream is private, from seed, so the caller's rng
 * advances by the same amount whatever the image size.
 */
static void add_noise(struct fundus_image *dst, float sigma, uint64_t seed)
{
	double z[256], var = 0;
	int16_t tab[256];
	const int n = dst->width * 3;

	for (int k = 0; k < 256; k++) {
		z[k] = normal_quantile((k + 0.5) / 256);
		var += z[k] * z[k] / 256;
	}
	for (int k = 0; k < 256; k++)
		tab[k] = (int16_t)floor(z[k] * sigma / sqrt(var) + 0.5);
	for (int y = 0; y < dst->height; y++) {
		uint8_t *p = dst->data + (size_t)y * dst->stride;

		/* In chunks, with the clipping on local copies, for the vectoriser. */
		for (int x0 = 0; x0 < n; x0 += CHUNK) {
			int len = n - x0 < CHUNK ? n - x0 : CHUNK;
			uint8_t px[CHUNK] = {0};
			int16_t nz[CHUNK];

			for (int w = 0; w < CHUNK; w += 8) {
				uint64_t u = mix64(&seed);

				for (int b = 0; b < 8; b++)
					nz[w + b] = tab[(u >> (8 * b)) & 0xff];
			}
			memcpy(px, p + x0, (size_t)len);
			for (int k = 0; k < CHUNK; k++) {
				int32_t v = px[k] + nz[k];

				v = v > 0 ? v : 0;
				px[k] = (uint8_t)(v < 255 ? v : 255);
			}
			memcpy(p + x0, px, (size_t)len);
		}
	}
}

/*
 * Adds point (x, y) to the bound b if it lies in [0, w] x [0, h], give or
 * take a rounding error (then it is moved onto the edge): the extremes of
 * a disc that just touches the frame must not be lost to an ulp.
 */
static void bound_add(struct fundus_box *b, double x, double y, double w, double h)
{
	const double eps = 1e-9 * (w > h ? w : h);

	if (!(x >= -eps && x <= w + eps && y >= -eps && y <= h + eps))
		return;
	x = x < 0 ? 0 : x > w ? w : x;
	y = y < 0 ? 0 : y > h ? h : y;
	b->x0 = x < b->x0 ? x : b->x0;
	b->y0 = y < b->y0 ? y : b->y0;
	b->x1 = x > b->x1 ? x : b->x1;
	b->y1 = y > b->y1 ? y : b->y1;
}

/*
 * The bound of the part inside [0, w] x [0, h] of the ellipse
 * c + u cos t + v sin t (u and v not parallel). That part is convex, so
 * its extremes lie among the ellipse's own four extremes, the points
 * where the ellipse crosses the rectangle's edges, and the rectangle's
 * corners inside the ellipse: the bound of those that lie in the
 * rectangle. Returns 0 when none does (nothing of the ellipse is inside).
 */
static int ellipse_bound(double cx, double cy, const double u[2], const double v[2], double w,
			 double h, struct fundus_box *b)
{
	const double half[2] = {hypot(u[0], v[0]), hypot(u[1], v[1])}, c[2] = {cx, cy};
	const double lim[2] = {w, h};
	const double det = u[0] * v[1] - v[0] * u[1];

	*b = (struct fundus_box){INFINITY, INFINITY, -INFINITY, -INFINITY};
	/* The extremes: along axis k at cos t = u[k] / half[k], sin t = v[k] / half[k]. */
	for (int s = -1; s <= 1; s += 2) {
		bound_add(b, cx + s * half[0], cy + s * (u[1] * u[0] + v[1] * v[0]) / half[0], w,
			  h);
		bound_add(b, cx + s * (u[0] * u[1] + v[0] * v[1]) / half[1], cy + s * half[1], w,
			  h);
	}
	/* The crossings of the edges x = e and y = e: half[k] cos(t - phi) = e - c[k]. */
	for (int k = 0; k < 2; k++) {
		double phi = atan2(v[k], u[k]);

		for (int e = 0; e < 2; e++) {
			double edge = e ? lim[k] : 0, q = (edge - c[k]) / half[k];

			if (!(fabs(q) <= 1 + 1e-12))
				continue;
			q = q > 1 ? 1 : q < -1 ? -1 : q; /* a tangent edge, to rounding */
			for (int s = -1; s <= 1; s += 2) {
				double t = phi + s * acos(q);
				double o = c[1 - k] + u[1 - k] * cos(t) + v[1 - k] * sin(t);

				if (k == 0)
					bound_add(b, edge, o, w, h);
				else
					bound_add(b, o, edge, w, h);
			}
		}
	}
	/* The corners inside: q - c = u a + v b with a^2 + b^2 <= 1. */
	for (int k = 0; k < 4; k++) {
		double qx = k & 1 ? w : 0, qy = k & 2 ? h : 0;
		double ea = ((qx - cx) * v[1] - v[0] * (qy - cy)) / det;
		double eb = (u[0] * (qy - cy) - u[1] * (qx - cx)) / det;

		if (ea * ea + eb * eb <= 1)
			bound_add(b, qx, qy, w, h);
	}
	return b->x0 <= b->x1;
}

/*
 * Moves one box. The ellipse inscribed in it goes through the linear part
 * of fwd; the axis-aligned bound of an ellipse with semi-axes (a, b) under
 * a linear map M has the half-widths hypot(M00 a, M01 b) and
 * hypot(M10 a, M11 b), whatever M is. The box is kept when its part inside
 * dst is at least min_visible of its area (and some of the ellipse is
 * inside); what is written is the bound of the ellipse's part inside dst:
 * the clipped box, except when less than half of the disc shows along an
 * axis or the frame cuts it at a corner, where the clipped box would be
 * looser than the pixels. A box of no area (a line or a point) has no
 * ellipse: it is clipped, and kept where it touches dst. Returns 1 when
 * kept (in *out), 0 when dropped.
 */
static int map_box(const struct fundus__augment_draw *d, const struct fundus_box *b, int dw, int dh,
		   double min_visible, struct fundus_box *out)
{
	double mx = (b->x0 + b->x1) / 2, my = (b->y0 + b->y1) / 2;
	double ax = (b->x1 - b->x0) / 2, ay = (b->y1 - b->y0) / 2;
	double cx = d->fwd[0][0] * mx + d->fwd[0][1] * my + d->fwd[0][2];
	double cy = d->fwd[1][0] * mx + d->fwd[1][1] * my + d->fwd[1][2];
	double hx = hypot(d->fwd[0][0] * ax, d->fwd[0][1] * ay);
	double hy = hypot(d->fwd[1][0] * ax, d->fwd[1][1] * ay);
	struct fundus_box u = {cx - hx, cy - hy, cx + hx, cy + hy}, c;
	double area_u, area_c;

	c.x0 = u.x0 > 0 ? u.x0 : 0;
	c.y0 = u.y0 > 0 ? u.y0 : 0;
	c.x1 = u.x1 < dw ? u.x1 : dw;
	c.y1 = u.y1 < dh ? u.y1 : dh;
	if (c.x1 < c.x0 || c.y1 < c.y0)
		return 0; /* wholly outside */
	area_u = (u.x1 - u.x0) * (u.y1 - u.y0);
	area_c = (c.x1 - c.x0) * (c.y1 - c.y0);
	if (area_u <= 0) {
		*out = c;
		return 1;
	}
	if (area_c <= 0 || area_c < min_visible * area_u)
		return 0;
	if (c.x0 > 0 && c.y0 > 0 && c.x1 < dw && c.y1 < dh) {
		*out = c; /* not clipped: the exact bound as it is */
		return 1;
	}
	{
		const double eu[2] = {d->fwd[0][0] * ax, d->fwd[1][0] * ax};
		const double ev[2] = {d->fwd[0][1] * ay, d->fwd[1][1] * ay};

		return ellipse_bound(cx, cy, eu, ev, dw, dh, out);
	}
}

/*
 * Takes k times the mean brightness that the ellipse inscribed in box has
 * above a ring around it (1.2 to 1.8 radii; black pixels outside the
 * photograph not counted) away from the ellipse's pixels, fully inside
 * 0.75 radii and fading to nothing at the rim. Texture stays; an object
 * darker than its ring is left alone.
 */
static void dim_object(struct fundus_image *img, const struct fundus_box *box, float k)
{
	double cx = (box->x0 + box->x1) / 2, cy = (box->y0 + box->y1) / 2;
	double ax = (box->x1 - box->x0) / 2, ay = (box->y1 - box->y0) / 2;
	double in[3] = {0, 0, 0}, ring[3] = {0, 0, 0}, nin = 0, nring = 0;
	float ex[3];
	int x0, x1, y0, y1;

	if (ax < 1 || ay < 1)
		return;
	x0 = (int)floor(cx - 1.8 * ax);
	x1 = (int)ceil(cx + 1.8 * ax);
	y0 = (int)floor(cy - 1.8 * ay);
	y1 = (int)ceil(cy + 1.8 * ay);
	x0 = x0 < 0 ? 0 : x0;
	y0 = y0 < 0 ? 0 : y0;
	x1 = x1 > img->width ? img->width : x1;
	y1 = y1 > img->height ? img->height : y1;
	for (int y = y0; y < y1; y++) {
		const uint8_t *p = fundus_image_pixel(img, x0, y);

		for (int x = x0; x < x1; x++, p += 3) {
			double u = (x + 0.5 - cx) / ax, v = (y + 0.5 - cy) / ay, r = sqrt(u * u + v * v);

			if (p[0] + p[1] + p[2] < 30)
				continue;
			if (r < 1) {
				for (int c = 0; c < 3; c++)
					in[c] += p[c];
				nin++;
			} else if (r >= 1.2 && r <= 1.8) {
				for (int c = 0; c < 3; c++)
					ring[c] += p[c];
				nring++;
			}
		}
	}
	if (nin < 4 || nring < 4)
		return;
	for (int c = 0; c < 3; c++) {
		double e = in[c] / nin - ring[c] / nring;

		ex[c] = e > 0 ? (float)(k * e) : 0;
	}
	for (int y = y0; y < y1; y++) {
		uint8_t *p = fundus_image_pixel(img, x0, y);

		for (int x = x0; x < x1; x++, p += 3) {
			double u = (x + 0.5 - cx) / ax, v = (y + 0.5 - cy) / ay, r = sqrt(u * u + v * v);
			float w = r <= 0.75 ? 1.0f : r >= 1 ? 0.0f : (float)((1 - r) / 0.25);

			if (w == 0)
				continue;
			for (int c = 0; c < 3; c++) {
				float q = (float)p[c] - w * ex[c];

				p[c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q + 0.5f);
			}
		}
	}
}

int fundus_augment_apply(const struct fundus_augment *a, struct fundus_rng *rng,
			 const struct fundus_image *src, const struct fundus_box *boxes,
			 const int *labels, int n, struct fundus_image *dst,
			 struct fundus_box *out_boxes, int *out_labels, int *out_n)
{
	struct fundus__augment_draw d;
	uint8_t lut[3][256];
	int rc, kept = 0;

	rc = check_args(a, rng, src, boxes, labels, n, dst, out_boxes, out_labels, out_n);
	if (rc < 0)
		return rc;
	fundus__augment_draw(a, rng, src->width, src->height, dst->width, dst->height, &d);
	for (int c = 0; c < 3; c++)
		make_lut(lut[c], d.gamma[c], d.contrast);
	warp(&d, src, dst, lut);
	/* One box at a time, read before written: out_boxes may be boxes itself. */
	for (int i = 0; i < n; i++) {
		struct fundus_box b = boxes[i], o;
		int label = labels ? labels[i] : 0;

		if (!map_box(&d, &b, dst->width, dst->height, a->min_visible, &o))
			continue;
		out_boxes[kept] = o;
		if (labels)
			out_labels[kept] = label;
		kept++;
	}
	if (d.dim > 0)
		for (int i = 0; i < kept; i++)
			dim_object(dst, &out_boxes[i], d.dim);
	if (d.blur_sigma > 0)
		blur(dst, d.blur_sigma);
	if (d.noise > 0)
		add_noise(dst, d.noise, d.noise_seed);
	*out_n = kept;
	return 0;
}
