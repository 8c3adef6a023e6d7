/*
 * Pairing prediction records with ground-truth records: by "id" when both
 * have one (the content decides, wherever the file is now), else by path,
 * else (unless exact paths are asked for) by file name when only one
 * ground-truth image has it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A ground-truth record under one of its names. */
struct name {
	const char *s;
	size_t i;
};

/* By name, then by record index, so that the first record of a name comes first. */
static int by_name(const void *pa, const void *pb)
{
	const struct name *a = pa, *b = pb;
	int c = strcmp(a->s, b->s);

	if (c)
		return c;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* The part of a path after its last '/'. */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The first entry of v[0..n-1] (sorted) named s, and in *count how many are. */
static const struct name *find(const struct name *v, size_t n, const char *s, size_t *count)
{
	size_t lo = 0, hi = n, k;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].s, s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (k = lo; k < n && strcmp(v[k].s, s) == 0; k++)
		;
	*count = k - lo;
	return v + lo;
}

/* Whether a prediction and a ground-truth record may be paired by path: not both with ids. */
static int path_may_pair(const struct fundus_record *p, const struct fundus_record *g)
{
	return p->id == NULL || g->id == NULL;
}

int fundus__eval_pair(struct fundus_record *const *gt, size_t n_gt,
		      struct fundus_record *const *pred, size_t n_pred, int exact_paths,
		      int64_t *target, struct fundus_eval_result *res)
{
	struct name *ids, *paths, *bases;
	size_t n_ids = 0, n_paths = 0;
	const char *first_unmatched = NULL, *first_ambiguous = NULL, *first_dup = NULL;

	ids = fundus_calloc(n_gt ? n_gt : 1, sizeof *ids);
	paths = fundus_calloc(n_gt ? n_gt : 1, sizeof *paths);
	bases = fundus_calloc(n_gt ? n_gt : 1, sizeof *bases);
	if (ids == NULL || paths == NULL || bases == NULL) {
		fundus_free(ids);
		fundus_free(paths);
		fundus_free(bases);
		return FUNDUS_ENOMEM;
	}
	for (size_t i = 0; i < n_gt; i++) {
		if (gt[i]->id)
			ids[n_ids++] = (struct name){gt[i]->id, i};
		if (gt[i]->image) {
			bases[n_paths] = (struct name){base_name(gt[i]->image), i};
			paths[n_paths++] = (struct name){gt[i]->image, i};
		}
	}
	qsort(ids, n_ids, sizeof *ids, by_name);
	qsort(paths, n_paths, sizeof *paths, by_name);
	qsort(bases, n_paths, sizeof *bases, by_name);
	for (size_t k = 1; k < n_paths; k++)
		if (strcmp(paths[k].s, paths[k - 1].s) == 0) {
			res->duplicate_images++;
			if (first_dup == NULL)
				first_dup = paths[k].s;
		}
	if (res->duplicate_images)
		fundus_log(FUNDUS_LOG_WARN,
			   "the ground truth names %lld images more than once (the first: '%s'); "
			   "predictions go to the first record of each",
			   (long long)res->duplicate_images, first_dup);

	for (size_t j = 0; j < n_pred; j++) {
		const struct fundus_record *p = pred[j];
		const struct name *v;
		size_t count, found = 0;
		int64_t t = -1;

		if (p->id) {
			v = find(ids, n_ids, p->id, &count);
			for (size_t k = 0; k < count && t < 0; k++)
				if (p->image && gt[v[k].i]->image &&
				    strcmp(p->image, gt[v[k].i]->image) == 0)
					t = (int64_t)v[k].i;
			if (t < 0 && count)
				t = (int64_t)v[0].i;
		}
		if (t < 0 && p->image) {
			v = find(paths, n_paths, p->image, &count);
			for (size_t k = 0; k < count && t < 0; k++)
				if (path_may_pair(p, gt[v[k].i]))
					t = (int64_t)v[k].i;
		}
		if (t < 0 && p->image && !exact_paths) {
			v = find(bases, n_paths, base_name(p->image), &count);
			for (size_t k = 0; k < count; k++)
				if (path_may_pair(p, gt[v[k].i])) {
					if (found++ == 0)
						t = (int64_t)v[k].i;
				}
			if (found > 1) {
				t = -1;
				res->ambiguous_records++;
				if (first_ambiguous == NULL)
					first_ambiguous = p->image;
			}
		}
		if (t < 0 && found <= 1) {
			res->unmatched_records++;
			if (first_unmatched == NULL)
				first_unmatched = p->image ? p->image : p->id ? p->id : "";
		}
		target[j] = t;
	}
	if (res->unmatched_records)
		fundus_log(FUNDUS_LOG_WARN,
			   "%lld prediction records name no image of the ground truth and are "
			   "ignored (the first: '%s')",
			   (long long)res->unmatched_records, first_unmatched);
	if (res->ambiguous_records)
		fundus_log(
		    FUNDUS_LOG_WARN,
		    "%lld prediction records fit several ground-truth images by file name and "
		    "are ignored (the first: '%s'); give the same paths or ids",
		    (long long)res->ambiguous_records, first_ambiguous);
	fundus_free(ids);
	fundus_free(paths);
	fundus_free(bases);
	return 0;
}
