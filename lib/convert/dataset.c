/* Dataset operations over record sets: merge, filter, split. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fundus/file.h"
#include "fundus/rng.h"
#include "internal.h"

/* Merge. */

/* Whether two objects are the same annotation (label, box, score and author). */
static int same_object(const struct fundus_object *a, const struct fundus_object *b)
{
	if (strcmp(a->label, b->label) != 0 || a->bbox.x0 != b->bbox.x0 ||
	    a->bbox.y0 != b->bbox.y0 || a->bbox.x1 != b->bbox.x1 || a->bbox.y1 != b->bbox.y1)
		return 0;
	if (isnan(a->score) != isnan(b->score) || (!isnan(a->score) && a->score != b->score))
		return 0;
	if ((a->by == NULL) != (b->by == NULL) || (a->by && strcmp(a->by, b->by) != 0))
		return 0;
	return 1;
}

/* Moves the members of *src that *dst lacks into *dst (objects); frees what is left. */
static int merge_members(cJSON **dst, cJSON **src)
{
	cJSON *c, *next;

	if (*src == NULL)
		return 0;
	if (*dst == NULL) {
		*dst = *src;
		*src = NULL;
		return 0;
	}
	for (c = (*src)->child; c; c = next) {
		next = c->next;
		if (cJSON_GetObjectItemCaseSensitive(*dst, c->string))
			continue;
		cJSON_DetachItemViaPointer(*src, c);
		if (!cJSON_AddItemToObject(*dst, c->string, c)) {
			cJSON_Delete(c);
			return FUNDUS_ENOMEM;
		}
	}
	return 0;
}

/* Merges record s into record d (the same image). */
static int merge_record(struct fundus_record *d, struct fundus_record *s)
{
	const char *name = d->image ? d->image : d->id ? d->id : "?";
	int rc;

	if (d->width && s->width && d->width != s->width)
		return fundus_error_set(FUNDUS_EFORMAT, "image '%s': width %lld here, %lld there",
					name, (long long)d->width, (long long)s->width);
	if (d->height && s->height && d->height != s->height)
		return fundus_error_set(FUNDUS_EFORMAT, "image '%s': height %lld here, %lld there",
					name, (long long)d->height, (long long)s->height);
	if (d->width == 0)
		d->width = s->width, d->height = s->height;
	if (d->image == NULL) {
		d->image = s->image;
		s->image = NULL;
	}
	if (d->id == NULL) {
		d->id = s->id;
		s->id = NULL;
	}
	if ((rc = merge_members(&d->source, &s->source)) < 0 ||
	    (rc = merge_members(&d->meta, &s->meta)) < 0 ||
	    (rc = merge_members(&d->answers, &s->answers)) < 0 ||
	    (rc = merge_members(&d->extra, &s->extra)) < 0)
		return rc;
	for (size_t j = 0; j < s->n_objects; j++) {
		struct fundus_object *o = &s->objects[j];
		int dup = 0;

		for (size_t k = 0; k < d->n_objects && !dup; k++)
			dup = same_object(&d->objects[k], o);
		if (dup)
			continue;
		if ((rc = fundus_record_add_object(d, o->label, &o->bbox, o->score, o->by)) < 0)
			return rc;
		d->objects[d->n_objects - 1].extra = o->extra;
		o->extra = NULL;
	}
	return 0;
}

int fundus_convert_merge(struct fundus_convert_set *dst, struct fundus_convert_set *src)
{
	struct fundus__cv_index by_image = {0}, by_id = {0};
	int rc = 0;
	size_t i, at;

	for (i = 0; i < dst->n && rc >= 0; i++) {
		if (dst->rec[i]->image)
			rc = fundus__cv_index_put(&by_image, dst->rec[i]->image, i);
		else if (dst->rec[i]->id)
			rc = fundus__cv_index_put(&by_id, dst->rec[i]->id, i);
	}
	for (i = 0; i < src->n && rc >= 0; i++) {
		struct fundus_record *s = src->rec[i];
		int found = 0;

		if (s->image)
			found = fundus__cv_index_get(&by_image, s->image, &at);
		else if (s->id)
			found = fundus__cv_index_get(&by_id, s->id, &at);
		if (found) {
			rc = merge_record(dst->rec[at], s);
			fundus_record_free(s);
			src->rec[i] = NULL;
			continue;
		}
		src->rec[i] = NULL;
		if ((rc = fundus_convert_set_add(dst, s)) < 0)
			break;
		if (s->image)
			rc = fundus__cv_index_put(&by_image, s->image, dst->n - 1);
		else if (s->id)
			rc = fundus__cv_index_put(&by_id, s->id, dst->n - 1);
	}
	/* Whatever was not moved (after an error) is freed: src ends empty. */
	for (; i < src->n; i++)
		fundus_record_free(src->rec[i]);
	src->n = 0;
	fundus__cv_index_free(&by_image);
	fundus__cv_index_free(&by_id);
	return rc < 0 ? rc : 0;
}

/* Filter. */

/* Whether s is one of list[0..n). */
static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

int64_t fundus_convert_filter(struct fundus_convert_set *set, const char *const *keep,
			      size_t n_keep, const char *const *drop, size_t n_drop)
{
	int64_t removed = 0;

	for (size_t i = 0; i < set->n; i++) {
		struct fundus_record *r = set->rec[i];
		size_t w = 0;

		for (size_t j = 0; j < r->n_objects; j++) {
			struct fundus_object *o = &r->objects[j];
			int out = (keep && n_keep && !in_list(o->label, keep, n_keep)) ||
				  (drop && in_list(o->label, drop, n_drop));

			if (out) {
				/* What the record owns of an object, as fundus_record_free() frees
				 * it. */
				fundus_free(o->label);
				fundus_free(o->by);
				cJSON_Delete(o->extra);
				removed++;
				continue;
			}
			r->objects[w++] = *o;
		}
		r->n_objects = w;
	}
	return removed;
}

/* Split. */

int fundus_convert_image_key(const struct fundus_record *r, char **out)
{
	uint8_t *data;
	size_t len, n;
	char hex[65];

	*out = NULL;
	if (r->id) {
		*out = fundus_strdup(r->id);
		return *out ? 0 : FUNDUS_ENOMEM;
	}
	if (r->image == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "a record without image or id has no key");
	if (fundus_file_read(r->image, (size_t)1 << 32, &data, &len) == 0) {
		fundus_convert_sha256_hex(data, len, hex);
		fundus_free(data);
		*out = fundus_malloc(72);
		if (*out == NULL)
			return FUNDUS_ENOMEM;
		snprintf(*out, 72, "sha256:%s", hex);
		return 0;
	}
	n = strlen(r->image) + 6;
	*out = fundus_malloc(n);
	if (*out == NULL)
		return FUNDUS_ENOMEM;
	snprintf(*out, n, "path:%s", r->image);
	return FUNDUS_ENOENT;
}

int fundus_convert_split(const struct fundus_convert_set *set, const double *parts, size_t n_parts,
			 int by_count, uint64_t seed, int *part, size_t *unhashed)
{
	struct fundus__cv_index ix = {0};
	char **keys = NULL;
	size_t *group = NULL, *order = NULL, *size = NULL, n_groups = 0;
	double target[3], count[3] = {0, 0, 0}, sum = 0;
	struct fundus_rng rng;
	int rc = 0;

	*unhashed = 0;
	if (n_parts < 2 || n_parts > 3)
		return fundus_error_set(FUNDUS_EINVAL, "a split has 2 or 3 parts");
	for (size_t p = 0; p < n_parts; p++) {
		if (!(parts[p] >= 0) || !isfinite(parts[p]))
			return fundus_error_set(FUNDUS_EINVAL,
						"a part must be a number of 0 or more");
		sum += parts[p];
	}
	if (!(sum > 0))
		return fundus_error_set(FUNDUS_EINVAL, "the parts add up to nothing");
	for (size_t p = 0; p < n_parts; p++)
		target[p] = by_count ? parts[p] : parts[p] / sum * (double)set->n;
	keys = fundus_calloc(set->n + 1, sizeof *keys);
	group = fundus_calloc(set->n + 1, sizeof *group);
	order = fundus_calloc(set->n + 1, sizeof *order);
	size = fundus_calloc(set->n + 1, sizeof *size);
	if (keys == NULL || group == NULL || order == NULL || size == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	/* Group the records by image key, in order of first appearance. */
	for (size_t i = 0; i < set->n; i++) {
		const struct fundus_record *r = set->rec[i];
		size_t g;
		char buf[40];

		if (r->image == NULL && r->id == NULL) {
			snprintf(buf, sizeof buf, "record:%zu", i);
			keys[i] = fundus_strdup(buf);
			if (keys[i] == NULL)
				rc = FUNDUS_ENOMEM;
		} else {
			rc = fundus_convert_image_key(r, &keys[i]);
			if (rc == FUNDUS_ENOENT) {
				(*unhashed)++;
				rc = 0;
			}
		}
		if (rc < 0)
			goto out;
		rc = fundus__cv_index_put(&ix, keys[i], n_groups);
		if (rc < 0)
			goto out;
		if (rc == 1)
			n_groups++;
		fundus__cv_index_get(&ix, keys[i], &g);
		group[i] = g;
		size[g]++;
	}
	rc = 0;
	/* Shuffle the groups (Fisher-Yates), then deal them to the neediest part. */
	for (size_t g = 0; g < n_groups; g++)
		order[g] = g;
	fundus_rng_seed(&rng, seed);
	fundus_rng_shuffle(&rng, order, n_groups);
	{
		int *of_group = fundus_calloc(n_groups + 1, sizeof *of_group);

		if (of_group == NULL) {
			rc = FUNDUS_ENOMEM;
			goto out;
		}
		for (size_t k = 0; k < n_groups; k++) {
			size_t g = order[k];
			int best = -1;

			for (size_t p = 0; p < n_parts; p++) {
				double need = target[p] - count[p];

				if (by_count && need <= 0)
					continue;
				if (best < 0 || need > target[best] - count[best])
					best = (int)p;
			}
			of_group[g] = best;
			if (best >= 0)
				count[best] += (double)size[g];
		}
		for (size_t i = 0; i < set->n; i++)
			part[i] = of_group[group[i]];
		fundus_free(of_group);
	}
out:
	for (size_t i = 0; keys && i < set->n; i++)
		fundus_free(keys[i]);
	fundus_free(keys);
	fundus_free(group);
	fundus_free(order);
	fundus_free(size);
	fundus__cv_index_free(&ix);
	return rc;
}
