/*
 * Lesions: what diabetic retinopathy and age-related macular degeneration
 * add to a fundus. Hard exudates are bright yellow, sharp-edged and come in
 * clumps and rings around the macula; they are sometimes brighter than the
 * disc, which is what keeps a detector from learning "the brightest thing
 * is the disc". Haemorrhages are dark red dots, blots and flames;
 * microaneurysms tiny red dots; cotton-wool spots soft pale patches near
 * the arcades; drusen small soft yellow spots at the macula.
 */
#include <math.h>

#include "dmath.h"
#include "synth_int.h"

#define PI 3.14159265358979323846

struct placer {
	struct fundus__scene *s;
	struct fundus_rng *rng;
	double U;
};

/* How a kind of spot looks: the ranges add() draws from. */
struct look {
	double aspect_lo, aspect_hi; /* ry / rx */
	double edge;                 /* softness of the edge, fraction of the radius */
	double amp_lo, amp_hi;       /* density at the centre */
	double dome;                 /* 0 flat to 1 fading toward the edge */
	double wamp_lo, wamp_hi;     /* irregularity of the edge */
	int layer;
};

static const struct look microaneurysm = {1, 1, 0.25, 0.6, 0.95, 0, 0.05, 0.05, FUNDUS__L_HAEM};
static const struct look blot = {0.7, 1, 0.25, 0.55, 0.95, 0.3, 0.15, 0.15, FUNDUS__L_HAEM};
static const struct look flame = {0.22, 0.4, 0.5, 0.5, 0.85, 0.5, 0.1, 0.1, FUNDUS__L_HAEM};
static const struct look exudate = {0.6, 1, 0.25, 0.6, 1, 0.3, 0.1, 0.3, FUNDUS__L_EXUDATE};
static const struct look cotton = {0.5, 0.9, 0.7, 0.35, 0.7, 1, 0.25, 0.25, FUNDUS__L_COTTON};
static const struct look druse = {0.8, 1, 0.5, 0.4, 0.85, 1, 0.1, 0.1, FUNDUS__L_DRUSEN};

/*
 * Adds a spot of radius rx at (x, y), turned by ang (NAN: at random), if its
 * centre is inside the field; returns 1 when added. The random draws come
 * one per statement, in a fixed order: C leaves the order of the arguments
 * of a call unspecified, and compilers differ.
 */
static int add(struct placer *pl, double x, double y, double rx, double ang, const struct look *k,
	       int *rc)
{
	struct fundus__scene *s = pl->s;
	struct fundus__blob b;
	double ex = x - s->cx, ey = y - s->cy;
	double ry = rx * fundus_rng_range(pl->rng, k->aspect_lo, k->aspect_hi);
	double amp = fundus_rng_range(pl->rng, k->amp_lo, k->amp_hi);
	double wamp = fundus_rng_range(pl->rng, k->wamp_lo, k->wamp_hi);
	double edge = k->edge, dome = k->dome;
	int layer = k->layer;

	if (isnan(ang))
		ang = fundus_rng_range(pl->rng, 0, PI);
	if (*rc < 0 || ex * ex + ey * ey > 0.96 * 0.96 * s->R * s->R || rx < 0.2 || ry < 0.2)
		return 0;
	b.x = (float)x;
	b.y = (float)y;
	b.rx = (float)rx;
	b.ry = (float)ry;
	b.ca = (float)dm_cos(ang);
	b.sa = (float)dm_sin(ang);
	/* The edge is never sharper than the optics allow. */
	b.edge = (float)fmax(edge, s->blur / fmin(rx, ry));
	b.amp = (float)amp;
	b.dome = (float)dome;
	for (int w = 0; w < 2; w++) {
		double f = fundus_rng_range(pl->rng, 1.5, 4.5),
		       a = fundus_rng_range(pl->rng, 0, 2 * PI);

		b.wk[w][0] = (float)(f * dm_cos(a));
		b.wk[w][1] = (float)(f * dm_sin(a));
		b.wk[w][2] = (float)fundus_rng_range(pl->rng, 0, 2 * PI);
	}
	b.wamp = (float)wamp;
	b.layer = (uint8_t)layer;
	*rc = fundus__scene_add_blob(s, &b);
	if (*rc == FUNDUS_ELIMIT)
		*rc = 0;
	return *rc == 0;
}

/* A point near (x, y): Gaussian offsets of deviation sd. */
static void near(struct placer *pl, double x, double y, double sd, double *ox, double *oy)
{
	*ox = x + sd * fundus__gauss(pl->rng);
	*oy = y + sd * fundus__gauss(pl->rng);
}

/* A size between lo and hi, more often small (log-uniform). */
static double logsize(struct placer *pl, double lo, double hi)
{
	return lo * dm_exp(fundus_rng_uniform(pl->rng) * dm_log(hi / lo));
}

static int diabetic(struct placer *pl)
{
	struct fundus__scene *s = pl->s;
	struct fundus_rng *rng = pl->rng;
	double U = pl->U, sev = fundus_rng_range(rng, 0.15, 1), x, y;
	int rc = 0, n;

	/* Microaneurysms: tiny sharp red dots around the posterior pole. */
	n = 2 + (int)(sev * fundus_rng_range(rng, 5, 30));
	for (int i = 0; i < n; i++) {
		double r = U * fundus_rng_range(rng, 0.006, 0.014);

		near(pl, s->fx, s->fy, 1.3 * U, &x, &y);
		s->n_microaneurysms += add(pl, x, y, r, 0, &microaneurysm, &rc);
	}
	/* Dot and blot haemorrhages. */
	n = (int)(sev * fundus_rng_range(rng, 0, 16));
	for (int i = 0; i < n; i++) {
		double r = logsize(pl, 0.02 * U, 0.14 * U);

		near(pl, s->fx, s->fy, 1.8 * U, &x, &y);
		s->n_haemorrhages += add(pl, x, y, r, NAN, &blot, &rc);
	}
	/* Flame haemorrhages lie along the nerve fibres, which run toward the disc. */
	n = fundus_rng_uniform(rng) < sev ? (int)fundus_rng_below(rng, 5) : 0;
	for (int i = 0; i < n; i++) {
		double a = fundus_rng_range(rng, 0, 2 * PI),
		       d = U * fundus_rng_range(rng, 0.7, 2.2);
		double len = U * fundus_rng_range(rng, 0.08, 0.22);

		x = s->dx + d * dm_cos(a);
		y = s->dy + d * dm_sin(a);
		s->n_haemorrhages += add(pl, x, y, len, a, &flame, &rc);
	}
	/* Hard exudates, in clumps and circinate rings around the macula. */
	if (fundus_rng_uniform(rng) < 0.75) {
		int clusters = 1 + (int)fundus_rng_below(rng, 3);

		for (int c = 0; c < clusters; c++) {
			double a = fundus_rng_range(rng, 0, 2 * PI);
			double d = U * fundus_rng_range(rng, 0.2, 2.3);
			double cx = s->fx + d * dm_cos(a), cy = s->fy + d * dm_sin(a);
			int ring = fundus_rng_uniform(rng) < 0.35;
			/* In severe eyes, a mass: spots packed until they run together. */
			int mass = !ring && fundus_rng_uniform(rng) < 0.4 * sev;
			double ringr = U * fundus_rng_range(rng, 0.3, 0.8);
			double spread = U * (mass ? fundus_rng_range(rng, 0.12, 0.3)
						  : fundus_rng_range(rng, 0.1, 0.45));
			int spots = mass ? 50 + (int)fundus_rng_below(rng, 100)
					 : 4 + (int)(sev * fundus_rng_range(rng, 5, 70));

			for (int i = 0; i < spots; i++) {
				double r = mass ? logsize(pl, 0.01 * U, 0.055 * U)
						: logsize(pl, 0.006 * U, 0.04 * U);

				if (fundus_rng_uniform(rng) < 0.03)
					r = U * fundus_rng_range(rng, 0.05, 0.12); /* a plaque */
				if (ring) {
					double t = fundus_rng_range(rng, 0, 2 * PI);
					double rr = ringr * (1 + 0.12 * fundus__gauss(rng));

					x = cx + rr * dm_cos(t);
					y = cy + rr * dm_sin(t);
				} else {
					near(pl, cx, cy, spread, &x, &y);
				}
				s->n_exudates += add(pl, x, y, r, NAN, &exudate, &rc);
			}
		}
	}
	/* Cotton-wool spots: soft, pale, near the arcades. */
	if (fundus_rng_uniform(rng) < 0.4 * sev) {
		n = 1 + (int)fundus_rng_below(rng, 4);
		for (int i = 0; i < n; i++) {
			double side = fundus_rng_uniform(rng) < 0.5 ? 1 : -1;
			double a = dm_atan2(s->uy, s->ux) + side * fundus_rng_range(rng, 0.5, 1.4);
			double d = U * fundus_rng_range(rng, 0.9, 2.4),
			       r = U * fundus_rng_range(rng, 0.07, 0.2);

			x = s->dx + d * dm_cos(a);
			y = s->dy + d * dm_sin(a);
			s->n_cotton_wool += add(pl, x, y, r, NAN, &cotton, &rc);
		}
	}
	return rc;
}

static int drusen(struct placer *pl)
{
	struct fundus__scene *s = pl->s;
	struct fundus_rng *rng = pl->rng;
	double U = pl->U, x, y;
	int rc = 0, n = 8 + (int)fundus_rng_below(rng, 110);
	double spread = U * fundus_rng_range(rng, 0.35, 0.8);

	for (int i = 0; i < n; i++) {
		double r = logsize(pl, 0.008 * U, 0.045 * U);

		if (fundus_rng_uniform(rng) < 0.05)
			r = U * fundus_rng_range(rng, 0.05, 0.09); /* confluent */
		near(pl, s->fx, s->fy, spread, &x, &y);
		s->n_drusen += add(pl, x, y, r, NAN, &druse, &rc);
	}
	return rc;
}

int fundus__lesions_plan(struct fundus__scene *s, struct fundus_rng *rng)
{
	struct placer pl = {s, rng, s->unit};
	double lvl = fundus_rng_range(rng, 0.6, 1.4);
	float bright = s->cup_col[1] > s->rim_col[1] ? s->cup_col[1] : s->rim_col[1];
	int rc;

	/*
	 * Exudates are yellow: nearly as red as the disc, green set relative to the
	 * brightest part of the disc (above it now and then), little blue.
	 */
	s->exu_col[0] =
	    (float)(fmax(s->rim_col[0], s->cup_col[0]) * fundus_rng_range(rng, 0.9, 1.1));
	s->exu_col[1] =
	    (float)fmax(bright * lvl, s->base[1] * fundus_rng_range(rng, 2.6, 3.6) + 0.1);
	s->exu_col[2] = (float)(s->base[2] * 1.2 + fundus_rng_range(rng, 0.0, 0.04));
	s->dru_col[0] = (float)(s->base[0] * 1.25 + 0.15);
	s->dru_col[1] = (float)(s->base[1] * 1.8 + 0.1);
	s->dru_col[2] = (float)(s->base[2] * 1.6 + 0.03);
	s->cws_col[0] = (float)(s->base[0] * 1.2 + 0.3);
	s->cws_col[1] = (float)(s->base[1] * 1.8 + 0.3);
	s->cws_col[2] = (float)(s->base[2] * 2.5 + 0.2);
	if (fundus_rng_uniform(rng) < 0.78)
		rc = diabetic(&pl);
	else
		rc = drusen(&pl);
	s->bright_lesion = s->n_exudates > 0 && s->exu_col[1] > bright;
	return rc;
}
