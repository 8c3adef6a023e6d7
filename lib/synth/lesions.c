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

/* Adds a blob if its centre is inside the field; returns 1 when added. */
static int add(struct placer *pl, double x, double y, double rx, double ry, double ang, double edge,
	       double amp, double dome, double wamp, int layer, int *rc)
{
	struct fundus__scene *s = pl->s;
	struct fundus__blob b;
	double ex = x - s->cx, ey = y - s->cy;

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
	for (int k = 0; k < 2; k++) {
		double f = fundus_rng_range(pl->rng, 1.5, 4.5),
		       a = fundus_rng_range(pl->rng, 0, 2 * PI);

		b.wk[k][0] = (float)(f * dm_cos(a));
		b.wk[k][1] = (float)(f * dm_sin(a));
		b.wk[k][2] = (float)fundus_rng_range(pl->rng, 0, 2 * PI);
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
		s->n_microaneurysms +=
		    add(pl, x, y, r, r, 0, 0.25, fundus_rng_range(rng, 0.6, 0.95), 0, 0.05,
			FUNDUS__L_HAEM, &rc);
	}
	/* Dot and blot haemorrhages. */
	n = (int)(sev * fundus_rng_range(rng, 0, 16));
	for (int i = 0; i < n; i++) {
		double r = logsize(pl, 0.02 * U, 0.14 * U);

		near(pl, s->fx, s->fy, 1.8 * U, &x, &y);
		s->n_haemorrhages += add(
		    pl, x, y, r, r * fundus_rng_range(rng, 0.7, 1.0), fundus_rng_range(rng, 0, PI),
		    0.25, fundus_rng_range(rng, 0.55, 0.95), 0.3, 0.15, FUNDUS__L_HAEM, &rc);
	}
	/* Flame haemorrhages lie along the nerve fibres, which run toward the disc. */
	n = fundus_rng_uniform(rng) < sev ? (int)fundus_rng_below(rng, 5) : 0;
	for (int i = 0; i < n; i++) {
		double a = fundus_rng_range(rng, 0, 2 * PI),
		       d = U * fundus_rng_range(rng, 0.7, 2.2);
		double len = U * fundus_rng_range(rng, 0.08, 0.22);

		x = s->dx + d * dm_cos(a);
		y = s->dy + d * dm_sin(a);
		s->n_haemorrhages +=
		    add(pl, x, y, len, len / fundus_rng_range(rng, 2.5, 4.5), a, 0.5,
			fundus_rng_range(rng, 0.5, 0.85), 0.5, 0.1, FUNDUS__L_HAEM, &rc);
	}
	/* Hard exudates, in clumps and circinate rings around the macula. */
	if (fundus_rng_uniform(rng) < 0.75) {
		int clusters = 1 + (int)fundus_rng_below(rng, 3);

		for (int c = 0; c < clusters; c++) {
			double a = fundus_rng_range(rng, 0, 2 * PI);
			double d = U * fundus_rng_range(rng, 0.2, 2.3);
			double cx = s->fx + d * dm_cos(a), cy = s->fy + d * dm_sin(a);
			int ring = fundus_rng_uniform(rng) < 0.35;
			double ringr = U * fundus_rng_range(rng, 0.3, 0.8);
			double spread = U * fundus_rng_range(rng, 0.1, 0.45);
			int spots = 4 + (int)(sev * fundus_rng_range(rng, 5, 70));

			for (int i = 0; i < spots; i++) {
				double r = logsize(pl, 0.006 * U, 0.04 * U);

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
				s->n_exudates +=
				    add(pl, x, y, r, r * fundus_rng_range(rng, 0.6, 1),
					fundus_rng_range(rng, 0, PI), 0.25,
					fundus_rng_range(rng, 0.6, 1), 0.3,
					fundus_rng_range(rng, 0.1, 0.3), FUNDUS__L_EXUDATE, &rc);
			}
		}
	}
	/* Cotton-wool spots: soft, pale, near the arcades. */
	if (fundus_rng_uniform(rng) < 0.4 * sev) {
		n = 1 + (int)fundus_rng_below(rng, 4);
		for (int i = 0; i < n; i++) {
			double a =
			    dm_atan2(s->uy, s->ux) + (fundus_rng_uniform(rng) < 0.5 ? 1 : -1) *
							 fundus_rng_range(rng, 0.5, 1.4);
			double d = U * fundus_rng_range(rng, 0.9, 2.4),
			       r = U * fundus_rng_range(rng, 0.07, 0.2);

			x = s->dx + d * dm_cos(a);
			y = s->dy + d * dm_sin(a);
			s->n_cotton_wool +=
			    add(pl, x, y, r, r * fundus_rng_range(rng, 0.5, 0.9),
				fundus_rng_range(rng, 0, PI), 0.7, fundus_rng_range(rng, 0.35, 0.7),
				1, 0.25, FUNDUS__L_COTTON, &rc);
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
		s->n_drusen += add(pl, x, y, r, r * fundus_rng_range(rng, 0.8, 1),
				   fundus_rng_range(rng, 0, PI), 0.5,
				   fundus_rng_range(rng, 0.4, 0.85), 1, 0.1, FUNDUS__L_DRUSEN, &rc);
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
