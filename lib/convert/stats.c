/* Statistics of a record set: counts per label, box sizes, images without objects. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Orders doubles for the percentiles. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of sorted v[0..n) by linear interpolation (numpy's default). */
static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)floor(pos);
	double f = pos - (double)lo;

	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (v[lo + 1] - v[lo]) * f;
}

/* {"min", "p5", "p25", "median", "p75", "p95", "max", "mean"} of v (sorted in place). */
static cJSON *distribution(double *v, size_t n)
{
	static const struct {
		const char *name;
		double q;
	} qs[] = {{"min", 0},    {"p5", 0.05},  {"p25", 0.25}, {"median", 0.5},
		  {"p75", 0.75}, {"p95", 0.95}, {"max", 1}};
	cJSON *d = cJSON_CreateObject();
	double sum = 0;

	if (d == NULL)
		return NULL;
	if (!cJSON_AddNumberToObject(d, "count", (double)n)) {
		cJSON_Delete(d);
		return NULL;
	}
	if (n == 0)
		return d;
	qsort(v, n, sizeof *v, cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
		if (!cJSON_AddNumberToObject(d, qs[i].name, quantile(v, n, qs[i].q))) {
			cJSON_Delete(d);
			return NULL;
		}
	if (!cJSON_AddNumberToObject(d, "mean", sum / (double)n)) {
		cJSON_Delete(d);
		return NULL;
	}
	return d;
}

int fundus_convert_stats(const struct fundus_convert_set *set, cJSON **out)
{
	cJSON *s = NULL, *labels, *empty, *by;
	double *w = NULL, *h = NULL, *frac = NULL;
	size_t n = 0, nf = 0, n_empty = 0, scored = 0, sized = 0;
	int rc = FUNDUS_ENOMEM;

	*out = NULL;
	for (size_t i = 0; i < set->n; i++)
		n += set->rec[i]->n_objects;
	w = fundus_calloc(n + 1, sizeof *w);
	h = fundus_calloc(n + 1, sizeof *h);
	frac = fundus_calloc(n + 1, sizeof *frac);
	s = cJSON_CreateObject();
	if (w == NULL || h == NULL || frac == NULL || s == NULL)
		goto out;
	labels = cJSON_CreateObject();
	by = cJSON_CreateObject();
	empty = cJSON_CreateArray();
	if (!cJSON_AddNumberToObject(s, "records", (double)set->n) ||
	    !cJSON_AddNumberToObject(s, "objects", (double)n) ||
	    !cJSON_AddItemToObject(s, "labels", labels) || !cJSON_AddItemToObject(s, "by", by)) {
		cJSON_Delete(labels);
		cJSON_Delete(by);
		cJSON_Delete(empty);
		goto out;
	}
	n = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct fundus_record *r = set->rec[i];

		sized += r->width > 0 && r->height > 0;
		if (r->n_objects == 0) {
			n_empty++;
			if (r->image && !cJSON_AddItemToArray(empty, cJSON_CreateString(r->image)))
				goto out_empty;
		}
		for (size_t j = 0; j < r->n_objects; j++) {
			const struct fundus_object *o = &r->objects[j];
			cJSON *c = cJSON_GetObjectItemCaseSensitive(labels, o->label);

			if (c)
				cJSON_SetNumberValue(c, c->valuedouble + 1);
			else if (!cJSON_AddNumberToObject(labels, o->label, 1))
				goto out_empty;
			if (o->by) {
				c = cJSON_GetObjectItemCaseSensitive(by, o->by);
				if (c)
					cJSON_SetNumberValue(c, c->valuedouble + 1);
				else if (!cJSON_AddNumberToObject(by, o->by, 1))
					goto out_empty;
			}
			scored += !isnan(o->score);
			w[n] = o->bbox.x1 - o->bbox.x0;
			h[n] = o->bbox.y1 - o->bbox.y0;
			if (r->width > 0 && r->height > 0)
				frac[nf++] = w[n] * h[n] / ((double)r->width * (double)r->height);
			n++;
		}
	}
	{
		cJSON *dw = distribution(w, n), *dh = distribution(h, n),
		      *df = distribution(frac, nf);

		if (!cJSON_AddNumberToObject(s, "scored_objects", (double)scored) ||
		    !cJSON_AddNumberToObject(s, "records_with_size", (double)sized) ||
		    !cJSON_AddNumberToObject(s, "records_without_objects", (double)n_empty) ||
		    !cJSON_AddItemToObject(s, "images_without_objects", empty)) {
			cJSON_Delete(dw);
			cJSON_Delete(dh);
			cJSON_Delete(df);
			goto out_empty;
		}
		empty = NULL;
		if (dw == NULL || !cJSON_AddItemToObject(s, "box_width", dw)) {
			cJSON_Delete(dw);
			cJSON_Delete(dh);
			cJSON_Delete(df);
			goto out;
		}
		if (dh == NULL || !cJSON_AddItemToObject(s, "box_height", dh)) {
			cJSON_Delete(dh);
			cJSON_Delete(df);
			goto out;
		}
		if (df == NULL || !cJSON_AddItemToObject(s, "box_area_fraction", df)) {
			cJSON_Delete(df);
			goto out;
		}
	}
	*out = s;
	s = NULL;
	rc = 0;
	goto out;
out_empty:
	cJSON_Delete(empty);
out:
	cJSON_Delete(s);
	fundus_free(w);
	fundus_free(h);
	fundus_free(frac);
	return rc;
}
