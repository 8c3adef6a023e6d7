/* The order in which a workspace offers its images: as added, shuffled, or least certain first. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/rng.h"
#include "internal.h"

double fundus_workspace_uncertainty(const struct fundus_record *p)
{
	const struct fundus_object *best = NULL;
	double top, u;

	if (p == NULL)
		return NAN;
	if (p->n_objects == 0)
		return 1.0;
	for (size_t k = 0; k < p->n_objects; k++) {
		double s = isnan(p->objects[k].score) ? 1.0 : p->objects[k].score;

		if (best == NULL || s > (isnan(best->score) ? 1.0 : best->score))
			best = &p->objects[k];
	}
	top = isnan(best->score) ? 1.0 : best->score;
	if (top < 0)
		top = 0;
	if (top > 1)
		top = 1;
	u = 1.0 - fabs(2.0 * top - 1.0);
	/* A rival box elsewhere: the detector cannot decide where the object is. */
	for (size_t k = 0; k < p->n_objects && top > 0; k++) {
		const struct fundus_object *o = &p->objects[k];
		double s = isnan(o->score) ? 1.0 : o->score;

		if (o == best || strcmp(o->label, best->label) != 0 || s < 0.5 * top)
			continue;
		if (fundus_box_iou(&o->bbox, &best->bbox) < 0.3 && s / top > u)
			u = s / top > 1 ? 1 : s / top;
	}
	return u;
}

struct ranked {
	size_t i;
	double u; /* NAN: unknown */
};

/* Most uncertain first; unknown last; then in the order added. */
static int cmp_ranked(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	int xn = isnan(x->u), yn = isnan(y->u);

	if (xn != yn)
		return xn - yn;
	if (!xn && x->u != y->u)
		return x->u < y->u ? 1 : -1;
	return (x->i > y->i) - (x->i < y->i);
}

int fundus_workspace_order(struct fundus_workspace *ws, size_t **order, size_t *n)
{
	size_t count = ws->n_images;
	size_t *o = fundus_malloc((count ? count : 1) * sizeof *o);
	int rc = 0;

	*order = NULL;
	*n = 0;
	if (o == NULL)
		return FUNDUS_ENOMEM;
	for (size_t i = 0; i < count; i++)
		o[i] = i;
	if (ws->cfg->order == FUNDUS_ORDER_SHUFFLE && count > 0) {
		/*
		 * Each image draws its place from the seed and its key, so that
		 * images added later fall in among the others without moving
		 * them: every annotator sees the same order at any time.
		 */
		struct ranked *r = fundus_malloc(count * sizeof *r);

		if (r == NULL) {
			fundus_free(o);
			return FUNDUS_ENOMEM;
		}
		for (size_t i = 0; i < count; i++) {
			struct fundus_rng rng;
			uint64_t h = 1469598103934665603u;

			for (const char *k = fundus_workspace_key(ws, i); *k; k++)
				h = (h ^ (unsigned char)*k) * 1099511628211u;
			fundus_rng_seed(&rng, ws->cfg->seed ^ h);
			r[i].i = i;
			r[i].u = fundus_rng_uniform(&rng);
		}
		qsort(r, count, sizeof *r, cmp_ranked);
		for (size_t i = 0; i < count; i++)
			o[i] = r[i].i;
		fundus_free(r);
	} else if (ws->cfg->order == FUNDUS_ORDER_ACTIVE && count > 0) {
		struct ranked *r = fundus_malloc(count * sizeof *r);

		if (r == NULL) {
			fundus_free(o);
			return FUNDUS_ENOMEM;
		}
		for (size_t i = 0; i < count && rc == 0; i++) {
			struct fundus_record *p;

			r[i].i = i;
			rc = fundus_workspace_proposals(ws, i, &p);
			r[i].u = rc == 0 ? fundus_workspace_uncertainty(p) : NAN;
			fundus_record_free(p);
		}
		if (rc == 0) {
			qsort(r, count, sizeof *r, cmp_ranked);
			for (size_t i = 0; i < count; i++)
				o[i] = r[i].i;
		}
		fundus_free(r);
	}
	if (rc < 0) {
		fundus_free(o);
		return rc;
	}
	*order = o;
	*n = count;
	return 0;
}
