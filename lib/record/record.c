/*
 * Records: creation, copying, parsing one line and formatting one line
 * (schema version 1, fundus-formats(5)). The streaming reader is in
 * reader.c, the JSON layer under both in json.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "fundus/record.h"
#include "internal.h"
#include "json.h"

void fundus_record_limits_default(struct fundus_record_limits *lim)
{
	lim->max_line = (size_t)16 << 20;
	lim->max_objects = 100000;
	lim->max_depth = 64;
}

void fundus__record_limits_resolve(struct fundus_record_limits *dst,
				   const struct fundus_record_limits *lim)
{
	fundus_record_limits_default(dst);
	if (lim == NULL)
		return;
	/* A zero field keeps its default, so callers can set just one limit. */
	if (lim->max_line > 0)
		dst->max_line = lim->max_line;
	if (lim->max_objects > 0)
		dst->max_objects = lim->max_objects;
	if (lim->max_depth > 0)
		dst->max_depth = lim->max_depth;
}

int fundus_record_new(struct fundus_record **out)
{
	fundus__json_init();
	*out = fundus_calloc(1, sizeof **out);
	return *out ? 0 : FUNDUS_ENOMEM;
}

/* Frees what an object owns and zeroes it. */
static void object_clear(struct fundus_object *o)
{
	fundus_free(o->label);
	fundus_free(o->by);
	cJSON_Delete(o->extra);
	memset(o, 0, sizeof *o);
}

void fundus_record_clear_objects(struct fundus_record *r)
{
	for (size_t i = 0; i < r->n_objects; i++)
		object_clear(&r->objects[i]);
	r->n_objects = 0;
}

void fundus_record_free(struct fundus_record *r)
{
	if (r == NULL)
		return;
	fundus_free(r->image);
	fundus_free(r->id);
	fundus_record_clear_objects(r);
	fundus_free(r->objects);
	cJSON_Delete(r->source);
	cJSON_Delete(r->meta);
	cJSON_Delete(r->answers);
	cJSON_Delete(r->extra);
	fundus_free(r);
}

int fundus_record_set_string(char **field, const char *s)
{
	char *copy = NULL;

	if (s && (copy = fundus_strdup(s)) == NULL)
		return FUNDUS_ENOMEM;
	fundus_free(*field);
	*field = copy;
	return 0;
}

/* Makes room for one more object. */
static int reserve_object(struct fundus_record *r)
{
	struct fundus_object *o;
	size_t cap, bytes;

	if (r->n_objects < r->cap_objects)
		return 0;
	cap = r->cap_objects ? r->cap_objects : 4;
	if (fundus_size_mul(&cap, cap, 2) < 0 || fundus_size_mul(&bytes, cap, sizeof *o) < 0)
		return FUNDUS_ENOMEM;
	o = fundus_realloc(r->objects, bytes);
	if (o == NULL)
		return FUNDUS_ENOMEM;
	r->objects = o;
	r->cap_objects = cap;
	return 0;
}

int fundus_record_add_object(struct fundus_record *r, const char *label,
			     const struct fundus_box *bbox, double score, const char *by)
{
	struct fundus_object o = {0};

	if (label == NULL || bbox == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "an object needs a label and a box");
	if (reserve_object(r) < 0)
		return FUNDUS_ENOMEM;
	o.label = fundus_strdup(label);
	o.by = by ? fundus_strdup(by) : NULL;
	if (o.label == NULL || (by && o.by == NULL)) {
		object_clear(&o);
		return FUNDUS_ENOMEM;
	}
	o.bbox = *bbox;
	o.score = score;
	r->objects[r->n_objects++] = o;
	return 0;
}

/* Copies a cJSON value (NULL stays NULL); returns 0 or FUNDUS_ENOMEM. */
static int dup_json(const cJSON *v, cJSON **out)
{
	*out = NULL;
	if (v == NULL)
		return 0;
	*out = cJSON_Duplicate(v, 1);
	return *out ? 0 : fundus_error_set(FUNDUS_ENOMEM, "out of memory");
}

int fundus_record_dup(const struct fundus_record *r, struct fundus_record **out)
{
	struct fundus_record *d;
	int rc;

	*out = NULL;
	if ((rc = fundus_record_new(&d)) < 0)
		return rc;
	d->width = r->width;
	d->height = r->height;
	if ((rc = fundus_record_set_string(&d->image, r->image)) < 0 ||
	    (rc = fundus_record_set_string(&d->id, r->id)) < 0 ||
	    (rc = dup_json(r->source, &d->source)) < 0 || (rc = dup_json(r->meta, &d->meta)) < 0 ||
	    (rc = dup_json(r->answers, &d->answers)) < 0 ||
	    (rc = dup_json(r->extra, &d->extra)) < 0)
		goto fail;
	if (r->n_objects > 0) {
		d->objects = fundus_calloc(r->n_objects, sizeof *d->objects);
		if (d->objects == NULL) {
			rc = FUNDUS_ENOMEM;
			goto fail;
		}
		d->cap_objects = r->n_objects;
	}
	for (size_t i = 0; i < r->n_objects; i++) {
		const struct fundus_object *s = &r->objects[i];
		struct fundus_object *o = &d->objects[i];

		d->n_objects = i + 1;
		o->bbox = s->bbox;
		o->score = s->score;
		if ((rc = fundus_record_set_string(&o->label, s->label)) < 0 ||
		    (rc = fundus_record_set_string(&o->by, s->by)) < 0 ||
		    (rc = dup_json(s->extra, &o->extra)) < 0)
			goto fail;
	}
	*out = d;
	return 0;
fail:
	fundus_record_free(d);
	return rc;
}

/* Parsing. */

/* Moves the string out of a cJSON string item into *dst (both use fundus_malloc). */
static int take_string(cJSON *it, const struct fundus__jpath *p, int nonempty, char **dst)
{
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return fundus__json_error(p, FUNDUS_EFORMAT, "expected %s, found %s",
					  nonempty ? "a non-empty string" : "a string",
					  fundus__json_type_name(it));
	if (nonempty && it->valuestring[0] == '\0')
		return fundus__json_error(p, FUNDUS_EFORMAT,
					  "expected a non-empty string, found \"\"");
	fundus_free(*dst);
	*dst = it->valuestring;
	it->valuestring = NULL;
	return 0;
}

/* width and height: integers that fit in 31 bits, as image codecs do. */
static int take_dimension(const cJSON *it, const struct fundus__jpath *p, int64_t *dst)
{
	double d = it->valuedouble;

	if (!cJSON_IsNumber(it))
		return fundus__json_error(p, FUNDUS_EFORMAT,
					  "expected an integer from 0 to %d, found %s", INT32_MAX,
					  fundus__json_type_name(it));
	if (!(d >= 0 && d <= INT32_MAX && d == floor(d))) {
		char num[32];

		fundus__json_format_number(d, num);
		return fundus__json_error(p, FUNDUS_EFORMAT,
					  "expected an integer from 0 to %d, found %s", INT32_MAX,
					  num);
	}
	*dst = (int64_t)d;
	return 0;
}

/* Reads "bbox": exactly 4 numbers. */
static int take_bbox(const cJSON *it, const struct fundus__jpath *p, struct fundus_box *box)
{
	static const char expect[] = "expected an array of 4 numbers [x0, y0, x1, y1]";
	double v[4];
	size_t n = 0;

	if (!cJSON_IsArray(it))
		return fundus__json_error(p, FUNDUS_EFORMAT, "%s, found %s", expect,
					  fundus__json_type_name(it));
	for (const cJSON *c = it->child; c; c = c->next, n++) {
		if (!cJSON_IsNumber(c))
			return fundus__json_error(p, FUNDUS_EFORMAT, "%s, found %s at index %zu",
						  expect, fundus__json_type_name(c), n);
		if (n < 4)
			v[n] = c->valuedouble;
	}
	if (n != 4)
		return fundus__json_error(p, FUNDUS_EFORMAT, "%s, found %zu values", expect, n);
	box->x0 = v[0];
	box->y0 = v[1];
	box->x1 = v[2];
	box->y1 = v[3];
	return 0;
}

/*
 * Fills o from the JSON object e. Known members are taken out of e; what is
 * left in e are the object's extra fields, in input order.
 */
static int take_object(cJSON *e, struct fundus_object *o, struct fundus__jpath *p)
{
	int have_bbox = 0, rc = 0;
	cJSON *m, *next;
	size_t saved;

	for (m = e->child; m && rc == 0; m = next) {
		next = m->next;
		saved = fundus__jpath_key(p, m->string);
		if (strcmp(m->string, "label") == 0) {
			rc = take_string(m, p, 1, &o->label);
		} else if (strcmp(m->string, "bbox") == 0) {
			rc = take_bbox(m, p, &o->bbox);
			have_bbox = 1;
		} else if (strcmp(m->string, "score") == 0) {
			if (cJSON_IsNumber(m))
				o->score = m->valuedouble;
			else
				rc = fundus__json_error(p, FUNDUS_EFORMAT,
							"expected a number, found %s",
							fundus__json_type_name(m));
		} else if (strcmp(m->string, "by") == 0) {
			rc = take_string(m, p, 0, &o->by);
		} else {
			fundus__jpath_pop(p, saved);
			continue;
		}
		fundus__jpath_pop(p, saved);
		cJSON_Delete(cJSON_DetachItemViaPointer(e, m));
	}
	if (rc < 0)
		return rc;
	if (o->label == NULL || !have_bbox) {
		saved = fundus__jpath_key(p, o->label == NULL ? "label" : "bbox");
		rc = fundus__json_error(p, FUNDUS_EFORMAT, "missing");
		fundus__jpath_pop(p, saved);
	}
	return rc;
}

/* Reads "objects" into r, taking each element out of arr. */
static int take_objects(cJSON *arr, const struct fundus_record_limits *lim, struct fundus_record *r,
			struct fundus__jpath *p)
{
	cJSON *e, *next;
	size_t n = 0, i = 0;

	if (!cJSON_IsArray(arr))
		return fundus__json_error(p, FUNDUS_EFORMAT, "expected an array, found %s",
					  fundus__json_type_name(arr));
	for (e = arr->child; e; e = e->next)
		n++;
	if (n > lim->max_objects)
		return fundus__json_error(p, FUNDUS_ELIMIT,
					  "%zu objects, more than the limit of %zu", n,
					  lim->max_objects);
	if (n == 0)
		return 0;
	r->objects = fundus_calloc(n, sizeof *r->objects);
	if (r->objects == NULL)
		return FUNDUS_ENOMEM;
	r->cap_objects = n;
	for (e = arr->child; e; e = next, i++) {
		struct fundus_object *o = &r->objects[i];
		size_t saved = fundus__jpath_index(p, i);
		int rc;

		next = e->next;
		r->n_objects = i + 1;
		o->score = NAN;
		if (!cJSON_IsObject(e))
			rc = fundus__json_error(p, FUNDUS_EFORMAT, "expected an object, found %s",
						fundus__json_type_name(e));
		else
			rc = take_object(e, o, p);
		fundus__jpath_pop(p, saved);
		if (rc < 0)
			return rc;
		cJSON_DetachItemViaPointer(arr, e);
		if (e->child)
			o->extra = e;
		else
			cJSON_Delete(e);
	}
	return 0;
}

/* Checks "v" before anything else: a newer record may use the fields differently. */
static int check_version(const cJSON *root)
{
	for (const cJSON *it = root->child; it; it = it->next) {
		char num[32];
		double v = it->valuedouble;

		if (strcmp(it->string, "v") != 0)
			continue;
		if (!cJSON_IsNumber(it) || !(v >= 1 && v == floor(v)))
			return fundus_error_set(
			    FUNDUS_EFORMAT, "v: expected a positive integer, found %s",
			    cJSON_IsNumber(it) ? "another number" : fundus__json_type_name(it));
		if (v > FUNDUS_RECORD_VERSION) {
			fundus__json_format_number(v, num);
			return fundus_error_set(
			    FUNDUS_EUNSUPPORTED,
			    "record schema version %s is newer than this fundus (%d)", num,
			    FUNDUS_RECORD_VERSION);
		}
	}
	return 0;
}

/* Builds a record from a parsed JSON object, consuming root. */
static int record_from_json(cJSON *root, const struct fundus_record_limits *lim,
			    struct fundus_record **out)
{
	struct fundus__jpath path = {{0}, 0};
	struct fundus_record *r;
	cJSON *it, *next;
	int rc;

	if ((rc = check_version(root)) < 0 || (rc = fundus_record_new(&r)) < 0) {
		cJSON_Delete(root);
		return rc;
	}
	for (it = root->child; it; it = next) {
		const char *k = it->string;
		cJSON **tree = NULL;
		size_t saved;

		next = it->next;
		saved = fundus__jpath_key(&path, k);
		if (strcmp(k, "image") == 0)
			rc = take_string(it, &path, 0, &r->image);
		else if (strcmp(k, "id") == 0)
			rc = take_string(it, &path, 0, &r->id);
		else if (strcmp(k, "width") == 0)
			rc = take_dimension(it, &path, &r->width);
		else if (strcmp(k, "height") == 0)
			rc = take_dimension(it, &path, &r->height);
		else if (strcmp(k, "objects") == 0)
			rc = take_objects(it, lim, r, &path);
		else if (strcmp(k, "source") == 0)
			tree = &r->source;
		else if (strcmp(k, "meta") == 0)
			tree = &r->meta;
		else if (strcmp(k, "answers") == 0)
			tree = &r->answers;
		else if (strcmp(k, "v") != 0) {
			/* Unknown: stays in root, which becomes the extra fields. */
			fundus__jpath_pop(&path, saved);
			continue;
		}
		if (tree && !cJSON_IsObject(it))
			rc = fundus__json_error(&path, FUNDUS_EFORMAT,
						"expected an object, found %s",
						fundus__json_type_name(it));
		fundus__jpath_pop(&path, saved);
		if (rc < 0)
			break;
		cJSON_DetachItemViaPointer(root, it);
		if (tree) {
			/* Detached values keep their key; a record's trees have none. */
			fundus_free(it->string);
			it->string = NULL;
			*tree = it;
		} else {
			cJSON_Delete(it);
		}
	}
	if (rc < 0) {
		cJSON_Delete(root);
		fundus_record_free(r);
		return rc;
	}
	if (root->child)
		r->extra = root;
	else
		cJSON_Delete(root);
	*out = r;
	return 0;
}

int fundus_record_parse(const char *text, size_t len, const struct fundus_record_limits *lim,
			struct fundus_record **out)
{
	struct fundus_record_limits l;
	cJSON *root;
	int rc;

	*out = NULL;
	fundus__record_limits_resolve(&l, lim);
	if (len > l.max_line)
		return fundus_error_set(FUNDUS_ELIMIT, "longer than %zu bytes", l.max_line);
	if ((rc = fundus__json_parse(text, len, l.max_depth, &root)) < 0)
		return rc;
	if (!cJSON_IsObject(root)) {
		rc = fundus_error_set(FUNDUS_EFORMAT, "expected a JSON object, found %s",
				      fundus__json_type_name(root));
		cJSON_Delete(root);
		return rc;
	}
	return record_from_json(root, &l, out);
}

/* Formatting. */

static const char *const known_fields[] = {"image", "id",      "width",   "height", "source",
					   "meta",  "objects", "answers", "v"};
static const char *const known_object_fields[] = {"label", "bbox", "score", "by"};

/* Appends ',' unless the object just opened; then "key":. Keys here need no escaping. */
static int put_key(struct fundus__jbuf *b, size_t open, const char *key)
{
	int rc = 0;

	if (b->len > open + 1)
		rc = fundus__jbuf_put(b, ",", 1);
	if (rc == 0)
		rc = fundus__jbuf_put(b, "\"", 1);
	if (rc == 0)
		rc = fundus__jbuf_put(b, key, strlen(key));
	if (rc == 0)
		rc = fundus__jbuf_put(b, "\":", 2);
	return rc;
}

/* Writes a cJSON object-valued field (source, meta, answers). */
static int put_tree(struct fundus__jbuf *b, size_t open, const char *key, const cJSON *v,
		    struct fundus__jpath *p)
{
	size_t saved;
	int rc;

	if (v == NULL)
		return 0;
	saved = fundus__jpath_key(p, key);
	if (!cJSON_IsObject(v))
		rc = fundus__json_error(p, FUNDUS_EINVAL, "expected an object, found %s",
					fundus__json_type_name(v));
	else if ((rc = put_key(b, open, key)) == 0)
		rc = fundus__json_write_value(b, v, p);
	fundus__jpath_pop(p, saved);
	return rc;
}

/*
 * Writes the members of extra after the known fields of the object that
 * opened at b->data[open]. A member named like a known field would make a
 * duplicate key, which no reader accepts.
 */
static int put_extra(struct fundus__jbuf *b, size_t open, const cJSON *extra,
		     const char *const *known, size_t n_known, struct fundus__jpath *p)
{
	int rc;

	if (extra == NULL)
		return 0;
	if (!cJSON_IsObject(extra))
		return fundus__json_error(p, FUNDUS_EINVAL,
					  "extra fields: expected an object, found %s",
					  fundus__json_type_name(extra));
	if ((rc = fundus__json_check_keys(extra, p, FUNDUS_EINVAL)) < 0)
		return rc;
	for (const cJSON *c = extra->child; c; c = c->next) {
		size_t saved;

		if (c->string == NULL)
			return fundus__json_error(p, FUNDUS_EINVAL, "extra field without a key");
		for (size_t k = 0; k < n_known; k++)
			if (strcmp(c->string, known[k]) == 0)
				return fundus__json_error(
				    p, FUNDUS_EINVAL,
				    "extra field \"%s\" has the name of a known field", known[k]);
		if (b->len > open + 1 && (rc = fundus__jbuf_put(b, ",", 1)) < 0)
			return rc;
		if ((rc = fundus__json_write_string(b, c->string, p)) < 0 ||
		    (rc = fundus__jbuf_put(b, ":", 1)) < 0)
			return rc;
		saved = fundus__jpath_key(p, c->string);
		rc = fundus__json_write_value(b, c, p);
		fundus__jpath_pop(p, saved);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Writes "width" or "height", unless 0 (unknown). */
static int put_dimension(struct fundus__jbuf *b, const char *key, int64_t v,
			 struct fundus__jpath *p)
{
	char num[32];
	int n;

	if (v == 0)
		return 0;
	if (v < 0 || v > INT32_MAX) {
		size_t saved = fundus__jpath_key(p, key);
		int rc = fundus__json_error(
		    p, FUNDUS_EINVAL, "%" PRId64 " is not an integer from 0 to %d", v, INT32_MAX);

		fundus__jpath_pop(p, saved);
		return rc;
	}
	n = snprintf(num, sizeof num, "%" PRId64, v);
	if (put_key(b, 0, key) < 0)
		return FUNDUS_ENOMEM;
	return fundus__jbuf_put(b, num, (size_t)n);
}

/* Writes one object: label, bbox, score, by, then its extra fields. */
static int put_object(struct fundus__jbuf *b, const struct fundus_object *o,
		      struct fundus__jpath *p)
{
	const double v[4] = {o->bbox.x0, o->bbox.y0, o->bbox.x1, o->bbox.y1};
	size_t open = b->len, saved;
	int rc;

	if ((rc = fundus__jbuf_put(b, "{", 1)) < 0)
		return rc;
	saved = fundus__jpath_key(p, "label");
	if (o->label == NULL || o->label[0] == '\0')
		rc = fundus__json_error(p, FUNDUS_EINVAL, "missing or empty");
	else if ((rc = put_key(b, open, "label")) == 0)
		rc = fundus__json_write_string(b, o->label, p);
	fundus__jpath_pop(p, saved);
	if (rc < 0 || (rc = put_key(b, open, "bbox")) < 0 || (rc = fundus__jbuf_put(b, "[", 1)) < 0)
		return rc;
	saved = fundus__jpath_key(p, "bbox");
	for (int i = 0; i < 4 && rc == 0; i++)
		if ((rc = fundus__json_write_number(b, v[i], p)) == 0 && i < 3)
			rc = fundus__jbuf_put(b, ",", 1);
	fundus__jpath_pop(p, saved);
	if (rc < 0 || (rc = fundus__jbuf_put(b, "]", 1)) < 0)
		return rc;
	if (!isnan(o->score)) {
		saved = fundus__jpath_key(p, "score");
		if ((rc = put_key(b, open, "score")) == 0)
			rc = fundus__json_write_number(b, o->score, p);
		fundus__jpath_pop(p, saved);
		if (rc < 0)
			return rc;
	}
	if (o->by) {
		saved = fundus__jpath_key(p, "by");
		if ((rc = put_key(b, open, "by")) == 0)
			rc = fundus__json_write_string(b, o->by, p);
		fundus__jpath_pop(p, saved);
		if (rc < 0)
			return rc;
	}
	if ((rc = put_extra(b, open, o->extra, known_object_fields,
			    sizeof known_object_fields / sizeof known_object_fields[0], p)) < 0)
		return rc;
	return fundus__jbuf_put(b, "}", 1);
}

/* Writes r as one line (with "\n") into b; the record itself is checked on the way. */
static int put_record(struct fundus__jbuf *b, const struct fundus_record *r)
{
	struct fundus__jpath path = {{0}, 0};
	size_t saved;
	int rc;

	if ((rc = fundus__jbuf_put(b, "{", 1)) < 0)
		return rc;
	if (r->image) {
		saved = fundus__jpath_key(&path, "image");
		if ((rc = put_key(b, 0, "image")) == 0)
			rc = fundus__json_write_string(b, r->image, &path);
		fundus__jpath_pop(&path, saved);
		if (rc < 0)
			return rc;
	}
	if (r->id) {
		saved = fundus__jpath_key(&path, "id");
		if ((rc = put_key(b, 0, "id")) == 0)
			rc = fundus__json_write_string(b, r->id, &path);
		fundus__jpath_pop(&path, saved);
		if (rc < 0)
			return rc;
	}
	if ((rc = put_dimension(b, "width", r->width, &path)) < 0 ||
	    (rc = put_dimension(b, "height", r->height, &path)) < 0 ||
	    (rc = put_tree(b, 0, "source", r->source, &path)) < 0 ||
	    (rc = put_tree(b, 0, "meta", r->meta, &path)) < 0 ||
	    (rc = put_key(b, 0, "objects")) < 0 || (rc = fundus__jbuf_put(b, "[", 1)) < 0)
		return rc;
	for (size_t i = 0; i < r->n_objects; i++) {
		if (i > 0 && (rc = fundus__jbuf_put(b, ",", 1)) < 0)
			return rc;
		saved = fundus__jpath_key(&path, "objects");
		fundus__jpath_index(&path, i);
		rc = put_object(b, &r->objects[i], &path);
		fundus__jpath_pop(&path, saved);
		if (rc < 0)
			return rc;
	}
	if ((rc = fundus__jbuf_put(b, "]", 1)) < 0 ||
	    (rc = put_tree(b, 0, "answers", r->answers, &path)) < 0 ||
	    (rc = put_extra(b, 0, r->extra, known_fields,
			    sizeof known_fields / sizeof known_fields[0], &path)) < 0)
		return rc;
	return fundus__jbuf_put(b, "}\n", 2);
}

int fundus_record_format(const struct fundus_record *r, char **line, size_t *len)
{
	struct fundus__jbuf b = {0};
	int rc;

	*line = NULL;
	fundus__json_init();
	if ((rc = put_record(&b, r)) < 0) {
		fundus_free(b.data);
		return rc;
	}
	*line = b.data;
	if (len)
		*len = b.len;
	return 0;
}

int fundus_record_write(FILE *f, const struct fundus_record *r)
{
	size_t len, off = 0;
	char *line;
	int rc, fd;

	if ((rc = fundus_record_format(r, &line, &len)) < 0)
		return rc;
	flockfile(f);
	fd = fileno(f);
	if (fd < 0) {
		/* A stream on memory (fmemopen): no descriptor, and no one else appending. */
		if (fwrite(line, 1, len, f) != len)
			rc = fundus_error_errno(FUNDUS_EIO, errno, "write failed");
	} else if (fflush(f) != 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "write failed");
	} else {
		/*
		 * One write(2) for the whole line: stdio would cut a line longer
		 * than its buffer into several, and another process appending to
		 * the same file could then land between them.
		 */
		while (off < len) {
			ssize_t n = write(fd, line + off, len - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = fundus_error_errno(FUNDUS_EIO, n < 0 ? errno : EIO,
							"write failed");
				break;
			}
			off += (size_t)n;
		}
	}
	funlockfile(f);
	fundus_free(line);
	return rc;
}
