/*
 * Validation of a record set: boxes, labels, duplicates, and sizes
 * against the image files' headers (cheap: no pixel is decoded).
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fundus/image.h"
#include "internal.h"

void fundus_convert_validate_options_default(struct fundus_convert_validate_options *vo)
{
	memset(vo, 0, sizeof *vo);
	vo->check_files = 1;
	vo->max_issues = 1000;
}

struct vstate {
	const struct fundus_convert_validate_options *vo;
	cJSON *issues;
	int64_t errors, warnings;
	size_t listed;
	int oom;
};

/* Records one issue; warnings count as errors under strict. */
static void issue(struct vstate *st, int warning, const char *check, size_t rec,
		  const struct fundus_record *r, long object, const char *fmt, ...)
    FUNDUS_PRINTF(7, 8);

static void issue(struct vstate *st, int warning, const char *check, size_t rec,
		  const struct fundus_record *r, long object, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	cJSON *it;

	if (warning && !st->vo->strict)
		st->warnings++;
	else
		st->errors++;
	if (st->listed >= st->vo->max_issues)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	it = cJSON_CreateObject();
	if (it == NULL ||
	    !cJSON_AddStringToObject(it, "severity",
				     warning && !st->vo->strict ? "warning" : "error") ||
	    !cJSON_AddStringToObject(it, "check", check) ||
	    !cJSON_AddNumberToObject(it, "record", (double)(rec + 1)) ||
	    (r->image && !cJSON_AddStringToObject(it, "image", r->image)) ||
	    (object >= 0 && !cJSON_AddNumberToObject(it, "object", (double)object)) ||
	    !cJSON_AddStringToObject(it, "message", msg) || !cJSON_AddItemToArray(st->issues, it)) {
		cJSON_Delete(it);
		st->oom = 1;
		return;
	}
	st->listed++;
}

/* The box as text for messages. */
static void box_text(const struct fundus_box *b, char *buf, size_t size)
{
	char a[32], c[32], d[32], e[32];

	fundus__cv_format(b->x0, a);
	fundus__cv_format(b->y0, c);
	fundus__cv_format(b->x1, d);
	fundus__cv_format(b->y1, e);
	snprintf(buf, size, "[%s,%s,%s,%s]", a, c, d, e);
}

/* Checks one record's size against its image file; returns the size to check boxes with. */
static void check_file(struct vstate *st, size_t i, const struct fundus_record *r, int64_t *w,
		       int64_t *h)
{
	struct fundus_image_source *src;
	const struct fundus_image_info *info;
	char *path;

	*w = r->width;
	*h = r->height;
	if (!st->vo->check_files || r->image == NULL)
		return;
	path = fundus__cv_join(r->image[0] == '/' ? NULL : st->vo->image_dir, r->image);
	if (path == NULL) {
		st->oom = 1;
		return;
	}
	if (fundus_image_open(&src, path, NULL) < 0) {
		issue(st, 1, "missing_image", i, r, -1, "cannot read the image: %s",
		      fundus_errmsg());
		fundus_free(path);
		return;
	}
	info = fundus_image_source_info(src);
	if (r->width > 0 && r->height > 0 && (r->width != info->width || r->height != info->height))
		issue(st, 0, "size_mismatch", i, r, -1,
		      "the record says %" PRId64 " x %" PRId64 ", the image file is %d x %d",
		      r->width, r->height, info->width, info->height);
	if (*w <= 0 || *h <= 0) {
		*w = info->width;
		*h = info->height;
	}
	fundus_image_close(src);
	fundus_free(path);
}

int fundus_convert_validate(const struct fundus_convert_set *set,
			    const struct fundus_convert_validate_options *vo, cJSON **report,
			    int64_t counts[2])
{
	struct fundus_convert_validate_options def;
	struct fundus__cv_index by_image = {0}, by_id = {0};
	struct vstate st;
	int64_t objects = 0;
	cJSON *rep;
	int rc = 0;

	*report = NULL;
	if (vo == NULL) {
		fundus_convert_validate_options_default(&def);
		vo = &def;
	}
	memset(&st, 0, sizeof st);
	st.vo = vo;
	st.issues = cJSON_CreateArray();
	if (st.issues == NULL)
		return FUNDUS_ENOMEM;
	for (size_t i = 0; i < set->n && !st.oom; i++) {
		const struct fundus_record *r = set->rec[i];
		int64_t w, h;
		size_t at;

		objects += (int64_t)r->n_objects;
		if (r->image) {
			rc = fundus__cv_index_put(&by_image, r->image, i);
			if (rc < 0)
				break;
			if (rc == 0) {
				fundus__cv_index_get(&by_image, r->image, &at);
				issue(&st, 0, "duplicate_image", i, r, -1,
				      "the image is also in record %zu", at + 1);
			}
		}
		if (r->id) {
			rc = fundus__cv_index_put(&by_id, r->id, i);
			if (rc < 0)
				break;
			if (rc == 0) {
				const struct fundus_record *o;

				fundus__cv_index_get(&by_id, r->id, &at);
				o = set->rec[at];
				if (!(r->image && o->image && strcmp(r->image, o->image) == 0))
					issue(&st, 1, "duplicate_id", i, r, -1,
					      "the same picture (id %s) as record %zu%s%s%s", r->id,
					      at + 1, o->image ? " ('" : "",
					      o->image ? o->image : "", o->image ? "')" : "");
			}
		}
		rc = 0;
		check_file(&st, i, r, &w, &h);
		if ((w <= 0 || h <= 0) && r->n_objects)
			issue(&st, 1, "no_size", i, r, -1,
			      "no image size: boxes cannot be checked against the image");
		for (size_t j = 0; j < r->n_objects && !st.oom; j++) {
			const struct fundus_object *o = &r->objects[j];
			const struct fundus_box *b = &o->bbox;
			char bt[160];
			int finite = fabs(b->x0) < FUNDUS__CV_MAX_COORD &&
				     fabs(b->y0) < FUNDUS__CV_MAX_COORD &&
				     fabs(b->x1) < FUNDUS__CV_MAX_COORD &&
				     fabs(b->y1) < FUNDUS__CV_MAX_COORD;

			box_text(b, bt, sizeof bt);
			if (vo->labels && !fundus_convert_labels_find(vo->labels, o->label))
				issue(&st, 0, "unknown_label", i, r, (long)j,
				      "label \"%s\" is not in the label map", o->label);
			if (!finite) {
				issue(&st, 0, "bad_number", i, r, (long)j,
				      "box %s has a coordinate beyond 2^31", bt);
				continue;
			}
			if (!(b->x1 > b->x0) || !(b->y1 > b->y0)) {
				issue(&st, 0, "empty_box", i, r, (long)j,
				      "box %s has zero or negative %s", bt,
				      !(b->x1 > b->x0) ? "width" : "height");
				continue;
			}
			if (w <= 0 || h <= 0)
				continue;
			if (b->x1 <= 0 || b->y1 <= 0 || b->x0 >= (double)w || b->y0 >= (double)h)
				issue(&st, 0, "box_outside", i, r, (long)j,
				      "box %s lies outside the %" PRId64 " x %" PRId64 " image", bt,
				      w, h);
			else if (b->x0 < 0 || b->y0 < 0 || b->x1 > (double)w || b->y1 > (double)h)
				issue(&st, 1, "box_partly_outside", i, r, (long)j,
				      "box %s reaches outside the %" PRId64 " x %" PRId64 " image",
				      bt, w, h);
			if (!isnan(o->score) && !(o->score >= 0 && o->score <= 1))
				issue(&st, 1, "bad_score", i, r, (long)j,
				      "score %g is not between 0 and 1", o->score);
		}
	}
	fundus__cv_index_free(&by_image);
	fundus__cv_index_free(&by_id);
	if (rc < 0 || st.oom) {
		cJSON_Delete(st.issues);
		return FUNDUS_ENOMEM;
	}
	rep = cJSON_CreateObject();
	if (rep == NULL || !cJSON_AddNumberToObject(rep, "records", (double)set->n) ||
	    !cJSON_AddNumberToObject(rep, "objects", (double)objects) ||
	    !cJSON_AddNumberToObject(rep, "errors", (double)st.errors) ||
	    !cJSON_AddNumberToObject(rep, "warnings", (double)st.warnings) ||
	    !cJSON_AddItemToObject(rep, "issues", st.issues)) {
		cJSON_Delete(rep);
		cJSON_Delete(st.issues);
		return FUNDUS_ENOMEM;
	}
	if (counts) {
		counts[0] = st.errors;
		counts[1] = st.warnings;
	}
	*report = rep;
	return 0;
}
