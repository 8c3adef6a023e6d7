/*
 * Painting a planned scene. The picture is built in a linear "radiance"
 * space: the fundus albedo (colour, choroidal pattern, macula) times the
 * illumination (exposure, vignetting, uneven light, colour cast), with the
 * disc, lesions and vessels blended or absorbed on top, plus scattered
 * light; a camera tone curve maps radiance to 8-bit values, and sensor
 * noise is added last. The compressor (JPEG at the writer's quality) adds
 * its own artefacts.
 *
 * Everything smooth is computed once on a coarse grid and interpolated;
 * vessels and lesions are stamped into per-band layers; each band of rows is
 * then shaded on its own, so bands run in parallel and every pixel is the
 * same whatever the number of threads.
 */
#include <math.h>
#include <string.h>

#include "dmath.h"
#include "synth_int.h"

#define BAND    32 /* rows per band */
#define NCH     10 /* grid channels: I*A (3), I (3), veil and ring (3), flare (1) */
#define LUT_N   16384
#define LUT_MAX 8.0f
#define GA      127 /* grain tiles of coprime sizes: the sum repeats every GA * GB pixels */
#define GB      131

struct render {
	const struct fundus__scene *s;
	struct fundus_image *img;
	float lut[3][LUT_N + 2];
	float noise_sd[256]; /* noise deviation by level, times sqrt(6) for triangular deviates */
	int g, gw, gh;       /* grid step in pixels and grid size */
	float *grid;
	int sw, sh; /* the slow grid: step g * SLOW */
	float *slow;
	int nbands;
	size_t *seg_start, *blob_start;
	uint32_t *seg_idx, *blob_idx;
	float *scratch; /* per worker: layers, then one interpolated grid row */
	size_t scratch_len;
	float *grain_a, *grain_b; /* two tiles of tissue grain, GA and GB pixels square */
	float fk[64];             /* weight of the right grid point at offset k in a cell */
};

/* The smooth part of the picture at one point: see NCH. */
/* e^x for the fall-off of a feature: exactly 0 far from it, which saves the work. */
static inline float fexp(float x)
{
	return x < -12 ? 0 : (float)dm_exp(x);
}

/* The slowest fields (colour drift, uneven light) at one point: see grid_point(). */
static void slow_point(const struct fundus__scene *s, float x, float y, float *out)
{
	float lx = x / (float)s->R, ly = y / (float)s->R;

	out[0] = fundus__fbm2(&s->nz[0], lx * 1.3f, ly * 1.3f, 3, 0.5f);
	out[1] = fundus__fbm2(&s->nz[1], lx * 1.3f + 7.7f, ly * 1.3f - 3.1f, 3, 0.5f);
	out[2] = fundus__fbm2(&s->nz[2], lx * 0.9f + 5.3f, ly * 0.9f - 2.9f, 2, 0.5f);
}

/* The smooth part of the picture at one point (see NCH); slow holds slow_point()'s fields. */
static void grid_point(const struct fundus__scene *s, float x, float y, const float *slow,
		       float *out)
{
	float U = (float)s->unit, R = (float)s->R;
	float dxc = x - (float)s->cx, dyc = y - (float)s->cy;
	float rr = sqrtf(dxc * dxc + dyc * dyc) / R;
	float A[3], I[3], n1, n2, m, d2, dd2, illum;

	for (int c = 0; c < 3; c++)
		A[c] = s->base[c];
	/* Large, slow variations of colour over the fundus. */
	n1 = slow[0];
	n2 = slow[1];
	A[0] *= (float)dm_exp(s->var_amp[0] * 2 * n1);
	A[1] *= (float)dm_exp(s->var_amp[1] * 2 * (0.7f * n1 + 0.7f * n2));
	A[2] *= (float)dm_exp(s->var_amp[2] * 2 * n2);
	/* Fine mottling of the pigment epithelium. */
	m = fundus__fbm2(&s->nz[2], x / (0.07f * U), y / (0.07f * U), 2, 0.55f);
	m = s->mottle * m +
	    s->blotch * fundus__noise2(&s->nz[0], x / (0.3f * U) + 19.3f, y / (0.3f * U) - 7.1f);
	A[0] *= 1 + m;
	A[1] *= 1 + 1.5f * m;
	A[2] *= 1 + 1.5f * m;
	/* Choroidal vessels showing through a thin pigment layer (tigroid fundus):
	 * the zero lines of a warped noise make a network of bands. */
	if (s->choroid > 0) {
		float sc = 0.7f * U * s->choroid_scale;
		float wx =
		    x / sc + 1.2f * fundus__noise2(&s->nz[3], x / (2.5f * sc), y / (2.5f * sc));
		float wy = y / sc + 1.2f * fundus__noise2(&s->nz[3], x / (2.5f * sc) + 31.7f,
							  y / (2.5f * sc) - 11.3f);
		float n = fabsf(fundus__noise2(&s->nz[3], wx, wy));
		float ridge = 1 - fundus__smoothstep(0.1f, 0.55f, n);
		float fdx = x - (float)s->fx, fdy = y - (float)s->fy;
		float far = fundus__smoothstep(0.6f * U, 2.5f * U, sqrtf(fdx * fdx + fdy * fdy));
		float t = s->choroid * far;

		A[0] *= 1 + t * (0.22f * ridge - 0.12f);
		A[1] *= 1 + t * (0.30f * ridge - 0.25f);
		A[2] *= 1 + t * (0.2f * ridge - 0.3f);
	}
	/* The macula and the fovea are darker; a young fovea shows a pin-point reflex. */
	{
		float fdx = x - (float)s->fx, fdy = y - (float)s->fy;
		float mac, fov;

		d2 = fdx * fdx + fdy * fdy;
		mac = fexp(-d2 / (2 * s->mac_sigma * s->mac_sigma));
		fov = fexp(-d2 / (2 * s->fov_sigma * s->fov_sigma));
		for (int c = 0; c < 3; c++)
			A[c] *= (1 - s->mac_depth[c] * mac) * (1 - s->fov_depth[c] * fov);
		if (s->fov_reflex > 0) {
			float r = fexp(-d2 / (2 * 0.00015f * U * U)) * s->fov_reflex;

			A[0] += 0.5f * r;
			A[1] += 0.5f * r;
			A[2] += 0.4f * r;
		}
	}
	/* Light scattered around the disc, and nerve-fibre striations near it. */
	{
		float ddx = x - (float)s->dx, ddy = y - (float)s->dy, glow, rd;

		dd2 = ddx * ddx + ddy * ddy;
		glow = s->glow * fexp(-dd2 / (2 * s->glow_sigma * s->glow_sigma));
		A[0] *= 1 + 0.6f * glow;
		A[1] *= 1 + glow;
		A[2] *= 1 + glow;
		rd = sqrtf(dd2) / U;
		if (s->nfl > 0 && rd < 3.5f && rd > 0.3f) {
			/* Noise on the direction from the disc, slow along the radius: streaks. */
			float k = 22, st = fundus__noise2(&s->nz[1], ddx / (rd * U) * k + 0.4f * rd,
							  ddy / (rd * U) * k + 0.9f * rd);
			float w =
			    s->nfl * (float)dm_exp(-rd / 1.3f) * fundus__smoothstep(0.3f, 0.7f, rd);

			A[1] *= 1 + w * st;
			A[2] *= 1 + 1.3f * w * st;
		}
	}
	/* Illumination: exposure, vignetting, a hot spot, uneven light, the cast. */
	{
		float hx = x - s->hot_x, hy = y - s->hot_y;
		float u = slow[2];
		float rp = (float)dm_pow(rr < 1 ? rr : 1, s->vig_pow);

		illum =
		    s->gain *
		    (1 + s->hot * fexp(-(hx * hx + hy * hy) / (2 * s->hot_sigma * s->hot_sigma))) *
		    (float)dm_exp(s->uneven * 2 * u);
		illum *= 1 - s->edge_dark * fundus__smoothstep(0.75f, 1.0f, rr);
		for (int c = 0; c < 3; c++) {
			float v = 1 - s->vig[c] * rp;

			I[c] = illum * (v > 0.03f ? v : 0.03f) * s->cast[c];
		}
	}
	for (int c = 0; c < 3; c++) {
		out[c] = I[c] * A[c];
		out[3 + c] = I[c];
	}
	/* Scattered light inside the field: the veil, a ring at the edge, a glare
	 * crescent at one side. */
	{
		float veil = s->gain * (0.6f + 0.4f * (1 - (rr < 1 ? rr * rr : 1)));
		float ring = 0, cres = 0, e = (1 - rr) * R;

		if (s->ring > 0)
			ring = s->ring * s->gain * fexp(-(e * e) / (s->ring_w * s->ring_w));
		if (s->crescent > 0 && rr > 0.3f) {
			float a = (float)dm_atan2(dyc, dxc) - s->crescent_ang,
			      ca = (float)dm_cos(a);
			float q = (1 - rr) / s->crescent_w;

			if (ca > 0)
				cres = s->crescent * s->gain * ca * ca * ca * fexp(-q * q);
		}
		for (int c = 0; c < 3; c++)
			out[6 + c] = (s->haze[c] * veil + s->ring_col[c] * ring +
				      s->crescent_col[c] * cres) *
				     s->cast[c];
	}
	/* Flare just outside the field. */
	out[9] = rr > 1 ? s->flare * s->gain * fexp(-(rr - 1) / 0.025f) : s->flare * s->gain;
}

/* Slow fields: a grid SLOW times coarser than the main one. */
#define SLOW 4

static void slow_rows(void *ctx, size_t begin, size_t end, int worker)
{
	struct render *r = ctx;
	int step = r->g * SLOW;

	(void)worker;
	for (size_t j = begin; j < end; j++)
		for (int i = 0; i < r->sw; i++)
			slow_point(r->s, (float)i * step, (float)j * step,
				   r->slow + ((size_t)j * r->sw + i) * 3);
}

static void grid_rows(void *ctx, size_t begin, size_t end, int worker)
{
	struct render *r = ctx;

	(void)worker;
	for (size_t j = begin; j < end; j++) {
		size_t sj = j / SLOW;
		float fy = (float)(j % SLOW) / SLOW;

		for (int i = 0; i < r->gw; i++) {
			const float *a = r->slow + (sj * r->sw + (size_t)i / SLOW) * 3;
			const float *b = a + (size_t)r->sw * 3;
			float fx = (float)(i % SLOW) / SLOW, sl[3];

			for (int c = 0; c < 3; c++) {
				float top = a[c] + fx * (a[3 + c] - a[c]);
				float bot = b[c] + fx * (b[3 + c] - b[c]);

				sl[c] = top + fy * (bot - top);
			}
			grid_point(r->s, (float)i * r->g, (float)j * r->g, sl,
				   r->grid + ((size_t)j * r->gw + i) * NCH);
		}
	}
}

/*
 * A square tile of n x n grain values (deviation 0.7), white noise blurred
 * with wrap-around to the size of the grain, a few pixels in a large photograph.
 */
static float *make_grain(const struct fundus__scene *s, int n, uint64_t k)
{
	float *t = fundus_malloc((size_t)n * n * sizeof *t), *tmp;
	int rad = (int)(0.004 * s->unit + 0.5);
	struct fundus_rng root, rng;
	double sum = 0, sq = 0, sd;

	tmp = fundus_malloc((size_t)n * sizeof *tmp);
	if (t == NULL || tmp == NULL) {
		fundus_free(t);
		fundus_free(tmp);
		return NULL;
	}
	fundus_rng_seed(&root, s->pixel_seed);
	rng = fundus_rng_split(&root, k);
	for (int i = 0; i < n * n; i++)
		t[i] = (float)(2 * fundus_rng_uniform(&rng) - 1);
	/* Two box passes each way approach a Gaussian blur. */
	for (int pass = 0; pass < 2 * (rad > 0); pass++) {
		for (int y = 0; y < n; y++) {
			for (int x = 0; x < n; x++) {
				float a = 0;

				for (int d = -rad; d <= rad; d++)
					a += t[y * n + (x + d + n) % n];
				tmp[x] = a / (2 * rad + 1);
			}
			memcpy(t + (size_t)y * n, tmp, (size_t)n * sizeof *tmp);
		}
		for (int x = 0; x < n; x++) {
			for (int y = 0; y < n; y++) {
				float a = 0;

				for (int d = -rad; d <= rad; d++)
					a += t[((y + d + n) % n) * n + x];
				tmp[y] = a / (2 * rad + 1);
			}
			for (int y = 0; y < n; y++)
				t[y * n + x] = tmp[y];
		}
	}
	for (int i = 0; i < n * n; i++) {
		sum += t[i];
		sq += (double)t[i] * t[i];
	}
	sd = sqrt(sq / (n * n) - (sum / (n * n)) * (sum / (n * n)));
	for (int i = 0; i < n * n; i++)
		t[i] = (float)(0.7 * (t[i] - sum / (n * n)) / (sd > 0 ? sd : 1));
	fundus_free(tmp);
	return t;
}

/* The tone curve of the camera, as a table over radiance. */
static void make_lut(struct render *r)
{
	const struct fundus__scene *s = r->s;

	for (int c = 0; c < 3; c++)
		for (int i = 0; i <= LUT_N + 1; i++) {
			double v = (double)i * LUT_MAX / LUT_N;
			double t = dm_pow(1 - dm_exp(-s->tone_k * v), s->tone_gamma[c]);

			r->lut[c][i] = (float)(s->black + (255 - s->black) * t);
		}
	for (int i = 0; i < 256; i++)
		r->noise_sd[i] = 2.449f * s->noise * sqrtf(0.25f + 0.75f * i / 128);
}

static inline float tone(const struct render *r, int c, float v)
{
	/* The nearest entry: the table is fine enough that a step is a tenth of a level. */
	float f = v * (LUT_N / LUT_MAX) + 0.5f;

	if (!(f > 0))
		return r->lut[c][0];
	if (f >= LUT_N)
		return r->lut[c][LUT_N];
	return r->lut[c][(int)f];
}

/* o[x] for x in [x0, x1): grid row gr (one channel) interpolated at pixel centres. */
static void interp_span(const struct render *r, const float *gr, float *o, int x0, int x1)
{
	int g = r->g;

	for (int x = x0; x < x1;) {
		int i = x / g, k = x - i * g, end = (i + 1) * g < x1 ? (i + 1) * g : x1;
		float a = gr[i], d = gr[i + 1] - a;

		for (; x < end; x++, k++)
			o[x] = a + r->fk[k] * d;
	}
}

/* The rows a segment or blob can touch, for the band index. */
static void seg_rows(const struct fundus__scene *s, const struct fundus__seg *g, int *y0, int *y1)
{
	float rad = (g->r0 > g->r1 ? g->r0 : g->r1) + 2 * s->blur + 2;
	float lo = (g->y0 < g->y1 ? g->y0 : g->y1) - rad,
	      hi = (g->y0 > g->y1 ? g->y0 : g->y1) + rad;

	*y0 = (int)fundus__clamp(floorf(lo), 0, s->h - 1);
	*y1 = (int)fundus__clamp(ceilf(hi), 0, s->h - 1);
}

static float blob_reach(const struct fundus__blob *b)
{
	return (b->rx > b->ry ? b->rx : b->ry) * (1 + b->wamp + b->edge) + 2;
}

static void blob_rows(const struct fundus__scene *s, const struct fundus__blob *b, int *y0, int *y1)
{
	float rad = blob_reach(b);

	*y0 = (int)fundus__clamp(floorf(b->y - rad), 0, s->h - 1);
	*y1 = (int)fundus__clamp(ceilf(b->y + rad), 0, s->h - 1);
}

/* Builds, per band, the list of segments (kind 0) or blobs (kind 1) that touch it. */
static int band_index(struct render *r, int kind)
{
	const struct fundus__scene *s = r->s;
	size_t n = kind ? s->nblobs : s->nsegs, total = 0;
	size_t *start = fundus_calloc((size_t)r->nbands + 1, sizeof *start);
	uint32_t *idx;

	if (start == NULL)
		return FUNDUS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int y0, y1;

		if (kind)
			blob_rows(s, &s->blobs[i], &y0, &y1);
		else
			seg_rows(s, &s->segs[i], &y0, &y1);
		for (int b = y0 / BAND; b <= y1 / BAND; b++)
			start[b + 1]++;
	}
	for (int b = 0; b < r->nbands; b++)
		start[b + 1] += start[b];
	total = start[r->nbands];
	idx = fundus_malloc((total ? total : 1) * sizeof *idx);
	if (idx == NULL) {
		fundus_free(start);
		return FUNDUS_ENOMEM;
	}
	{
		size_t *fill = fundus_malloc(((size_t)r->nbands + 1) * sizeof *fill);

		if (fill == NULL) {
			fundus_free(start);
			fundus_free(idx);
			return FUNDUS_ENOMEM;
		}
		memcpy(fill, start, ((size_t)r->nbands + 1) * sizeof *fill);
		for (size_t i = 0; i < n; i++) {
			int y0, y1;

			if (kind)
				blob_rows(s, &s->blobs[i], &y0, &y1);
			else
				seg_rows(s, &s->segs[i], &y0, &y1);
			for (int b = y0 / BAND; b <= y1 / BAND; b++)
				idx[fill[b]++] = (uint32_t)i;
		}
		fundus_free(fill);
	}
	if (kind) {
		r->blob_start = start;
		r->blob_idx = idx;
	} else {
		r->seg_start = start;
		r->seg_idx = idx;
	}
	return 0;
}

/* Peak density of a bar of half-width r seen through a blur of half-width b. */
static inline float blur_peak(float r, float b)
{
	return r / sqrtf(r * r + 1.57f * b * b);
}

/* Stamps one vessel segment into the band's layers (maximum, so that joins do not darken). */
static void stamp_seg(const struct fundus__scene *s, const struct fundus__seg *g, float *layers,
		      int y0, int y1)
{
	int w = s->w;
	size_t plane = (size_t)w * BAND;
	float bl = s->blur, e = bl + 0.5f;
	float rmax = g->r0 > g->r1 ? g->r0 : g->r1, rad = rmax + 2 * bl + 2;
	float ax = g->x1 - g->x0, ay = g->y1 - g->y0, len2 = ax * ax + ay * ay;
	int xa = (int)fundus__clamp(floorf((g->x0 < g->x1 ? g->x0 : g->x1) - rad), 0, w - 1);
	int xb = (int)fundus__clamp(ceilf((g->x0 > g->x1 ? g->x0 : g->x1) + rad), 0, w - 1);
	int ya = (int)fundus__clamp(floorf((g->y0 < g->y1 ? g->y0 : g->y1) - rad), y0, y1 - 1);
	int yb = (int)fundus__clamp(ceilf((g->y0 > g->y1 ? g->y0 : g->y1) + rad), y0, y1 - 1);
	float *dens = layers + plane * g->layer, *refl = layers + plane * FUNDUS__L_REFLEX;

	for (int y = ya; y <= yb; y++) {
		float py = y + 0.5f;
		size_t row = (size_t)(y - y0) * w;

		for (int x = xa; x <= xb; x++) {
			float px = x + 0.5f, qx = px - g->x0, qy = py - g->y0;
			float t = len2 > 0 ? (qx * ax + qy * ay) / len2 : 0, dx, dy, d, r, wd, v;

			t = t < 0 ? 0 : t > 1 ? 1 : t;
			dx = qx - t * ax;
			dy = qy - t * ay;
			d = dx * dx + dy * dy;
			if (d > rad * rad)
				continue;
			d = sqrtf(d);
			r = g->r0 + t * (g->r1 - g->r0);
			wd = sqrtf(r * r + 0.25f * bl * bl);
			v = fundus__smoothstep(wd + e, wd - e, d);
			if (v <= 0)
				continue;
			{
				float q = d / (wd + e),
				      shape = 0.9f + 0.1f * sqrtf(q < 1 ? 1 - q * q : 0);

				v *= shape * blur_peak(r, bl) * g->opacity;
			}
			if (v > dens[row + x])
				dens[row + x] = v;
			if (g->reflex > 0) {
				float rw = 0.2f * r, re = 0.7f * bl + 0.3f;
				float f = g->reflex * blur_peak(rw, bl) *
					  fundus__smoothstep(rw + re, rw - re > 0 ? rw - re : 0, d);

				if (f > refl[row + x])
					refl[row + x] = f;
			}
		}
	}
}

static void stamp_blob(const struct fundus__scene *s, const struct fundus__blob *b, float *layers,
		       int y0, int y1)
{
	int w = s->w;
	float rad = blob_reach(b), amp = b->amp;
	float rmin = b->rx < b->ry ? b->rx : b->ry;
	int xa = (int)fundus__clamp(floorf(b->x - rad), 0, w - 1);
	int xb = (int)fundus__clamp(ceilf(b->x + rad), 0, w - 1);
	int ya = (int)fundus__clamp(floorf(b->y - rad), y0, y1 - 1);
	int yb = (int)fundus__clamp(ceilf(b->y + rad), y0, y1 - 1);
	float *dens = layers + (size_t)w * BAND * b->layer;

	/* Spots smaller than the blur spread out and fade, like thin vessels. */
	amp *= blur_peak(rmin, 0.6f * s->blur);
	for (int y = ya; y <= yb; y++) {
		float qy = y + 0.5f - b->y;
		size_t row = (size_t)(y - y0) * w;

		for (int x = xa; x <= xb; x++) {
			float qx = x + 0.5f - b->x;
			float u = (qx * b->ca + qy * b->sa) / b->rx;
			float v = (-qx * b->sa + qy * b->ca) / b->ry;
			float rho = sqrtf(u * u + v * v), val;

			if (rho > 1 + b->wamp + b->edge)
				continue;
			rho += b->wamp * 0.5f *
			       ((float)dm_sin(b->wk[0][0] * u + b->wk[0][1] * v + b->wk[0][2]) +
				(float)dm_sin(b->wk[1][0] * u + b->wk[1][1] * v + b->wk[1][2]));
			val = fundus__smoothstep(1 + b->edge, 1 - b->edge, rho);
			if (val <= 0)
				continue;
			val *= amp * (1 - b->dome * 0.7f * (rho < 1 ? rho * rho : 1));
			if (val > dens[row + x])
				dens[row + x] = val;
		}
	}
}

/* Shades the disc, its cup and any atrophy over the background at one pixel. */
static void shade_disc(const struct fundus__scene *s, float px, float py, const float *I, float *v)
{
	double ca, sa, rho = fundus__disc_rho(s, px, py, &ca, &sa);
	float e = (float)s->disc_edge, wd, wp = 0, rho_f = (float)rho;
	float U = (float)s->unit;

	wd = fundus__smoothstep(1 + e, 1 - e, rho_f);
	if (s->ppa) {
		double c = ca * s->ppa_c + sa * s->ppa_s;
		float pw = c > 0 ? (float)(s->ppa_w * dm_pow(c, s->ppa_pow)) : 0;

		if (pw > 0.01f) {
			wp = fundus__smoothstep(1 + pw + e, 1 + pw - e, rho_f) * (1 - wd) * 0.9f;
			if (wp > 0) {
				float n =
				    fundus__noise2(&s->nz[3], px / (0.06f * U), py / (0.06f * U));
				float m =
				    1 + 0.2f * n - 0.35f * fundus__smoothstep(-0.2f, -0.6f, n);

				for (int c2 = 0; c2 < 3; c2++)
					v[c2] += wp * (I[c2] * s->ppa_col[c2] * m - v[c2]);
			}
		}
	}
	if (wd <= 0)
		return;
	{
		float cx = (px - (float)s->cup_x) / (float)s->cup_rx;
		float cy = (py - (float)s->cup_y) / (float)s->cup_ry;
		float rc = sqrtf(cx * cx + cy * cy), ce = (float)s->cup_edge;
		float wc = fundus__smoothstep(1 + ce, 1 - ce, rc);
		float grad = 0.82f + 0.3f * (1 - (rho_f < 1 ? rho_f * rho_f : 1));
		float tex =
		    1 + s->disc_tex * fundus__noise2(&s->nz[2], px / (0.05f * U), py / (0.05f * U));

		for (int c = 0; c < 3; c++) {
			float rim = s->rim_col[c] * grad * tex;
			float alb = rim + wc * (s->cup_col[c] * tex - rim);

			v[c] += wd * (I[c] * alb - v[c]);
		}
	}
}

/* The columns [*x0, *x1) of row y whose centres lie within radius rad of the field's centre. */
static void row_span(const struct fundus__scene *s, float dyc, float rad, int *x0, int *x1)
{
	float h = rad * rad - dyc * dyc, w;

	if (h <= 0) {
		*x0 = *x1 = 0;
		return;
	}
	w = sqrtf(h);
	*x0 = (int)fundus__clamp(ceilf((float)s->cx - w - 0.5f), 0, s->w);
	*x1 = (int)fundus__clamp(floorf((float)s->cx + w - 0.5f) + 1, 0, s->w);
	if (*x1 < *x0)
		*x1 = *x0;
}

/*
 * Shades one band of rows. Each row goes through stages over whole rows,
 * which the compiler can vectorise: interpolate the smooth grid; shade the
 * disc and blend lesions and vessels where they are; apply the field of
 * view; tone-map, add noise and store.
 */
static void shade_band(struct render *r, int band, float *layers, float *buf)
{
	const struct fundus__scene *s = r->s;
	int w = s->w, y0 = band * BAND, y1 = y0 + BAND < s->h ? y0 + BAND : s->h;
	size_t plane = (size_t)w * BAND;
	float R = (float)s->R, e = (float)s->fov_edge;
	float Rc[3], rin, rout;
	float nca = (float)dm_cos(s->notch_ang), nsa = (float)dm_sin(s->notch_ang);
	const float *L[FUNDUS__NLAYERS];
	float *grow_row = buf, *ch[NCH], *lin[3];

	for (int c = 0; c < NCH; c++)
		ch[c] = buf + (size_t)r->gw * NCH + (size_t)w * c;
	for (int c = 0; c < 3; c++)
		lin[c] = buf + (size_t)r->gw * NCH + (size_t)w * (NCH + c);
	for (int c = 0; c < 3; c++)
		Rc[c] = R * (1 + (float)s->chroma * (1 - c));
	rin = (Rc[2] < Rc[0] ? Rc[2] : Rc[0]) - e - 1;
	rout =
	    (Rc[2] > Rc[0] ? Rc[2] : Rc[0]) + e + 1 + (s->notch ? (float)s->notch_out + 2 * e : 0);
	memset(layers, 0, FUNDUS__NLAYERS * plane * sizeof *layers);
	for (size_t k = r->seg_start[band]; k < r->seg_start[band + 1]; k++)
		stamp_seg(s, &s->segs[r->seg_idx[k]], layers, y0, y1);
	for (size_t k = r->blob_start[band]; k < r->blob_start[band + 1]; k++)
		stamp_blob(s, &s->blobs[r->blob_idx[k]], layers, y0, y1);
	for (int l = 0; l < FUNDUS__NLAYERS; l++)
		L[l] = layers + plane * l;

	for (int y = y0; y < y1; y++) {
		float py = y + 0.5f, dyc = py - (float)s->cy, gy = py / r->g, fy;
		int iy = (int)gy, xo0, xo1, xi0, xi1;
		const float *g0, *g1;
		uint8_t *out = r->img->data + (size_t)y * r->img->stride;
		size_t row = (size_t)(y - y0) * w;

		/* Stage 1: the smooth fields, interpolated from the grid. */
		if (iy > r->gh - 2)
			iy = r->gh - 2;
		fy = gy - iy;
		g0 = r->grid + (size_t)iy * r->gw * NCH;
		g1 = g0 + (size_t)r->gw * NCH;
		for (int i = 0; i < r->gw; i++)
			for (int c = 0; c < NCH; c++)
				grow_row[(size_t)c * r->gw + i] =
				    g0[(size_t)i * NCH + c] +
				    fy * (g1[(size_t)i * NCH + c] - g0[(size_t)i * NCH + c]);
		row_span(s, dyc, rout, &xo0, &xo1);
		row_span(s, dyc, rin, &xi0, &xi1);
		/* The picture's channels where the field may be; flare outside its core. */
		for (int c = 0; c < NCH; c++) {
			const float *gr = grow_row + (size_t)c * r->gw;
			float *o = ch[c];
			int spans[2][2] = {{xo0, xo1}, {0, 0}};

			if (c == 9) {
				spans[0][0] = 0;
				spans[0][1] = xi1 > xi0 ? xi0 : w;
				spans[1][0] = xi1 > xi0 ? xi1 : w;
				spans[1][1] = w;
			}
			for (int k = 0; k < 2; k++)
				interp_span(r, gr, o, spans[k][0], spans[k][1]);
		}

		/* Stage 2: disc, lesions and vessels, inside the field only. */
		if (y >= s->disc_y0 && y < s->disc_y1) {
			int a = s->disc_x0 > xo0 ? s->disc_x0 : xo0;
			int b = s->disc_x1 < xo1 ? s->disc_x1 : xo1;

			for (int x = a; x < b; x++) {
				float I[3] = {ch[3][x], ch[4][x], ch[5][x]};
				float v[3] = {ch[0][x], ch[1][x], ch[2][x]};

				shade_disc(s, x + 0.5f, py, I, v);
				ch[0][x] = v[0];
				ch[1][x] = v[1];
				ch[2][x] = v[2];
			}
		}
		for (int x = xo0; x < xo1; x++) {
			float ex = L[FUNDUS__L_EXUDATE][row + x], dr = L[FUNDUS__L_DRUSEN][row + x];
			float cw = L[FUNDUS__L_COTTON][row + x], hm = L[FUNDUS__L_HAEM][row + x];
			float va = L[FUNDUS__L_ARTERY][row + x], vv = L[FUNDUS__L_VEIN][row + x];
			float rf = L[FUNDUS__L_REFLEX][row + x];

			if (ex + dr + cw + hm + va + vv + rf <= 0)
				continue;
			for (int c = 0; c < 3; c++) {
				float v = ch[c][x], I = ch[3 + c][x], a, b;

				if (ex > 0)
					v += ex * (I * s->exu_col[c] - v);
				if (dr > 0)
					v += dr * (I * s->dru_col[c] - v);
				if (cw > 0)
					v += cw * (I * s->cws_col[c] - v);
				/* Blood is mostly opaque: blend toward its own colour (lit
				 * like the fundus), with a little of what lies beneath
				 * showing through. */
				if (hm > 0)
					v += hm * (0.7f * I * s->haem_col[c] +
						   0.3f * v * (1 - s->haem_abs[c]) - v);
				a = v;
				b = v;
				if (va > 0)
					a += va * (0.7f * I * s->art_col[c] +
						   0.3f * v * (1 - s->art_abs[c]) - v);
				if (vv > 0)
					b += vv * (0.7f * I * s->vein_col[c] +
						   0.3f * v * (1 - s->vein_abs[c]) - v);
				ch[c][x] = (a < b ? a : b) + rf * I * s->reflex_col[c];
			}
		}

		/* Tissue grain, finer than the grid can carry. */
		{
			const float *ra = r->grain_a + (size_t)(y % GA) * GA;
			const float *rb = r->grain_b + (size_t)(y % GB) * GB;
			int ia = xo0 % GA, ib = xo0 % GB;

			for (int x = xo0; x < xo1; x++) {
				float gm = 1 + s->grain * (ra[ia] + rb[ib]);

				ch[0][x] *= gm;
				ch[1][x] *= gm;
				ch[2][x] *= gm;
				ia = ia + 1 == GA ? 0 : ia + 1;
				ib = ib + 1 == GB ? 0 : ib + 1;
			}
		}

		/* Stage 3: the field of view. Outside it, only flare; inside, the
		 * picture plus scattered light; at its soft edge, a blend. */
		for (int c = 0; c < 3; c++) {
			float fc = s->flare_col[c] * s->cast[c], *o = lin[c];
			const float *v = ch[c], *add = ch[6 + c], *fl = ch[9];

			for (int x = 0; x < xo0; x++)
				o[x] = fl[x] * fc;
			for (int x = xo1; x < w; x++)
				o[x] = fl[x] * fc;
			for (int x = xi0; x < xi1; x++)
				o[x] = v[x] + add[x];
		}
		for (int x = xo0; x < xo1; x++) {
			float px = x + 0.5f, dxc = px - (float)s->cx, rr, cov[3];

			if (x == xi0 && xi1 > xi0) {
				x = xi1 - 1;
				continue;
			}
			rr = sqrtf(dxc * dxc + dyc * dyc);
			for (int c = 0; c < 3; c++)
				cov[c] = fundus__smoothstep(Rc[c] + e, Rc[c] - e, rr);
			if (s->notch) {
				float along = dxc * nca + dyc * nsa;
				float across = fabsf(-dxc * nsa + dyc * nca);
				float nh = (float)s->notch_half, no = R + (float)s->notch_out;

				if (along > 0.8f * R) {
					float cn = fundus__smoothstep(nh + e, nh - e, across) *
						   fundus__smoothstep(no + e, no - e, along);

					for (int c = 0; c < 3; c++)
						cov[c] = cov[c] > cn ? cov[c] : cn;
				}
			}
			for (int c = 0; c < 3; c++)
				lin[c][x] = cov[c] * (ch[c][x] + ch[6 + c][x]) +
					    (1 - cov[c]) * ch[9][x] * s->flare_col[c] * s->cast[c];
		}

		/* Stage 4: tone curve, sensor noise (triangular deviates from a hash
		 * of the position, stronger in brighter pixels), 8 bits. */
		for (int x = 0; x < w; x++) {
			uint64_t hsh = fundus__mix64(s->pixel_seed ^
						     ((uint64_t)(uint32_t)y << 32 | (uint32_t)x));

			for (int c = 0; c < 3; c++) {
				float d = tone(r, c, lin[c][x]);
				float a = (float)(hsh & 1023) + (float)((hsh >> 10) & 1023);
				float q = d + r->noise_sd[(int)d] * (a / 1023.0f - 1);

				hsh >>= 20;
				q = q < 0 ? 0 : q > 255 ? 255 : q;
				out[3 * x + c] = (uint8_t)(q + 0.5f);
			}
		}
	}
}

static void bands(void *ctx, size_t begin, size_t end, int worker)
{
	struct render *r = ctx;
	float *layers = r->scratch + r->scratch_len * (size_t)worker;
	float *buf = layers + (size_t)FUNDUS__NLAYERS * r->s->w * BAND;

	for (size_t b = begin; b < end; b++)
		shade_band(r, (int)b, layers, buf);
}

static void render_free(struct render *r)
{
	fundus_free(r->grid);
	fundus_free(r->slow);
	fundus_free(r->seg_start);
	fundus_free(r->seg_idx);
	fundus_free(r->blob_start);
	fundus_free(r->blob_idx);
	fundus_free(r->scratch);
	fundus_free(r->grain_a);
	fundus_free(r->grain_b);
	fundus_free(r);
}

int fundus__scene_render(const struct fundus__scene *s, struct fundus_image *img,
			 struct fundus_pool *pool)
{
	struct render *r = fundus_calloc(1, sizeof *r);
	int workers = fundus_pool_threads(pool), rc;
	size_t n, bytes;

	if (r == NULL)
		return FUNDUS_ENOMEM;
	r->s = s;
	r->img = img;
	/* Grid step: about a thousand points across, never coarser than the detail
	 * the grid carries (mottling a few hundredths of a disc diameter). */
	r->g = (s->w + 899) / 900;
	if (r->g > s->unit / 60)
		r->g = (int)(s->unit / 60) > 1 ? (int)(s->unit / 60) : 1;
	r->gw = s->w / r->g + 2;
	r->gh = s->h / r->g + 2;
	r->nbands = (s->h + BAND - 1) / BAND;
	make_lut(r);
	rc = fundus_size_mul3(&n, (size_t)r->gw, (size_t)r->gh, NCH);
	if (rc == 0)
		rc = fundus_size_mul(&bytes, n, sizeof(float));
	if (rc < 0)
		goto done;
	r->grid = fundus_malloc(bytes);
	/* Two more slow points than needed, so that interpolation never runs off. */
	r->sw = r->gw / SLOW + 2;
	r->sh = r->gh / SLOW + 2;
	r->slow = fundus_malloc((size_t)r->sw * r->sh * 3 * sizeof(float));
	r->scratch_len =
	    (size_t)FUNDUS__NLAYERS * s->w * BAND + (size_t)r->gw * NCH + (size_t)s->w * (NCH + 3);
	r->scratch = fundus_malloc(r->scratch_len * sizeof(float) * (size_t)workers);
	r->grain_a = make_grain(s, GA, 1);
	r->grain_b = make_grain(s, GB, 2);
	if (!r->grid || !r->slow || !r->scratch || !r->grain_a || !r->grain_b) {
		rc = FUNDUS_ENOMEM;
		goto done;
	}
	/* Pixel x = i g + k has its centre at grid coordinate i + (k + 0.5) / g. */
	for (int k = 0; k < r->g; k++)
		r->fk[k] = (k + 0.5f) / r->g;
	rc = band_index(r, 0);
	if (rc == 0)
		rc = band_index(r, 1);
	if (rc < 0)
		goto done;
	fundus_pool_for(pool, (size_t)r->sh, slow_rows, r);
	fundus_pool_for(pool, (size_t)r->gh, grid_rows, r);
	fundus_pool_for(pool, (size_t)r->nbands, bands, r);
done:
	render_free(r);
	return rc;
}
