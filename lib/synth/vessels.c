/*
 * The retinal vessel trees. Arteries and veins each leave the disc as two
 * large temporal arcades that curve around the macula (following parabolas
 * with their vertex at the disc, after Foracchia et al. 2004), two nasal
 * trunks and a few small vessels, and branch recursively: the width splits
 * by Murray's law (r^3 = r1^3 + r2^3), the smaller child leaves at the
 * larger angle, and each vessel wanders with a random curvature (an
 * Ornstein-Uhlenbeck process) so that it is as tortuous as real ones.
 * Small branches of the arcades head for the fovea and stop at the
 * avascular zone around it.
 */
#include <math.h>

#include "dmath.h"
#include "synth_int.h"

#define PI        3.14159265358979323846
#define MAX_STACK 4096
#define MAX_DEPTH 9

enum mode { M_ARCADE, M_NASAL, M_MACULAR, M_RAPHE, M_FREE };

struct vessel {
	double x, y, th; /* position and heading */
	double r;        /* half-width, pixels */
	double kappa;    /* curvature, radians per pixel */
	double len, next_branch;
	double steer;                 /* how strongly the vessel follows its field */
	double pa0, pB, plam, pk, pm; /* an arcade's path (see field()) */
	int mode, side;               /* side: +1 superior, -1 inferior half of the retina */
	int depth, layer, flip;
};

struct grower {
	struct fundus__scene *s;
	struct fundus_rng *rng;
	double U;      /* disc diameter, pixels */
	double nx, ny; /* unit normal to the disc-fovea axis, pointing up */
	double rmin, faz, tort, reflex;
	double fovea_a; /* the fovea's distance along the axis */
	struct vessel stack[MAX_STACK];
	int top;
};

static double wrap(double a)
{
	while (a > PI)
		a -= 2 * PI;
	while (a < -PI)
		a += 2 * PI;
	return a;
}

/* The heading the vessel's field asks for at its position. */
static double field(const struct grower *g, const struct vessel *v)
{
	const struct fundus__scene *s = g->s;
	double px = v->x - s->dx, py = v->y - s->dy;
	double a = px * s->ux + py * s->uy;                /* temporal distance */
	double b = (px * g->nx + py * g->ny) * v->side;    /* distance from the raphe */
	double sx = g->nx * v->side, sy = g->ny * v->side; /* away from the raphe */
	double dx, dy;

	switch (v->mode) {
	case M_ARCADE: {
		/*
		 * The arcade's path, in axis coordinates from where it starts:
		 * b = pB (1 - (1 - a / plam)^pk), which leaves the disc steeply
		 * (a fifth to a third of a right angle off the vertical), arches
		 * and tops out at height pB after plam along the axis; then a
		 * straight run that diverges slowly (slope pm). Head along its
		 * tangent, pulled back toward it.
		 */
		double ap = a - v->pa0, ta = 1, tb, eb, n;

		if (ap < 0) {
			tb = v->pB * v->pk / v->plam;
			eb = tb * ap - b;
		} else if (ap < v->plam) {
			double q = 1 - ap / v->plam;

			tb = v->pB * v->pk * dm_pow(q, v->pk - 1) / v->plam + v->pm * (1 - q);
			eb = v->pB * (1 - dm_pow(q, v->pk)) - b;
		} else {
			tb = v->pm;
			eb = v->pB + v->pm * (ap - v->plam) - b;
		}
		n = sqrt(ta * ta + tb * tb) + 1e-12;
		ta = ta / n;
		tb = tb / n + fundus__clamp(1.2 * eb / g->U, -1.5, 1.5);
		dx = ta * s->ux + tb * sx;
		dy = ta * s->uy + tb * sy;
		break;
	}
	case M_RAPHE:
		/* Toward the horizontal raphe, temporally. */
		dx = 0.7 * s->ux - sx;
		dy = 0.7 * s->uy - sy;
		break;
	case M_MACULAR:
		dx = s->fx - v->x;
		dy = s->fy - v->y;
		break;
	default: {
		/* Away from a centre that moves from the disc toward the fovea as the
		 * vessel lies further temporally: branches fan out around the macula. */
		double t = fundus__clamp(a / g->fovea_a, 0, 0.6);

		dx = v->x - (s->dx + t * (s->fx - s->dx));
		dy = v->y - (s->dy + t * (s->fy - s->dy));
		break;
	}
	}
	/* Vessels do not cross the horizontal raphe temporal to the fovea. */
	if (v->mode != M_MACULAR && v->mode != M_RAPHE && a > 0.6 * g->fovea_a && b < 0.35 * g->U) {
		double push = (0.35 * g->U - b) / (0.35 * g->U);
		double n = sqrt(dx * dx + dy * dy) + 1e-9;

		dx = dx / n + 2 * push * sx;
		dy = dy / n + 2 * push * sy;
	}
	return dm_atan2(dy, dx);
}

static int push(struct grower *g, const struct vessel *v)
{
	if (g->top >= MAX_STACK)
		return 0; /* enough vessels: drop the branch */
	g->stack[g->top++] = *v;
	return 0;
}

/* Splits a side branch off v. */
static void branch(struct grower *g, struct vessel *v)
{
	struct fundus_rng *rng = g->rng;
	struct vessel c = *v;
	double beta, ang, tx, ty, cand1, cand2, d1, d2, u = fundus_rng_uniform(rng);
	int inner = 0;

	if (v->mode == M_ARCADE && u < 0.12) {
		/* A near-even fork: both halves carry on as arcade vessels, the child
		 * on a steeper parabola through the fork, away from the raphe. */
		double px = v->x - g->s->dx, py = v->y - g->s->dy;
		double a = px * g->s->ux + py * g->s->uy;
		double b = (px * g->nx + py * g->ny) * v->side;

		beta = fundus_rng_range(rng, 0.72, 0.85);
		c.pB = fmax(v->pB * fundus_rng_range(rng, 1.2, 1.5), b + 0.3 * g->U);
		c.plam = v->plam * fundus_rng_range(rng, 0.8, 1.3);
		c.pk = v->pk;
		c.pm = v->pm + fundus_rng_range(rng, 0.1, 0.3);
		/* Through the fork: solve the path for where b is reached. */
		c.pa0 = a - c.plam * (1 - dm_pow(1 - fundus__clamp(b / c.pB, 0, 0.999), 1 / c.pk));
		c.mode = M_ARCADE;
	} else if (v->mode == M_ARCADE) {
		inner = fundus_rng_uniform(rng) < 0.5;
		beta = inner ? fundus_rng_range(rng, 0.2, 0.42) : fundus_rng_range(rng, 0.35, 0.7);
		c.mode = M_FREE;
		if (inner) {
			double px = v->x - g->s->dx, py = v->y - g->s->dy;
			double a = px * g->s->ux + py * g->s->uy;

			if (a > -0.3 * g->U && a < g->fovea_a + 0.8 * g->U)
				c.mode = M_MACULAR;
			else if (a >= g->fovea_a + 0.8 * g->U)
				c.mode = M_RAPHE;
		}
	} else if (v->depth == 0) {
		beta = fundus_rng_range(rng, 0.25, 0.6);
	} else {
		beta = fundus_rng_range(rng, 0.35, 0.8);
	}
	c.r = v->r * beta;
	v->r *= dm_cbrt(1 - beta * beta * beta);
	ang = fundus_rng_range(rng, 0.5, 1.2) + (1 - beta) * 0.35;
	/* Which way the child goes: toward the raphe (inner) or away from it for
	 * arcade branches, alternating sides otherwise. */
	if (v->mode == M_ARCADE && c.mode != M_ARCADE) {
		tx = g->nx * v->side * (inner ? -1 : 1);
		ty = g->ny * v->side * (inner ? -1 : 1);
	} else {
		double sgn = (v->flip ^= fundus_rng_uniform(rng) < 0.75) ? 1 : -1;

		tx = -dm_sin(v->th) * sgn;
		ty = dm_cos(v->th) * sgn;
	}
	cand1 = v->th + ang;
	cand2 = v->th - ang;
	d1 = dm_cos(cand1) * tx + dm_sin(cand1) * ty;
	d2 = dm_cos(cand2) * tx + dm_sin(cand2) * ty;
	c.th = d1 > d2 ? cand1 : cand2;
	/* The parent bends the other way a little. */
	v->th -= (c.th - v->th) * beta * beta * 0.35;
	c.kappa = 0;
	c.len = 0;
	c.depth = v->depth + 1;
	c.flip = (int)fundus_rng_below(rng, 2);
	c.steer = c.mode == M_MACULAR  ? 1.5
		  : c.mode == M_RAPHE  ? 1.0
		  : c.mode == M_ARCADE ? v->steer
				       : 0.8;
	c.next_branch = g->U * fundus_rng_range(rng, 0.15, 0.45);
	v->next_branch = v->len + g->U * (v->depth == 0 ? fundus_rng_range(rng, 0.2, 0.5)
							: fundus_rng_range(rng, 0.15, 0.45));
	if (c.depth <= MAX_DEPTH && c.r >= g->rmin)
		push(g, &c);
}

/* Grows one vessel to its end, pushing its branches. */
static int grow(struct grower *g, struct vessel *v)
{
	struct fundus__scene *s = g->s;
	struct fundus_rng *rng = g->rng;
	double U = g->U, lk = 0.3 * U, ksd = g->tort * 0.45 / U;
	/* Vessels that feed the macula thin out fast toward the fovea. */
	double taper = U * (v->mode == M_MACULAR ? fundus_rng_range(rng, 1.2, 2)
						 : fundus_rng_range(rng, 7, 12));
	int rc;

	/* Veins and small vessels wind more. */
	if (v->layer == FUNDUS__L_VEIN)
		ksd *= 1.2;
	if (v->depth >= 2)
		ksd *= 2.2;
	else if (v->depth == 1)
		ksd *= 1.4;
	for (int steps = 0; steps < 100000; steps++) {
		double ds, th, nx, ny, r1, ex, ey, fx, fy;
		struct fundus__seg seg;

		if (v->r < g->rmin)
			break;
		ex = v->x - s->cx;
		ey = v->y - s->cy;
		if (ex * ex + ey * ey > 1.03 * 1.03 * s->R * s->R)
			break;
		fx = v->x - s->fx;
		fy = v->y - s->fy;
		if (fx * fx + fy * fy < g->faz * g->faz)
			break;
		if (v->mode == M_RAPHE &&
		    ((v->x - s->dx) * g->nx + (v->y - s->dy) * g->ny) * v->side < 0.08 * U)
			break;
		ds = fundus__clamp(1.2 * v->r, 0.008 * U, 0.03 * U);
		if (ds < 0.7)
			ds = 0.7;
		v->kappa += -v->kappa * ds / lk + ksd * sqrt(2 * ds / lk) * fundus__gauss(rng);
		th = field(g, v);
		{
			double d = wrap(th - v->th), turn = v->steer * d * ds / U;

			if (fabs(turn) > fabs(d))
				turn = d;
			v->th = wrap(v->th + v->kappa * ds + turn);
		}
		nx = v->x + ds * dm_cos(v->th);
		ny = v->y + ds * dm_sin(v->th);
		r1 = v->r * dm_exp(-ds / taper);
		seg.x0 = (float)v->x;
		seg.y0 = (float)v->y;
		seg.x1 = (float)nx;
		seg.y1 = (float)ny;
		seg.r0 = (float)v->r;
		seg.r1 = (float)r1;
		/* Thin vessels absorb less, and fade out where they end. */
		seg.opacity =
		    (float)(1 - dm_exp(-v->r / (0.009 * U))) *
		    fundus__smoothstep((float)g->rmin, (float)(1.6 * g->rmin), (float)v->r);
		/* Vessels that leave the disc surface from its depth: fade them in. */
		if (v->depth == 0)
			seg.opacity *= fundus__smoothstep(0, (float)(0.12 * U), (float)v->len);
		seg.reflex =
		    (float)(g->reflex * (v->layer == FUNDUS__L_ARTERY ? 1.4 : 1.0) *
			    fundus__smoothstep((float)(0.012 * U), (float)(0.03 * U), (float)v->r));
		seg.layer = (uint8_t)v->layer;
		rc = fundus__scene_add_seg(s, &seg);
		if (rc == FUNDUS_ELIMIT)
			return 0; /* the cap on primitives: the tree is big enough */
		if (rc < 0)
			return rc;
		v->x = nx;
		v->y = ny;
		v->r = r1;
		v->len += ds;
		if (v->len >= v->next_branch && v->depth < MAX_DEPTH)
			branch(g, v);
	}
	return 0;
}

/* Starts a vessel at the disc. */
static void start(struct grower *g, double x, double y, double th, double r, int mode, int side,
		  int layer)
{
	struct vessel v = {0};

	v.x = x;
	v.y = y;
	v.th = th;
	v.r = r;
	v.mode = mode;
	v.side = side;
	v.layer = layer;
	v.pB = g->U * fundus_rng_range(g->rng, 1.3, 2.1);
	v.plam = g->U * fundus_rng_range(g->rng, 1.5, 2.8);
	v.pk = fundus_rng_range(g->rng, 1.8, 3.0);
	v.pm = fundus_rng_range(g->rng, 0.05, 0.3);
	v.pa0 = (x - g->s->dx) * g->s->ux + (y - g->s->dy) * g->s->uy -
		fundus_rng_range(g->rng, 0, 0.15) * g->U;
	v.steer = mode == M_ARCADE ? 3.0 : mode == M_MACULAR ? 1.5 : 0.35;
	/* Trunks bend as soon as they leave the cup. */
	v.kappa = fundus__gauss(g->rng) * 1.5 / g->U;
	v.next_branch = g->U * fundus_rng_range(g->rng, 0.45, 0.9);
	v.flip = (int)fundus_rng_below(g->rng, 2);
	push(g, &v);
}

/* The heading of the unit vector a*u + b*n (u toward the fovea, n up). */
static double heading(const struct grower *g, double a, double b)
{
	const struct fundus__scene *s = g->s;

	return dm_atan2(a * s->uy + b * g->ny, a * s->ux + b * g->nx);
}

int fundus__vessels_plan(struct fundus__scene *s, struct fundus_rng *rng, double tortuosity)
{
	struct grower *g = fundus_calloc(1, sizeof *g);
	double U = s->unit, fa;
	int rc = 0;

	if (g == NULL)
		return FUNDUS_ENOMEM;
	g->s = s;
	g->rng = rng;
	g->U = U;
	/* The normal to the axis that points up in the picture. */
	g->nx = s->uy;
	g->ny = -s->ux;
	if (g->ny > 0) {
		g->nx = -g->nx;
		g->ny = -g->ny;
	}
	g->rmin = fmax(0.0038 * U, 0.3);
	g->faz = U * fundus_rng_range(rng, 0.25, 0.4);
	g->tort = tortuosity;
	g->reflex = fundus_rng_uniform(rng) < 0.7 ? fundus_rng_range(rng, 0.03, 0.2) : 0;
	fa = (s->fx - s->dx) * s->ux + (s->fy - s->dy) * s->uy;
	g->fovea_a = fa;
	for (int layer = FUNDUS__L_ARTERY; layer <= FUNDUS__L_VEIN; layer++) {
		int vein = layer == FUNDUS__L_VEIN;
		double rmain = U * (vein ? 0.037 : 0.027) * fundus_rng_range(rng, 0.88, 1.12);
		/* The central vessels surface just nasal of the cup's centre. */
		double oa = -fundus_rng_range(rng, 0.0, 0.2) * s->drx + (vein ? 0.03 : -0.03) * U;
		double ob = fundus_rng_range(rng, -0.1, 0.1) * s->dry;
		double ox = s->cup_x + oa * s->ux + ob * g->nx;
		double oy = s->cup_y + oa * s->uy + ob * g->ny;
		int nnasal = 1 + (int)fundus_rng_below(rng, 2),
		    nmac = 1 + (int)fundus_rng_below(rng, 3);

		for (int side = -1; side <= 1; side += 2) {
			/* The trunks surface near one another, not at one point. */
			double t = vein ? fundus_rng_range(rng, 0.0, 0.45)
					: fundus_rng_range(rng, 0.2, 0.8);
			double jx = fundus_rng_range(rng, -0.12, 0.12) * s->drx;
			double jy = fundus_rng_range(rng, -0.12, 0.12) * s->dry;

			start(g, ox + jx, oy + jy, heading(g, t, side),
			      rmain * fundus_rng_range(rng, 0.9, 1.05), M_ARCADE, side, layer);
			t = fundus_rng_range(rng, 0.5, 1.4);
			jx = fundus_rng_range(rng, -0.12, 0.12) * s->drx;
			jy = fundus_rng_range(rng, -0.12, 0.12) * s->dry;
			start(g, ox + jx, oy + jy, heading(g, -t, side),
			      rmain * fundus_rng_range(rng, 0.6, 0.8), M_NASAL, side, layer);
		}
		for (int i = 0; i < nnasal; i++) {
			double t = fundus_rng_range(rng, -0.35, 0.35);

			/* Small vessels surface at the rim rather than in the cup. */
			double h = heading(g, -1, t), k = fundus_rng_range(rng, 0.55, 0.9) * s->drx;

			start(g, s->dx + k * dm_cos(h), s->dy + k * dm_sin(h), h,
			      rmain * fundus_rng_range(rng, 0.3, 0.5), M_NASAL, t < 0 ? -1 : 1,
			      layer);
		}
		for (int i = 0; i < nmac; i++) {
			double t = fundus_rng_range(rng, -0.5, 0.5);

			double h = heading(g, 1, t), k = fundus_rng_range(rng, 0.55, 0.9) * s->drx;

			start(g, s->dx + k * dm_cos(h), s->dy + k * dm_sin(h), h,
			      rmain * fundus_rng_range(rng, 0.2, 0.35), M_MACULAR, t < 0 ? -1 : 1,
			      layer);
		}
	}
	/* Depth-first: the stack holds vessels still to grow. */
	while (g->top > 0 && rc == 0) {
		struct vessel v = g->stack[--g->top];

		rc = grow(g, &v);
	}
	fundus_free(g);
	return rc;
}
