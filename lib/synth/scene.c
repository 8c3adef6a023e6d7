/*
 * Planning a synthetic fundus photograph: the camera (size, field of view,
 * exposure, colour cast), the anatomy (disc, cup, fovea, where the camera
 * points), the colours, and then the vessels and lesions, all drawn from one
 * seeded generator in a fixed order.
 *
 * The numbers come from looking at real photographs (IDRiD, DIARETDB1,
 * DRIVE): the disc is about 0.14 of the field's diameter across and a few
 * percent taller than wide; the fovea lies 2.2 to 2.8 disc diameters
 * temporal to it and a little lower; the fundus is orange-red with almost
 * no blue; poor photographs (dim, hazy, over-exposed) are common.
 */
#include <math.h>
#include <string.h>

#include "dmath.h"
#include "synth_int.h"

#define PI 3.14159265358979323846

/* Cap on primitives, so that odd parameters cannot exhaust memory. */
#define MAX_SEGS  400000
#define MAX_BLOBS 20000

struct camera {
	struct fundus_synth_size size;
	double dmin, dmax; /* field diameter as a fraction of the image height */
	double notch;      /* probability of a notch tab on the field's edge */
	double notch_ang;  /* where it sits, radians (0 = right, positive = down) */
};

static const struct camera cameras[] = {
    {{4288, 2848, "Kowa VX-10 (IDRiD)"}, 1.17, 1.21, 0.9, -0.75},
    {{3888, 2592, "10-megapixel camera back"}, 1.00, 1.20, 0.5, -0.8},
    {{2592, 1728, "4.5-megapixel camera back"}, 1.05, 1.20, 0.5, 0.8},
    {{2048, 1536, "3-megapixel CCD camera"}, 0.92, 1.00, 0.6, -0.7},
    {{1500, 1152, "Zeiss FF450plus (DIARETDB1)"}, 1.21, 1.24, 0.9, 0.75},
    {{1444, 1444, "square sensor"}, 0.88, 0.95, 0.5, -0.75},
    {{768, 576, "PAL video camera"}, 0.92, 1.02, 0.5, -0.7},
    {{640, 480, "VGA camera"}, 0.92, 1.05, 0.5, -0.7},
    {{600, 400, "small 3:2 copy"}, 1.05, 1.20, 0.5, -0.75},
    {{565, 584, "Canon CR5 (DRIVE)"}, 0.92, 0.95, 0.9, -0.75},
};
#define NCAMERAS (sizeof cameras / sizeof cameras[0])

size_t fundus_synth_sizes(const struct fundus_synth_size **table)
{
	/* The sizes are the first member of each camera, so hand out a copy table. */
	static const struct fundus_synth_size sizes[NCAMERAS] = {
	    {4288, 2848, "Kowa VX-10 (IDRiD)"},
	    {3888, 2592, "10-megapixel camera back"},
	    {2592, 1728, "4.5-megapixel camera back"},
	    {2048, 1536, "3-megapixel CCD camera"},
	    {1500, 1152, "Zeiss FF450plus (DIARETDB1)"},
	    {1444, 1444, "square sensor"},
	    {768, 576, "PAL video camera"},
	    {640, 480, "VGA camera"},
	    {600, 400, "small 3:2 copy"},
	    {565, 584, "Canon CR5 (DRIVE)"},
	};
	*table = sizes;
	return NCAMERAS;
}

void fundus_synth_params_default(struct fundus_synth_params *p)
{
	memset(p, 0, sizeof *p);
	p->framing = FUNDUS_SYNTH_FRAMING_RANDOM;
	p->lesions = 0.3;
	p->poor = 0.25;
	p->pigment = -1;
	p->cast = -1;
	p->vignetting = -1;
	p->blur = -1;
	p->noise = -1;
}

/* Checks that v is in [lo, hi], or negative when random is allowed. */
static int check_range(const char *name, double v, double lo, double hi, int random_ok)
{
	if (isnan(v) || v > hi || (v < lo && !(random_ok && v < 0)))
		return fundus_error_set(FUNDUS_EINVAL, "%s must be from %g to %g%s, not %g", name,
					lo, hi, random_ok ? " (or negative for random)" : "", v);
	return 0;
}

int fundus_synth_params_check(const struct fundus_synth_params *p)
{
	int rc;

	if ((p->width == 0) != (p->height == 0))
		return fundus_error_set(FUNDUS_EINVAL,
					"width and height must both be 0 (random) or both set");
	if (p->width != 0 &&
	    (p->width < 32 || p->width > 16384 || p->height < 32 || p->height > 16384))
		return fundus_error_set(FUNDUS_EINVAL,
					"image size %d x %d is out of range (32 to 16384 each)",
					p->width, p->height);
	if (p->max_width < 0)
		return fundus_error_set(FUNDUS_EINVAL, "max_width must be 0 or more, not %d",
					p->max_width);
	if (p->width == 0 && p->max_width > 0 && p->max_width < 565)
		return fundus_error_set(
		    FUNDUS_EINVAL, "no camera size is at most %d pixels wide (the smallest is 565)",
		    p->max_width);
	if (p->eye != 0 && p->eye != 'L' && p->eye != 'R')
		return fundus_error_set(FUNDUS_EINVAL, "eye must be 'L', 'R' or 0, not %d", p->eye);
	if ((int)p->framing < 0 || p->framing > FUNDUS_SYNTH_FRAMING_POLE)
		return fundus_error_set(FUNDUS_EINVAL, "framing %d is not known", (int)p->framing);
	if ((rc = check_range("lesions", p->lesions, 0, 1, 0)) < 0 ||
	    (rc = check_range("poor", p->poor, 0, 1, 0)) < 0 ||
	    (rc = check_range("pigment", p->pigment, 0, 1, 1)) < 0 ||
	    (rc = check_range("cast", p->cast, 0, 1, 1)) < 0 ||
	    (rc = check_range("vignetting", p->vignetting, 0, 1, 1)) < 0 ||
	    (rc = check_range("blur", p->blur, 0, 0.02, 1)) < 0 ||
	    (rc = check_range("noise", p->noise, 0, 20, 1)) < 0)
		return rc;
	return 0;
}

const char *fundus_synth_framing_name(enum fundus_synth_framing f)
{
	switch (f) {
	case FUNDUS_SYNTH_FRAMING_RANDOM: return "random";
	case FUNDUS_SYNTH_FRAMING_MACULA: return "macula";
	case FUNDUS_SYNTH_FRAMING_DISC: return "disc";
	case FUNDUS_SYNTH_FRAMING_POLE: return "pole";
	}
	return "unknown";
}

const char *fundus_synth_quality_name(enum fundus_synth_quality q)
{
	switch (q) {
	case FUNDUS_SYNTH_QUALITY_GOOD: return "good";
	case FUNDUS_SYNTH_QUALITY_DIM: return "dim";
	case FUNDUS_SYNTH_QUALITY_DARK: return "dark";
	case FUNDUS_SYNTH_QUALITY_HAZY: return "hazy";
	case FUNDUS_SYNTH_QUALITY_BRIGHT: return "bright";
	case FUNDUS_SYNTH_QUALITY_BLURRED: return "blurred";
	}
	return "unknown";
}

uint64_t fundus_synth_seed(uint64_t seed, uint64_t index)
{
	/* Two rounds of mixing, so that (s, i) and (s + 1, i - 1) are unrelated. */
	return fundus__mix64(fundus__mix64(seed ^ 0x5eed5eed5eed5eedULL) +
			     index * 0x9e3779b97f4a7c15ULL);
}

int fundus__scene_add_seg(struct fundus__scene *s, const struct fundus__seg *seg)
{
	/* Checked on every call: the array grows by doubling, past the cap. */
	if (s->nsegs >= MAX_SEGS)
		return FUNDUS_ELIMIT;
	if (s->nsegs == s->capsegs) {
		size_t cap = s->capsegs ? 2 * s->capsegs : 4096, bytes;
		void *p;

		if (fundus_size_mul(&bytes, cap, sizeof *s->segs) < 0)
			return FUNDUS_EOVERFLOW;
		p = fundus_realloc(s->segs, bytes);
		if (p == NULL)
			return FUNDUS_ENOMEM;
		s->segs = p;
		s->capsegs = cap;
	}
	s->segs[s->nsegs++] = *seg;
	return 0;
}

int fundus__scene_add_blob(struct fundus__scene *s, const struct fundus__blob *b)
{
	if (s->nblobs >= MAX_BLOBS)
		return FUNDUS_ELIMIT;
	if (s->nblobs == s->capblobs) {
		size_t cap = s->capblobs ? 2 * s->capblobs : 256, bytes;
		void *p;

		if (fundus_size_mul(&bytes, cap, sizeof *s->blobs) < 0)
			return FUNDUS_EOVERFLOW;
		p = fundus_realloc(s->blobs, bytes);
		if (p == NULL)
			return FUNDUS_ENOMEM;
		s->blobs = p;
		s->capblobs = cap;
	}
	s->blobs[s->nblobs++] = *b;
	return 0;
}

void fundus__scene_free(struct fundus__scene *s)
{
	fundus_free(s->segs);
	fundus_free(s->blobs);
	s->segs = NULL;
	s->blobs = NULL;
}

/* A normal deviate with mean m and deviation sd, clamped to [lo, hi]. */
static double normal(struct fundus_rng *rng, double m, double sd, double lo, double hi)
{
	return fundus__clamp(m + sd * fundus__gauss(rng), lo, hi);
}

static double uni(struct fundus_rng *rng, double lo, double hi)
{
	return fundus_rng_range(rng, lo, hi);
}

double fundus__disc_rho(const struct fundus__scene *s, double x, double y, double *ca, double *sa)
{
	double qx = (x - s->dx) / s->drx, qy = (y - s->dy) / s->dry;
	double r = sqrt(qx * qx + qy * qy), c, sn, ck, sk, h = 1;

	if (r == 0) {
		if (ca)
			*ca = 1, *sa = 0;
		return 0;
	}
	/* cos and sin of k times the angle by the angle-addition recurrence. */
	c = qx / r;
	sn = qy / r;
	ck = c;
	sk = sn;
	for (int k = 0; k < 4; k++) {
		double nc = ck * c - sk * sn, ns = sk * c + ck * sn;

		ck = nc;
		sk = ns;
		if (k < 3)
			h += s->dh_a[k] * (ck * s->dh_c[k] - sk * s->dh_s[k]);
	}
	if (ca) {
		*ca = c;
		*sa = sn;
	}
	return r / h;
}

/* The tight box of the pixels whose centres lie inside the rim. */
static void disc_box(struct fundus__scene *s)
{
	double hmax = 1 + fabs(s->dh_a[0]) + fabs(s->dh_a[1]) + fabs(s->dh_a[2]);
	int x0 = (int)floor(s->dx - s->drx * hmax) - 2, x1 = (int)ceil(s->dx + s->drx * hmax) + 2;
	int y0 = (int)floor(s->dy - s->dry * hmax) - 2, y1 = (int)ceil(s->dy + s->dry * hmax) + 2;
	int bx0 = s->w, by0 = s->h, bx1 = -1, by1 = -1;

	x0 = x0 < 0 ? 0 : x0;
	y0 = y0 < 0 ? 0 : y0;
	x1 = x1 > s->w - 1 ? s->w - 1 : x1;
	y1 = y1 > s->h - 1 ? s->h - 1 : y1;
	for (int y = y0; y <= y1; y++)
		for (int x = x0; x <= x1; x++)
			if (fundus__disc_rho(s, x + 0.5, y + 0.5, NULL, NULL) < 1.0) {
				bx0 = x < bx0 ? x : bx0;
				bx1 = x > bx1 ? x : bx1;
				by0 = y < by0 ? y : by0;
				by1 = y > by1 ? y : by1;
			}
	if (bx1 < 0) {
		/* A disc smaller than a pixel (absurd sizes): the pixel under its centre. */
		bx0 = bx1 = (int)fundus__clamp(floor(s->dx), 0, s->w - 1);
		by0 = by1 = (int)fundus__clamp(floor(s->dy), 0, s->h - 1);
	}
	s->disc_box.x0 = bx0;
	s->disc_box.y0 = by0;
	s->disc_box.x1 = bx1 + 1;
	s->disc_box.y1 = by1 + 1;
}

/* Picks the image size and the field of view. */
static void plan_camera(struct fundus__scene *s, const struct fundus_synth_params *p,
			struct fundus_rng *rng)
{
	const struct camera *cam = NULL;
	double d, mind;

	if (p->width > 0) {
		s->w = p->width;
		s->h = p->height;
	} else {
		size_t n = 0, pick;
		const struct camera *ok[NCAMERAS];

		for (size_t i = 0; i < NCAMERAS; i++)
			if (p->max_width == 0 || cameras[i].size.width <= p->max_width)
				ok[n++] = &cameras[i];
		pick = (size_t)fundus_rng_below(rng, n);
		cam = ok[pick];
		s->w = cam->size.width;
		s->h = cam->size.height;
	}
	mind = s->w < s->h ? s->w : s->h;
	if (cam) {
		d = s->h * uni(rng, cam->dmin, cam->dmax);
	} else if ((double)s->w / s->h >= 1.25) {
		/* Wide frames: a circle cut at top and bottom, as most cameras give. */
		d = s->h * uni(rng, 1.05, 1.22);
	} else {
		d = mind * uni(rng, 0.88, 0.97);
	}
	if (d > 0.97 * s->w)
		d = 0.97 * s->w;
	s->R = d / 2;
	/* The field sits near the middle; some cameras put it a little to one side. */
	{
		double slack = (s->w - d) / 2;
		double jx = uni(rng, -1, 1) * fmin(0.05 * s->w, slack * 0.8);

		s->cx = s->w / 2.0 + jx;
		s->cy = s->h / 2.0 + uni(rng, -0.01, 0.01) * s->h;
	}
	s->fov_edge = s->R * uni(rng, 0.002, 0.006) + 0.6;
	s->chroma = uni(rng, -0.002, 0.002);
	s->notch = fundus_rng_uniform(rng) < (cam ? cam->notch : 0.4);
	s->notch_ang = cam ? cam->notch_ang : (fundus_rng_uniform(rng) < 0.5 ? -0.75 : 0.75);
	s->notch_ang += uni(rng, -0.1, 0.1);
	s->notch_half = s->R * uni(rng, 0.012, 0.025);
	s->notch_out = s->R * uni(rng, 0.01, 0.025);
	/* A notch on a cut circle must fall inside the frame. */
	if (fabs(s->cy + s->R * dm_sin(s->notch_ang)) > s->h - 2 ||
	    s->cy + s->R * dm_sin(s->notch_ang) < 2)
		s->notch = 0;
}

/* Whether the whole disc, with a margin, lies inside the field and the frame. */
static int disc_fits(const struct fundus__scene *s)
{
	double ox = s->dx - s->cx, oy = s->dy - s->cy, margin = 0.69 * s->unit;

	return sqrt(ox * ox + oy * oy) + margin < 0.93 * s->R && s->dy - margin > 1 &&
	       s->dy + margin < s->h - 1 && s->dx - margin > 1 && s->dx + margin < s->w - 1;
}

/* Places disc and fovea for the framing, keeping the whole disc in the field. */
static void plan_anatomy(struct fundus__scene *s, const struct fundus_synth_params *p,
			 struct fundus_rng *rng)
{
	double dist, alpha, tdir, jit;
	double u = fundus_rng_uniform(rng);

	s->eye = p->eye ? p->eye : (fundus_rng_uniform(rng) < 0.5 ? 'L' : 'R');
	if (p->framing != FUNDUS_SYNTH_FRAMING_RANDOM)
		s->framing = p->framing;
	else
		s->framing = u < 0.55   ? FUNDUS_SYNTH_FRAMING_MACULA
			     : u < 0.75 ? FUNDUS_SYNTH_FRAMING_DISC
					: FUNDUS_SYNTH_FRAMING_POLE;
	s->unit = 2 * s->R * normal(rng, 0.146, 0.012, 0.12, 0.175);
	s->drx = s->unit / 2;
	s->dry = s->drx * uni(rng, 1.02, 1.12);
	for (int k = 0; k < 3; k++) {
		s->dh_a[k] = uni(rng, -0.025, 0.025) / (k + 1);
		s->dh_p[k] = uni(rng, 0, 2 * PI);
		s->dh_c[k] = dm_cos(s->dh_p[k]);
		s->dh_s[k] = dm_sin(s->dh_p[k]);
	}
	/* In a right eye the disc is right of the fovea, so the fovea lies to the left. */
	tdir = s->eye == 'R' ? -1 : 1;
	alpha = uni(rng, 0.04, 0.2);
	alpha += normal(rng, 0, 0.06, -0.15, 0.15);
	s->ux = tdir * dm_cos(alpha);
	s->uy = dm_sin(alpha);
	dist = s->unit * uni(rng, 2.2, 2.8);
	jit = s->R * (s->framing == FUNDUS_SYNTH_FRAMING_DISC ? 0.06 : 0.05);
	/*
	 * Aim the camera with some jitter; when the disc would not lie wholly
	 * inside the field and the frame, aim again with less jitter and, after a
	 * while, a fovea a little closer to the disc; at the very end, slide the
	 * disc toward the centre of the field until it fits.
	 */
	for (int attempt = 0;; attempt++) {
		double k = attempt < 20 ? 1 : attempt < 40 ? (40 - attempt) / 20.0 : 0;
		double jx = k * normal(rng, 0, jit, -3 * jit, 3 * jit);
		double jy = k * normal(rng, 0, jit, -3 * jit, 3 * jit);
		double d =
		    attempt < 40 ? dist : fmax(2.0 * s->unit, dist * (1 - 0.01 * (attempt - 40)));
		double ox, oy;

		switch (s->framing) {
		case FUNDUS_SYNTH_FRAMING_DISC:
			s->dx = s->cx + jx;
			s->dy = s->cy + jy;
			break;
		case FUNDUS_SYNTH_FRAMING_POLE:
			s->dx = s->cx + jx - 0.5 * d * s->ux;
			s->dy = s->cy + jy - 0.5 * d * s->uy;
			break;
		default:
			s->dx = s->cx + jx - d * s->ux;
			s->dy = s->cy + jy - d * s->uy;
			break;
		}
		if (disc_fits(s))
			break;
		if (attempt >= 80) {
			ox = s->dx - s->cx;
			oy = s->dy - s->cy;
			for (int i = 0; i < 100 && !disc_fits(s); i++) {
				s->dx = s->cx + ox * (1 - 0.01 * i);
				s->dy = s->cy + oy * (1 - 0.01 * i);
			}
			break;
		}
		dist = d;
	}
	s->fx = s->dx + dist * s->ux;
	s->fy = s->dy + dist * s->uy;
}

/* Picks the quality of the photograph and the camera's response. */
static void plan_exposure(struct fundus__scene *s, const struct fundus_synth_params *p,
			  struct fundus_rng *rng)
{
	double q = fundus_rng_uniform(rng), k = fundus_rng_uniform(rng), blur;

	s->quality = FUNDUS_SYNTH_QUALITY_GOOD;
	if (q < p->poor)
		s->quality = k < 0.33   ? FUNDUS_SYNTH_QUALITY_DIM
			     : k < 0.45 ? FUNDUS_SYNTH_QUALITY_DARK
			     : k < 0.65 ? FUNDUS_SYNTH_QUALITY_HAZY
			     : k < 0.82 ? FUNDUS_SYNTH_QUALITY_BRIGHT
					: FUNDUS_SYNTH_QUALITY_BLURRED;
	switch (s->quality) {
	case FUNDUS_SYNTH_QUALITY_DIM: s->gain = (float)uni(rng, 0.42, 0.62); break;
	case FUNDUS_SYNTH_QUALITY_DARK: s->gain = (float)uni(rng, 0.2, 0.34); break;
	case FUNDUS_SYNTH_QUALITY_HAZY: s->gain = (float)uni(rng, 0.6, 0.95); break;
	case FUNDUS_SYNTH_QUALITY_BRIGHT: s->gain = (float)uni(rng, 1.55, 2.3); break;
	default: s->gain = (float)normal(rng, 1.0, 0.14, 0.72, 1.35); break;
	}
	/* Haze: a veil of scattered light that lifts the blacks and flattens contrast. */
	{
		double h = s->quality == FUNDUS_SYNTH_QUALITY_HAZY ? uni(rng, 0.12, 0.3)
								   : uni(rng, 0, 0.035);
		double warm = uni(rng, 0, 1);

		s->haze[0] = (float)(h * (0.75 + 0.2 * warm));
		s->haze[1] = (float)(h * (0.5 + 0.1 * warm));
		s->haze[2] = (float)(h * (0.3 - 0.1 * warm));
	}
	blur = s->quality == FUNDUS_SYNTH_QUALITY_BLURRED ? uni(rng, 0.006, 0.012)
	       : s->quality == FUNDUS_SYNTH_QUALITY_HAZY  ? uni(rng, 0.003, 0.005)
							  : uni(rng, 0.0012, 0.0035);
	if (p->blur >= 0)
		blur = p->blur;
	s->blur = (float)(blur * s->R + 0.45);
	{
		double v = uni(rng, 0.25, 0.7);

		if (p->vignetting >= 0)
			v = p->vignetting * 0.7;
		s->vig[0] = (float)v;
		s->vig[1] = (float)fmin(0.95, v * uni(rng, 1.0, 1.25));
		s->vig[2] = (float)fmin(0.95, v * uni(rng, 1.0, 1.35));
		s->vig_pow = (float)uni(rng, 2.0, 4.0);
	}
	s->hot = (float)uni(rng, 0, 0.25);
	s->hot_x = (float)(s->cx + s->R * uni(rng, -0.3, 0.3));
	s->hot_y = (float)(s->cy + s->R * uni(rng, -0.3, 0.3));
	s->hot_sigma = (float)(s->R * uni(rng, 0.3, 0.7));
	s->uneven = (float)uni(rng, 0.03, 0.15);
	/* Camera colour cast: a tint toward yellow, red, green or pink, or none. */
	{
		static const float tints[4][3] = {{1.0f, 1.12f, 0.6f},
						  {1.1f, 0.88f, 0.85f},
						  {0.92f, 1.15f, 1.0f},
						  {1.0f, 0.92f, 1.6f}};
		int t = (int)fundus_rng_below(rng, 4);
		double st = uni(rng, 0, 1);

		st = p->cast >= 0 ? p->cast : st * st;
		for (int c = 0; c < 3; c++)
			s->cast[c] = (float)(1 + st * (tints[t][c] - 1));
	}
	s->ring = (float)(uni(rng, 0, 1) < 0.5 ? uni(rng, 0.02, 0.12) : 0);
	s->ring_w = (float)(s->R * uni(rng, 0.01, 0.03));
	{
		double gy = uni(rng, 0, 1);

		s->ring_col[0] = (float)(0.8 - 0.2 * gy);
		s->ring_col[1] = (float)(0.5 + 0.3 * gy);
		s->ring_col[2] = (float)(0.15 + 0.1 * gy);
	}
	/* A crescent of glare (pupil too small, eye off axis) at one side, sometimes. */
	s->crescent = (float)(uni(rng, 0, 1) < 0.3 ? uni(rng, 0.15, 0.8) : 0);
	s->edge_dark = (float)uni(rng, 0.05, 0.45);
	s->crescent_ang = (float)uni(rng, 0, 2 * PI);
	s->crescent_w = (float)uni(rng, 0.08, 0.25);
	{
		double yel = uni(rng, 0, 1);

		s->crescent_col[0] = (float)(0.9);
		s->crescent_col[1] = (float)(0.6 + 0.3 * yel);
		s->crescent_col[2] = (float)(0.2 + 0.3 * (1 - yel));
	}
	s->flare = (float)uni(rng, 0, 0.06);
	s->flare_col[0] = 0.6f;
	s->flare_col[1] = 0.3f;
	s->flare_col[2] = 0.12f;
	s->black = (float)uni(rng, 0, 9);
	s->noise = (float)(p->noise >= 0 ? p->noise : uni(rng, 1.0, 4.0));
	s->tone_k = (float)uni(rng, 1.45, 1.75);
	{
		double g = uni(rng, 0.85, 1.2);

		for (int c = 0; c < 3; c++)
			s->tone_gamma[c] = (float)(g * uni(rng, 0.95, 1.05));
	}
}

/* The colours of the fundus, the disc and the vessels. */
static void plan_colours(struct fundus__scene *s, const struct fundus_synth_params *p,
			 struct fundus_rng *rng)
{
	/* Fair (pink, Northern Europe) to orange (most) to dark (brown-red). */
	static const float fair[3] = {1.0f, 0.38f, 0.15f}, orange[3] = {0.92f, 0.26f, 0.03f},
			   dark[3] = {0.68f, 0.16f, 0.012f};
	double pg = p->pigment >= 0 ? p->pigment : normal(rng, 0.55, 0.25, 0, 1);
	double gj = dm_exp(normal(rng, 0, 0.12, -0.3, 0.3)),
	       bj = dm_exp(normal(rng, 0, 0.4, -1.2, 1));
	double rj = dm_exp(normal(rng, 0, 0.06, -0.15, 0.15));
	double contrast, f;

	for (int c = 0; c < 3; c++)
		s->base[c] =
		    (float)(pg < 0.5 ? fair[c] + pg / 0.5 * (orange[c] - fair[c])
				     : orange[c] + (pg - 0.5) / 0.5 * (dark[c] - orange[c]));
	s->base[0] *= (float)rj;
	s->base[1] *= (float)gj;
	s->base[2] *= (float)bj;
	s->var_amp[0] = (float)uni(rng, 0.04, 0.12);
	s->var_amp[1] = (float)uni(rng, 0.06, 0.18);
	s->var_amp[2] = (float)uni(rng, 0.1, 0.3);
	s->mottle = (float)uni(rng, 0.03, 0.09);
	s->blotch = (float)uni(rng, 0.03, 0.09);
	s->grain = (float)(s->quality == FUNDUS_SYNTH_QUALITY_HAZY ? uni(rng, 0.01, 0.025)
								   : uni(rng, 0.02, 0.06));
	f = (1 - pg) * (1 - pg);
	{
		double strength = uni(rng, 0, 1), often = uni(rng, 0, 1) < 0.4 ? 1 : 0.2;

		s->choroid = (float)(f * strength * often);
	}
	s->choroid_scale = (float)uni(rng, 0.7, 1.4);
	s->nfl = (float)uni(rng, 0, 0.08);
	/* The macula is darker, mostly in green and blue (macular pigment). */
	{
		double m = uni(rng, 0.25, 0.5);

		s->mac_depth[0] = (float)(m * 0.6);
		s->mac_depth[1] = (float)(m * 1.0);
		s->mac_depth[2] = (float)(m * 1.2);
		s->mac_sigma = (float)(s->unit * uni(rng, 0.7, 1.1));
		m = uni(rng, 0.05, 0.25);
		s->fov_depth[0] = (float)(m * 0.7);
		s->fov_depth[1] = (float)m;
		s->fov_depth[2] = (float)m;
		s->fov_sigma = (float)(s->unit * uni(rng, 0.12, 0.2));
		s->fov_reflex = (float)(uni(rng, 0, 1) < 0.3 ? uni(rng, 0.03, 0.15) : 0);
	}
	s->glow = (float)uni(rng, 0.03, 0.15);
	s->glow_sigma = (float)(s->unit * uni(rng, 0.3, 0.5));

	/* The disc: a much brighter rim, a paler cup; dim discs in poor photographs. */
	contrast = s->quality == FUNDUS_SYNTH_QUALITY_DIM    ? uni(rng, 0.3, 0.55)
		   : s->quality == FUNDUS_SYNTH_QUALITY_HAZY ? uni(rng, 0.5, 0.8)
							     : uni(rng, 0.6, 1.05);
	if (uni(rng, 0, 1) < 0.1)
		contrast *= 0.6; /* some healthy eyes just have a dull disc */
	{
		double rim[3], cup[3];

		/* One draw per statement: the order of two calls in one expression is
		 * unspecified in C, and compilers differ. */
		rim[0] = s->base[0] * uni(rng, 1.4, 1.9);
		rim[0] += uni(rng, 0.15, 0.35);
		rim[1] = s->base[1] * uni(rng, 1.4, 2.0);
		rim[1] += uni(rng, 0.04, 0.14);
		rim[2] = s->base[2] * uni(rng, 1.3, 2.2);
		rim[2] += uni(rng, 0.0, 0.03);
		cup[0] = rim[0] * uni(rng, 1.05, 1.25);
		cup[1] = rim[1] * uni(rng, 1.5, 2.0);
		cup[2] = rim[2] * uni(rng, 1.5, 3.0);
		cup[2] += uni(rng, 0.01, 0.06);
		for (int c = 0; c < 3; c++) {
			s->rim_col[c] = (float)(s->base[c] + contrast * (rim[c] - s->base[c]));
			s->cup_col[c] = (float)(s->base[c] + contrast * (cup[c] - s->base[c]));
		}
	}
	s->disc_tex = (float)uni(rng, 0.02, 0.05);
	s->disc_edge = fmax(uni(rng, 0.035, 0.1), 1.5 * s->blur / s->drx);
	{
		double cdr = uni(rng, 0.25, 0.7), off = uni(rng, 0.05, 0.3) * s->drx;

		s->cup_rx = cdr * s->drx;
		s->cup_ry = s->cup_rx * uni(rng, 1.0, 1.15);
		s->cup_x = s->dx + off * s->ux;
		s->cup_y = s->dy + off * s->uy + uni(rng, -0.05, 0.05) * s->dry;
		s->cup_edge = uni(rng, 0.12, 0.35);
	}
	/* Peripapillary atrophy: a pale crescent on the temporal side. */
	s->ppa = uni(rng, 0, 1) < 0.3;
	s->ppa_w = uni(rng, 0.12, 0.45);
	s->ppa_ang = dm_atan2(s->uy, s->ux) + uni(rng, -0.5, 0.5);
	s->ppa_c = dm_cos(s->ppa_ang);
	s->ppa_s = dm_sin(s->ppa_ang);
	s->ppa_pow = uni(rng, 2.0, 6.0);
	for (int c = 0; c < 3; c++)
		s->ppa_col[c] =
		    (float)(s->base[c] + uni(rng, 0.35, 0.7) * (s->rim_col[c] - s->base[c]));
	s->ppa_col[2] += (float)uni(rng, 0, 0.05);

	/* Vessels absorb most in green; veins more than arteries. */
	{
		double v = uni(rng, 0.85, 1.15), a = uni(rng, 0.8, 1.15);

		s->vein_abs[0] = (float)(0.45 * v);
		s->vein_abs[1] = (float)fmin(0.85, 0.72 * v);
		s->vein_abs[2] = (float)fmin(0.85, 0.62 * v);
		s->art_abs[0] = (float)(0.12 * a);
		s->art_abs[1] = (float)(0.38 * a);
		s->art_abs[2] = (float)(0.33 * a);
		s->haem_abs[0] = (float)(0.38 * v);
		s->haem_abs[1] = (float)fmin(0.85, 0.7 * v);
		s->haem_abs[2] = (float)fmin(0.85, 0.6 * v);
		for (int c = 0; c < 3; c++) {
			s->reflex_col[c] = (float)(s->base[c] * 0.5 + 0.12);
			s->art_col[c] = s->base[c] * (1 - s->art_abs[c]);
			s->vein_col[c] = s->base[c] * (1 - s->vein_abs[c]);
			s->haem_col[c] = s->base[c] * (1 - s->haem_abs[c]);
		}
	}
}

int fundus__scene_plan(struct fundus__scene *s, const struct fundus_synth_params *p, uint64_t seed)
{
	struct fundus_rng root, rng;
	int rc;

	memset(s, 0, sizeof *s);
	fundus_rng_seed(&root, seed);
	/* Separate streams per stage, so that a change in one stage leaves the others. */
	rng = fundus_rng_split(&root, 1);
	plan_camera(s, p, &rng);
	rng = fundus_rng_split(&root, 2);
	plan_anatomy(s, p, &rng);
	rng = fundus_rng_split(&root, 3);
	plan_exposure(s, p, &rng);
	rng = fundus_rng_split(&root, 4);
	plan_colours(s, p, &rng);
	rng = fundus_rng_split(&root, 5);
	for (int i = 0; i < 4; i++)
		fundus__noise_init(&s->nz[i], &rng);
	s->pixel_seed = fundus_rng_u64(&rng);
	disc_box(s);
	{
		/* Everything the disc shading can reach: rim, atrophy, and a margin. */
		double reach =
		    1 + s->ppa_w + 0.2 + fabs(s->dh_a[0]) + fabs(s->dh_a[1]) + fabs(s->dh_a[2]);

		s->disc_x0 = (int)fundus__clamp(floor(s->dx - reach * s->drx), 0, s->w);
		s->disc_x1 = (int)fundus__clamp(ceil(s->dx + reach * s->drx), 0, s->w);
		s->disc_y0 = (int)fundus__clamp(floor(s->dy - reach * s->dry), 0, s->h);
		s->disc_y1 = (int)fundus__clamp(ceil(s->dy + reach * s->dry), 0, s->h);
	}
	rng = fundus_rng_split(&root, 6);
	rc = fundus__vessels_plan(s, &rng, uni(&rng, 0.6, 1.5));
	if (rc < 0)
		return rc;
	rng = fundus_rng_split(&root, 7);
	if (fundus_rng_uniform(&rng) < p->lesions) {
		rc = fundus__lesions_plan(s, &rng);
		if (rc < 0)
			return rc;
	}
	return 0;
}
