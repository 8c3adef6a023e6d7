/*
 * Record sets, label maps, renames, reports, and the small helpers every
 * format shares: a hash index, paths, image sizes, positions in messages.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fundus/convert.h"
#include "fundus/file.h"
#include "fundus/image.h"
#include "internal.h"

/* Sets. */

int fundus_convert_set_new(struct fundus_convert_set **out)
{
	*out = fundus_calloc(1, sizeof **out);
	return *out ? 0 : FUNDUS_ENOMEM;
}

void fundus_convert_set_free(struct fundus_convert_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		fundus_record_free(set->rec[i]);
	fundus_free(set->rec);
	fundus_free(set);
}

int fundus_convert_set_add(struct fundus_convert_set *set, struct fundus_record *r)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct fundus_record **v = fundus_realloc(set->rec, cap * sizeof *v);

		if (v == NULL) {
			fundus_record_free(r);
			return FUNDUS_ENOMEM;
		}
		set->rec = v;
		set->cap = cap;
	}
	set->rec[set->n++] = r;
	return 0;
}

/* Options. */

void fundus_convert_options_default(struct fundus_convert_options *o)
{
	memset(o, 0, sizeof *o);
	o->from = FUNDUS_CONVERT_AUTO;
	o->to = FUNDUS_CONVERT_RECORDS;
	o->first_id = 1;
	o->read_headers = 1;
	o->csv_coords = FUNDUS_CSV_NATIVE;
	o->mask_mode = FUNDUS_MASK_REGIONS;
	o->mask_label = "object";
	o->max_bytes = (size_t)1 << 30;
}

static const char *const format_names[] = {
    [FUNDUS_CONVERT_AUTO] = "auto", [FUNDUS_CONVERT_RECORDS] = "records",
    [FUNDUS_CONVERT_COCO] = "coco", [FUNDUS_CONVERT_COCO_RESULTS] = "coco-results",
    [FUNDUS_CONVERT_VOC] = "voc",   [FUNDUS_CONVERT_CSV] = "csv",
    [FUNDUS_CONVERT_YOLO] = "yolo", [FUNDUS_CONVERT_MASKS] = "masks",
};

const char *fundus_convert_format_name(enum fundus_convert_format f)
{
	if ((unsigned)f < sizeof format_names / sizeof format_names[0])
		return format_names[f];
	return "unknown";
}

int fundus_convert_format_parse(const char *name, enum fundus_convert_format *out)
{
	for (size_t i = 0; i < sizeof format_names / sizeof format_names[0]; i++)
		if (strcmp(name, format_names[i]) == 0) {
			*out = (enum fundus_convert_format)i;
			return 0;
		}
	if (strcmp(name, "jsonl") == 0 || strcmp(name, "fundus") == 0) {
		*out = FUNDUS_CONVERT_RECORDS;
		return 0;
	}
	if (strcmp(name, "pascal-voc") == 0 || strcmp(name, "pascal") == 0) {
		*out = FUNDUS_CONVERT_VOC;
		return 0;
	}
	return fundus_error_set(FUNDUS_EINVAL,
				"unknown format '%s' (records, coco, coco-results, voc, csv, yolo, "
				"masks)",
				name);
}

/* Reports. */

int fundus__cv_labels_cover(const struct fundus_convert_labels *m,
			    const struct fundus_convert_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		for (size_t j = 0; j < set->rec[i]->n_objects; j++)
			if (!fundus_convert_labels_find(m, set->rec[i]->objects[j].label))
				return fundus_error_set(FUNDUS_EINVAL,
							"label \"%s\" is not in the label map",
							set->rec[i]->objects[j].label);
	return 0;
}

/* The output file name of record r (the i-th): its image's stem plus ext. */
static char *file_name(const struct fundus_record *r, size_t i, const char *ext)
{
	size_t e = strlen(ext), n;
	const char *base;
	char *s;

	if (r->image == NULL) {
		s = fundus_malloc(24 + e);
		if (s)
			snprintf(s, 24 + e, "%zu%s", i + 1, ext);
		return s;
	}
	base = fundus__cv_basename(r->image);
	n = fundus__cv_stem_len(base);
	s = fundus_malloc(n + e + 1);
	if (s) {
		memcpy(s, base, n);
		memcpy(s + n, ext, e + 1);
	}
	return s;
}

int fundus__cv_name_files(const struct fundus_convert_set *set, const char *ext, char **fn)
{
	struct fundus__cv_index names = {0};
	int rc = 0;

	for (size_t i = 0; i < set->n && rc >= 0; i++) {
		size_t at;

		if ((fn[i] = file_name(set->rec[i], i, ext)) == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		rc = fundus__cv_index_put(&names, fn[i], i);
		if (rc == 0) {
			fundus__cv_index_get(&names, fn[i], &at);
			rc = fundus_error_set(FUNDUS_EINVAL,
					      "images '%s' and '%s' would both be written to '%s'",
					      set->rec[at]->image, set->rec[i]->image, fn[i]);
		}
	}
	fundus__cv_index_free(&names);
	return rc < 0 ? rc : 0;
}

void fundus__cv_report_begin(struct fundus_convert_report *rep, const char *what)
{
	if (rep == NULL)
		return;
	memset(rep, 0, sizeof *rep);
	rep->what = what;
}

void fundus__cv_loss(struct fundus_convert_report *rep, const char *field, const char *unit,
		     int64_t n)
{
	size_t i;

	if (rep == NULL || n <= 0)
		return;
	for (i = 0; i < rep->n_loss; i++)
		if (strcmp(rep->loss[i].field, field) == 0 &&
		    strcmp(rep->loss[i].unit, unit) == 0) {
			rep->loss[i].count += n;
			return;
		}
	if (i == FUNDUS_CONVERT_MAX_LOSS)
		i--; /* the last slot gathers the rest */
	else
		rep->n_loss++;
	snprintf(rep->loss[i].field, sizeof rep->loss[i].field, "%s", field);
	rep->loss[i].unit = unit;
	rep->loss[i].count = n;
}

const char *fundus_convert_report_line(const struct fundus_convert_report *rep, char *buf,
				       size_t size)
{
	size_t len = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (rep == NULL || rep->n_loss == 0)
		return buf;
	len =
	    (size_t)snprintf(buf, size, "%s cannot carry: ", rep->what ? rep->what : "the output");
	for (size_t i = 0; i < rep->n_loss && len < size; i++) {
		const char *unit = rep->loss[i].unit;
		char u[40];

		/* "1 objects" reads badly: take the plural's final s off for one. */
		snprintf(u, sizeof u, "%s", unit);
		if (rep->loss[i].count == 1 && strlen(u) > 3 &&
		    strcmp(u + strlen(u) - 3, "ies") == 0)
			snprintf(u + strlen(u) - 3, 4, "y");
		else if (rep->loss[i].count == 1 && strlen(u) > 1 && u[strlen(u) - 1] == 's')
			u[strlen(u) - 1] = '\0';
		len += (size_t)snprintf(buf + len, size - len, "%s%s (%" PRId64 " %s)",
					i ? ", " : "", rep->loss[i].field, rep->loss[i].count, u);
	}
	if (rep->hint && len < size)
		snprintf(buf + len, size - len, " (%s)", rep->hint);
	return buf;
}

/* Label maps. */

int fundus_convert_labels_new(struct fundus_convert_labels **out)
{
	*out = fundus_calloc(1, sizeof **out);
	return *out ? 0 : FUNDUS_ENOMEM;
}

void fundus_convert_labels_free(struct fundus_convert_labels *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		fundus_free(m->v[i].name);
		fundus_free(m->v[i].supercategory);
	}
	fundus_free(m->v);
	cJSON_Delete(m->extra);
	fundus_free(m);
}

const struct fundus_convert_label *fundus_convert_labels_find(const struct fundus_convert_labels *m,
							      const char *name)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (strcmp(m->v[i].name, name) == 0)
			return &m->v[i];
	return NULL;
}

const struct fundus_convert_label *
fundus_convert_labels_find_id(const struct fundus_convert_labels *m, int64_t id)
{
	for (size_t i = 0; m && i < m->n; i++)
		if (m->v[i].id == id)
			return &m->v[i];
	return NULL;
}

int fundus_convert_labels_add(struct fundus_convert_labels *m, const char *name, int64_t id,
			      const char *supercategory)
{
	struct fundus_convert_label *e;

	if (name == NULL || name[0] == '\0')
		return fundus_error_set(FUNDUS_EINVAL, "empty label name");
	if (fundus_convert_labels_find(m, name))
		return fundus_error_set(FUNDUS_EINVAL, "label \"%s\" is in the map twice", name);
	if (fundus_convert_labels_find_id(m, id))
		return fundus_error_set(FUNDUS_EINVAL, "id %" PRId64 " is in the map twice", id);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct fundus_convert_label *v = fundus_realloc(m->v, cap * sizeof *v);

		if (v == NULL)
			return FUNDUS_ENOMEM;
		m->v = v;
		m->cap = cap;
	}
	e = &m->v[m->n];
	e->name = fundus_strdup(name);
	e->supercategory = supercategory ? fundus_strdup(supercategory) : NULL;
	e->id = id;
	if (e->name == NULL || (supercategory && e->supercategory == NULL)) {
		fundus_free(e->name);
		fundus_free(e->supercategory);
		return FUNDUS_ENOMEM;
	}
	m->n++;
	return 0;
}

/* Whether a JSON number is an integer that a double holds exactly. */
static int json_int(const cJSON *v, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return 0;
	d = v->valuedouble;
	if (d != d || d < -9007199254740992.0 || d > 9007199254740992.0 || d != (double)(int64_t)d)
		return 0;
	*out = (int64_t)d;
	return 1;
}

/* Label maps from JSON: a COCO-like object, a categories array, or {"name": id}. */
static int labels_from_json(cJSON *root, struct fundus_convert_labels *m)
{
	const cJSON *cats = root, *c;
	size_t i = 0;
	int rc;

	if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "categories")) {
		cJSON *extra = NULL;

		cats = cJSON_GetObjectItemCaseSensitive(root, "categories");
		for (c = root->child; c; c = c->next) {
			cJSON *dup;

			if (strcmp(c->string, "categories") == 0 ||
			    strcmp(c->string, "images") == 0 ||
			    strcmp(c->string, "annotations") == 0)
				continue;
			dup = cJSON_Duplicate(c, 1);
			if (dup == NULL || fundus__cv_extra_add(&extra, c->string, dup) < 0) {
				cJSON_Delete(extra);
				return FUNDUS_ENOMEM;
			}
		}
		m->extra = extra;
	} else if (cJSON_IsObject(root)) {
		for (c = root->child; c; c = c->next) {
			int64_t id;

			if (!json_int(c, &id))
				return fundus_error_set(
				    FUNDUS_EFORMAT, "\"%s\": expected an integer id", c->string);
			if ((rc = fundus_convert_labels_add(m, c->string, id, NULL)) < 0)
				return rc == FUNDUS_EINVAL ? FUNDUS_EFORMAT : rc;
		}
		return 0;
	}
	if (!cJSON_IsArray(cats))
		return fundus_error_set(FUNDUS_EFORMAT, "categories: expected an array");
	for (c = cats->child; c; c = c->next, i++) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
		const cJSON *sup = cJSON_GetObjectItemCaseSensitive(c, "supercategory");
		int64_t v;

		if (!cJSON_IsObject(c) || !json_int(id, &v) || !cJSON_IsString(name))
			return fundus_error_set(FUNDUS_EFORMAT,
						"categories[%zu]: expected {\"id\": integer, "
						"\"name\": string}",
						i);
		if ((rc = fundus_convert_labels_add(
			 m, name->valuestring, v, cJSON_IsString(sup) ? sup->valuestring : NULL)) <
		    0)
			return rc == FUNDUS_EINVAL
				   ? fundus_error_set(FUNDUS_EFORMAT, "categories[%zu]: %s", i,
						      fundus_errmsg())
				   : rc;
	}
	return 0;
}

/* Trims spaces, tabs and a carriage return at both ends of s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
	while (*n > 0 && (s[0] == ' ' || s[0] == '\t')) {
		s++;
		(*n)--;
	}
	while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t' || s[*n - 1] == '\r'))
		(*n)--;
	return s;
}

/* Parses a whole decimal integer s[0..n); 0 or -1. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
	double d;

	/* Ids are JSON numbers too: whole, and exact in a double (15 digits). */
	if (n == 0 || n > 15)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-')))
			return -1;
	if (fundus__cv_parse_number(s, n, 0, &d) < 0)
		return -1;
	*out = (int64_t)d;
	return 0;
}

/* Takes a YAML scalar's quotes off. */
static const char *unquote(const char *s, size_t *n)
{
	if (*n >= 2 && ((s[0] == '\'' && s[*n - 1] == '\'') || (s[0] == '"' && s[*n - 1] == '"'))) {
		*n -= 2;
		return s + 1;
	}
	return s;
}

/* Adds one label from text, reporting a duplicate at its line. */
static int add_text_label(struct fundus_convert_labels *m, const char *name, size_t nn, int64_t id,
			  size_t line)
{
	char *s = fundus_strndup(name, nn);
	int rc;

	if (s == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus_convert_labels_add(m, s, id, NULL);
	fundus_free(s);
	if (rc == FUNDUS_EINVAL)
		return fundus_error_set(FUNDUS_EFORMAT, "line %zu: %s", line, fundus_errmsg());
	return rc;
}

/*
 * The "names:" of a YOLO data.yaml, as a block list ("- a") or an
 * id-keyed block mapping ("0: a"), or a flow list ("[a, b]"). Only this
 * key is read: the rest of the file is paths.
 */
static int labels_from_yaml(const char *text, size_t len, struct fundus_convert_labels *m)
{
	size_t pos = 0, line = 0;
	int in_names = 0, rc;
	int64_t next = 0;

	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos, k;
		int indented = n > 0 && (l[0] == ' ' || l[0] == '\t');

		pos += n + (nl != NULL);
		line++;
		l = trim(l, &n);
		if (n == 0 || l[0] == '#')
			continue;
		if (!indented) {
			in_names = n >= 6 && memcmp(l, "names:", 6) == 0;
			if (in_names && n > 6) {
				/* names: [a, b, c] */
				const char *v = l + 6;
				size_t vn = n - 6;

				v = trim(v, &vn);
				if (vn < 2 || v[0] != '[' || v[vn - 1] != ']')
					return fundus_error_set(FUNDUS_EFORMAT,
								"line %zu: names: expected a list",
								line);
				v++;
				vn -= 2;
				while (vn > 0) {
					const char *c = memchr(v, ',', vn);
					size_t en = c ? (size_t)(c - v) : vn;
					const char *e = trim(v, &en);

					e = unquote(e, &en);
					if (en && (rc = add_text_label(m, e, en, next++, line)) < 0)
						return rc;
					if (c == NULL)
						break;
					vn -= (size_t)(c - v) + 1;
					v = c + 1;
				}
				in_names = 0;
			}
			continue;
		}
		if (!in_names)
			continue;
		if (l[0] == '-') {
			const char *e = l + 1;
			size_t en = n - 1;

			e = trim(e, &en);
			e = unquote(e, &en);
			if ((rc = add_text_label(m, e, en, next++, line)) < 0)
				return rc;
			continue;
		}
		for (k = 0; k < n && l[k] != ':'; k++)
			;
		if (k < n) {
			int64_t id;
			const char *e = l + k + 1;
			size_t en = n - k - 1;

			if (parse_int(l, k, &id) < 0)
				return fundus_error_set(
				    FUNDUS_EFORMAT, "line %zu: expected \"<id>: <name>\"", line);
			e = trim(e, &en);
			e = unquote(e, &en);
			if ((rc = add_text_label(m, e, en, id, line)) < 0)
				return rc;
		}
	}
	return m->n ? 0 : fundus_error_set(FUNDUS_EFORMAT, "no \"names:\" in the YAML file");
}

/*
 * Whether every line of a text label map starts with a number and a space
 * or colon ("0 person", "1: car"): only then are they ids, so that a plain
 * names file with "2 wheeler" in it keeps that name whole.
 */
static int numbered_lines(const char *text, size_t len)
{
	size_t pos = 0, lines = 0;

	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos, k = 0;

		pos += n + (nl != NULL);
		l = trim(l, &n);
		if (n == 0 || l[0] == '#')
			continue;
		while (k < n && l[k] >= '0' && l[k] <= '9')
			k++;
		if (k == 0 || k == n || !(l[k] == ':' || l[k] == ' ' || l[k] == '\t'))
			return 0;
		lines++;
	}
	return lines > 0;
}

/* Text label maps: "name", "name,id", "id name" or "id: name", one a line. */
static int labels_from_text(const char *text, size_t len, int64_t first,
			    struct fundus_convert_labels *m)
{
	size_t pos = 0, line = 0;
	int64_t next = first;
	int rc, numbered;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	numbered = numbered_lines(text + pos, len - pos);
	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos), *c;
		size_t n = nl ? (size_t)(nl - l) : len - pos;
		int64_t id;

		pos += n + (nl != NULL);
		line++;
		l = trim(l, &n);
		if (n == 0 || l[0] == '#')
			continue;
		c = memchr(l, ',', n);
		if (c) {
			/* name,id */
			size_t nn = (size_t)(c - l), in = n - nn - 1;
			const char *idp = trim(c + 1, &in), *name = trim(l, &nn);

			if (parse_int(idp, in, &id) < 0)
				return fundus_error_set(FUNDUS_EFORMAT,
							"line %zu: expected \"name,id\"", line);
			if ((rc = add_text_label(m, name, nn, id, line)) < 0)
				return rc;
			continue;
		}
		if (numbered) {
			/* "0: name" or "0 name" (a darknet names file has no ids). */
			size_t k = 0;

			while (k < n && l[k] >= '0' && l[k] <= '9')
				k++;
			if (k > 0 && k < n && (l[k] == ':' || l[k] == ' ' || l[k] == '\t') &&
			    parse_int(l, k, &id) == 0) {
				const char *name = l + k + (l[k] == ':');
				size_t nn = n - k - (l[k] == ':');

				name = trim(name, &nn);
				if (nn > 0) {
					if ((rc = add_text_label(m, name, nn, id, line)) < 0)
						return rc;
					continue;
				}
			}
		}
		if ((rc = add_text_label(m, l, n, next++, line)) < 0)
			return rc;
	}
	return 0;
}

int fundus_convert_labels_parse(const char *text, size_t len, int64_t first_id,
				struct fundus_convert_labels **out)
{
	struct fundus_convert_labels *m;
	size_t i = 0;
	int rc;

	*out = NULL;
	if ((rc = fundus__cv_check_text(text, len)) < 0)
		return rc;
	if ((rc = fundus_convert_labels_new(&m)) < 0)
		return rc;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
		i++;
	if (i < len && (text[i] == '{' || text[i] == '[')) {
		cJSON *root;

		if ((rc = fundus__cv_json_parse(text, len, &root)) == 0) {
			rc = labels_from_json(root, m);
			cJSON_Delete(root);
		}
	} else {
		/* A YAML data.yaml has a "names:" key at the start of a line. */
		int yaml = 0;

		for (size_t k = 0; k + 6 <= len; k++)
			if ((k == 0 || text[k - 1] == '\n') && memcmp(text + k, "names:", 6) == 0)
				yaml = 1;
		rc = yaml ? labels_from_yaml(text, len, m)
			  : labels_from_text(text, len, first_id, m);
	}
	if (rc < 0) {
		fundus_convert_labels_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int fundus_convert_labels_load(const char *path, int64_t first_id,
			       struct fundus_convert_labels **out)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = fundus__cv_read_file(path, (size_t)64 << 20, &text, &len)) < 0)
		return rc;
	rc = fundus_convert_labels_parse(text, len, first_id, out);
	fundus_free(text);
	return rc;
}

int fundus_convert_labels_format(const struct fundus_convert_labels *m, char **out, size_t *len)
{
	struct fundus__jbuf b = {0};
	struct fundus__jpath p = {{0}, 0};
	int rc = fundus__cv_put(&b, "{");
	int first = 1;

	*out = NULL;
	for (const cJSON *c = m->extra ? m->extra->child : NULL; c && rc == 0; c = c->next) {
		if ((rc = fundus__cv_put(&b, first ? "\n  " : ",\n  ")) < 0 ||
		    (rc = fundus__json_write_string(&b, c->string, &p)) < 0 ||
		    (rc = fundus__cv_put(&b, ": ")) < 0 ||
		    (rc = fundus__json_write_value(&b, c, &p)) < 0)
			break;
		first = 0;
	}
	if (rc == 0)
		rc = fundus__cv_put(&b, first ? "\n  \"categories\": [" : ",\n  \"categories\": [");
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		char num[32];

		fundus__cv_format((double)m->v[i].id, num);
		if ((rc = fundus__cv_put(&b, i ? ",\n    {\"id\": " : "\n    {\"id\": ")) < 0 ||
		    (rc = fundus__cv_put(&b, num)) < 0 ||
		    (rc = fundus__cv_put(&b, ", \"name\": ")) < 0 ||
		    (rc = fundus__json_write_string(&b, m->v[i].name, &p)) < 0)
			break;
		if (m->v[i].supercategory &&
		    ((rc = fundus__cv_put(&b, ", \"supercategory\": ")) < 0 ||
		     (rc = fundus__json_write_string(&b, m->v[i].supercategory, &p)) < 0))
			break;
		rc = fundus__cv_put(&b, "}");
	}
	if (rc == 0)
		rc = fundus__cv_put(&b, m->n ? "\n  ]\n}\n" : "]\n}\n");
	if (rc < 0) {
		fundus_free(b.data);
		return rc;
	}
	*out = b.data;
	if (len)
		*len = b.len;
	return 0;
}

/* Orders label names for the default numbering. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int fundus__cv_default_labels(const struct fundus_convert_set *set, int64_t first,
			      struct fundus_convert_labels **out)
{
	struct fundus__cv_index seen = {0};
	const char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = fundus_convert_labels_new(out);

	for (size_t i = 0; rc == 0 && i < set->n; i++)
		for (size_t j = 0; rc == 0 && j < set->rec[i]->n_objects; j++) {
			const char *l = set->rec[i]->objects[j].label;

			rc = fundus__cv_index_put(&seen, l, n);
			if (rc != 1)
				continue;
			rc = 0;
			if (n == cap) {
				size_t c = cap ? cap * 2 : 16;
				const char **v = fundus_realloc(names, c * sizeof *v);

				if (v == NULL) {
					rc = FUNDUS_ENOMEM;
					break;
				}
				names = v;
				cap = c;
			}
			names[n++] = l;
		}
	if (rc == 0 && n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = fundus_convert_labels_add(*out, names[i], first + (int64_t)i, NULL);
	fundus_free(names);
	fundus__cv_index_free(&seen);
	if (rc < 0) {
		fundus_convert_labels_free(*out);
		*out = NULL;
	}
	return rc;
}

/* Renames. */

void fundus_convert_rename_free(struct fundus_convert_rename *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		fundus_free(m->from[i]);
		fundus_free(m->to[i]);
	}
	fundus_free(m->from);
	fundus_free(m->to);
	fundus_free(m);
}

/* Adds one pair; the copies are the map's. */
static int rename_add(struct fundus_convert_rename *m, const char *from, size_t nf, const char *to,
		      size_t nt)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		char **f = fundus_realloc(m->from, cap * sizeof *f), **t;

		if (f == NULL)
			return FUNDUS_ENOMEM;
		m->from = f;
		t = fundus_realloc(m->to, cap * sizeof *t);
		if (t == NULL)
			return FUNDUS_ENOMEM;
		m->to = t;
		m->cap = cap;
	}
	m->from[m->n] = fundus_strndup(from, nf);
	m->to[m->n] = fundus_strndup(to, nt);
	if (m->from[m->n] == NULL || m->to[m->n] == NULL) {
		fundus_free(m->from[m->n]);
		fundus_free(m->to[m->n]);
		return FUNDUS_ENOMEM;
	}
	m->n++;
	return 0;
}

/* One CSV field of a rename line, with RFC 4180 quotes; advances *p. */
static int rename_field(const char **p, const char *end, char *buf, size_t cap, size_t *n)
{
	const char *s = *p;

	*n = 0;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s < end && *s == '"') {
		for (s++;; s++) {
			if (s >= end)
				return -1;
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"') {
					s++;
				} else {
					s++;
					break;
				}
			}
			if (*n + 1 >= cap)
				return -1;
			buf[(*n)++] = *s;
		}
		while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
			s++;
	} else {
		const char *e = s;

		while (e < end && *e != ',')
			e++;
		{
			size_t k = (size_t)(e - s);

			s = trim(s, &k);
			if (k >= cap)
				return -1;
			memcpy(buf, s, k);
			*n = k;
		}
		s = e;
	}
	*p = s;
	return 0;
}

int fundus_convert_rename_parse(const char *text, size_t len, struct fundus_convert_rename **out)
{
	struct fundus_convert_rename *m;
	size_t i = 0, pos = 0, line = 0;
	int rc = fundus__cv_check_text(text, len);

	*out = NULL;
	if (rc < 0)
		return rc;
	m = fundus_calloc(1, sizeof *m);
	if (m == NULL)
		return FUNDUS_ENOMEM;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
		i++;
	if (i < len && text[i] == '{') {
		cJSON *root;

		if ((rc = fundus__cv_json_parse(text, len, &root)) == 0) {
			for (const cJSON *c = root->child; c && rc == 0; c = c->next) {
				if (!cJSON_IsString(c) || c->valuestring[0] == '\0')
					rc = fundus_error_set(FUNDUS_EFORMAT,
							      "\"%s\": expected a label name",
							      c->string);
				else
					rc = rename_add(m, c->string, strlen(c->string),
							c->valuestring, strlen(c->valuestring));
			}
			cJSON_Delete(root);
		}
	} else {
		while (pos < len && rc == 0) {
			const char *l = text + pos, *nl = memchr(l, '\n', len - pos), *p, *end;
			size_t n = nl ? (size_t)(nl - l) : len - pos, nf, nt;
			char from[1024], to[1024];

			pos += n + (nl != NULL);
			line++;
			end = l + n;
			p = l;
			if (trim(l, &n), n == 0 || l[0] == '#')
				continue;
			if (rename_field(&p, end, from, sizeof from, &nf) < 0 || p >= end ||
			    *p != ',' || (p++, rename_field(&p, end, to, sizeof to, &nt)) < 0 ||
			    (p < end && *p != '\r') || nf == 0 || nt == 0) {
				rc = fundus_error_set(FUNDUS_EFORMAT,
						      "line %zu: expected \"from,to\"", line);
				break;
			}
			if (line == 1 && nf == 4 && nt == 2 && memcmp(from, "from", 4) == 0 &&
			    memcmp(to, "to", 2) == 0)
				continue;
			rc = rename_add(m, from, nf, to, nt);
		}
	}
	if (rc < 0) {
		fundus_convert_rename_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

int fundus_convert_rename_load(const char *path, struct fundus_convert_rename **out)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = fundus__cv_read_file(path, (size_t)64 << 20, &text, &len)) < 0)
		return rc;
	rc = fundus_convert_rename_parse(text, len, out);
	fundus_free(text);
	return rc;
}

int64_t fundus_convert_rename_apply(struct fundus_convert_set *set,
				    const struct fundus_convert_rename *m)
{
	int64_t n = 0;

	for (size_t i = 0; i < set->n; i++)
		for (size_t j = 0; j < set->rec[i]->n_objects; j++) {
			struct fundus_object *o = &set->rec[i]->objects[j];

			for (size_t k = 0; k < m->n; k++)
				if (strcmp(o->label, m->from[k]) == 0) {
					if (fundus_record_set_string(&o->label, m->to[k]) < 0)
						return FUNDUS_ENOMEM;
					n++;
					break;
				}
		}
	return n;
}

/* The hash index. */

/* FNV-1a over a string, or a mix of an integer. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static uint64_t hash_int(int64_t k)
{
	uint64_t x = (uint64_t)k + 0x9e3779b97f4a7c15ULL;

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void fundus__cv_index_free(struct fundus__cv_index *ix)
{
	fundus_free(ix->slot);
	ix->slot = NULL;
	ix->cap = ix->n = 0;
}

/* Finds the slot of a key, or the empty slot where it would go. */
static struct fundus__cv_slot *index_find(const struct fundus__cv_index *ix, const char *key,
					  int64_t ikey)
{
	uint64_t h = key ? hash_str(key) : hash_int(ikey);

	for (size_t i = (size_t)h & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
		struct fundus__cv_slot *s = &ix->slot[i];

		if (!s->used)
			return s;
		if (key ? s->key && strcmp(s->key, key) == 0 : !s->key && s->ikey == ikey)
			return s;
	}
}

/* Doubles the table when it is half full. */
static int index_grow(struct fundus__cv_index *ix)
{
	struct fundus__cv_index big;

	if (ix->cap && (ix->n + 1) * 2 <= ix->cap)
		return 0;
	big.cap = ix->cap ? ix->cap * 2 : 64;
	big.n = ix->n;
	big.slot = fundus_calloc(big.cap, sizeof *big.slot);
	if (big.slot == NULL)
		return FUNDUS_ENOMEM;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slot[i].used)
			*index_find(&big, ix->slot[i].key, ix->slot[i].ikey) = ix->slot[i];
	fundus_free(ix->slot);
	*ix = big;
	return 0;
}

/* Inserts a string or integer key. */
static int index_put(struct fundus__cv_index *ix, const char *key, int64_t ikey, size_t value)
{
	struct fundus__cv_slot *s;
	int rc = index_grow(ix);

	if (rc < 0)
		return rc;
	s = index_find(ix, key, ikey);
	if (s->used)
		return 0;
	s->used = 1;
	s->key = key;
	s->ikey = ikey;
	s->value = value;
	ix->n++;
	return 1;
}

int fundus__cv_index_put(struct fundus__cv_index *ix, const char *key, size_t value)
{
	return index_put(ix, key, 0, value);
}

int fundus__cv_index_put_int(struct fundus__cv_index *ix, int64_t key, size_t value)
{
	return index_put(ix, NULL, key, value);
}

int fundus__cv_index_get(const struct fundus__cv_index *ix, const char *key, size_t *value)
{
	const struct fundus__cv_slot *s;

	if (ix->cap == 0)
		return 0;
	s = index_find(ix, key, 0);
	if (!s->used)
		return 0;
	*value = s->value;
	return 1;
}

int fundus__cv_index_get_int(const struct fundus__cv_index *ix, int64_t key, size_t *value)
{
	const struct fundus__cv_slot *s;

	if (ix->cap == 0)
		return 0;
	s = index_find(ix, NULL, key);
	if (!s->used)
		return 0;
	*value = s->value;
	return 1;
}

/* Paths. */

const char *fundus__cv_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

char *fundus__cv_join(const char *dir, const char *name)
{
	size_t nd, nn = strlen(name);
	char *s;

	if (dir == NULL || dir[0] == '\0' || name[0] == '/')
		return fundus_strdup(name);
	nd = strlen(dir);
	while (nd > 1 && dir[nd - 1] == '/')
		nd--;
	s = fundus_malloc(nd + nn + 2);
	if (s == NULL)
		return NULL;
	memcpy(s, dir, nd);
	s[nd] = '/';
	memcpy(s + nd + 1, name, nn + 1);
	return s;
}

const char *fundus__cv_relative(const char *path, const char *dir)
{
	size_t nd;

	if (dir == NULL || dir[0] == '\0')
		return path;
	nd = strlen(dir);
	while (nd > 1 && dir[nd - 1] == '/')
		nd--;
	if (strncmp(path, dir, nd) == 0 && path[nd] == '/')
		return path + nd + 1;
	return path;
}

size_t fundus__cv_stem_len(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot && dot != name ? (size_t)(dot - name) : strlen(name);
}

/* Whether two names are equal without their extensions. */
static int same_stem(const char *a, const char *b)
{
	size_t na = fundus__cv_stem_len(a), nb = fundus__cv_stem_len(b);

	return na == nb && memcmp(a, b, na) == 0;
}

const struct fundus_record *fundus__cv_find_image(const struct fundus_convert_options *o,
						  const char *path)
{
	const struct fundus_convert_set *s = o->images;
	const char *base;

	if (s == NULL || path == NULL)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->rec[i]->image && strcmp(s->rec[i]->image, path) == 0)
			return s->rec[i];
	base = fundus__cv_basename(path);
	for (size_t i = 0; i < s->n; i++)
		if (s->rec[i]->image && strcmp(fundus__cv_basename(s->rec[i]->image), base) == 0)
			return s->rec[i];
	for (size_t i = 0; i < s->n; i++)
		if (s->rec[i]->image && same_stem(fundus__cv_basename(s->rec[i]->image), base))
			return s->rec[i];
	return NULL;
}

int fundus__cv_image_size(const struct fundus_convert_options *o, const char *path, int64_t *w,
			  int64_t *h)
{
	const struct fundus_record *r = fundus__cv_find_image(o, path);
	struct fundus_image_source *src;
	int rc;

	if (r && r->width > 0 && r->height > 0) {
		*w = r->width;
		*h = r->height;
		return 0;
	}
	if (path == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "an image without a name needs its size");
	if (!o->read_headers)
		return fundus_error_set(FUNDUS_EINVAL, "image '%s': size unknown", path);
	rc = fundus_image_open(&src, path, NULL);
	if (rc < 0)
		return fundus_error_set(rc,
					"image '%s': size unknown and cannot read the image: %s",
					path, fundus_errmsg());
	*w = fundus_image_source_info(src)->width;
	*h = fundus_image_source_info(src)->height;
	fundus_image_close(src);
	return 0;
}

/* Extra fields. */

int fundus__cv_record_key(const char *k)
{
	static const char *const keys[] = {"image", "id",      "width",   "height", "source",
					   "meta",  "objects", "answers", "v"};

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strcmp(k, keys[i]) == 0)
			return 1;
	return 0;
}

int fundus__cv_object_key(const char *k)
{
	return strcmp(k, "label") == 0 || strcmp(k, "bbox") == 0 || strcmp(k, "score") == 0 ||
	       strcmp(k, "by") == 0;
}

int fundus__cv_extra_add(cJSON **extra, const char *key, cJSON *v)
{
	if (v == NULL)
		return FUNDUS_ENOMEM;
	if (*extra == NULL && (*extra = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(v);
		return FUNDUS_ENOMEM;
	}
	if (!cJSON_AddItemToObject(*extra, key, v)) {
		cJSON_Delete(v);
		return FUNDUS_ENOMEM;
	}
	return 0;
}

const cJSON *fundus__cv_extra_get(const cJSON *extra, const char *key)
{
	return extra ? cJSON_GetObjectItemCaseSensitive(extra, key) : NULL;
}

/* Messages. */

int fundus__cv_error_at(const char *text, size_t len, size_t offset, int code, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	char msg[400];
	va_list ap;

	if (offset > len)
		offset = len;
	for (size_t i = 0; i < offset; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			col++; /* count characters, not UTF-8 continuation bytes */
		}
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fundus_error_set(code, "line %zu, column %zu: %s", line, col, msg);
}

int fundus__cv_json_parse(const char *text, size_t len, cJSON **out)
{
	int rc = fundus__json_parse(text, len, FUNDUS__CV_MAX_DEPTH, out);
	const char *m;
	char *end;
	unsigned long long col;

	if (rc == 0 || rc == FUNDUS_ENOMEM)
		return rc;
	/* "column 1234: invalid JSON" counts bytes from the start of the text. */
	m = fundus_errmsg();
	if (strncmp(m, "column ", 7) != 0)
		return rc;
	errno = 0;
	col = strtoull(m + 7, &end, 10);
	if (errno || end[0] != ':' || col == 0)
		return rc;
	{
		char rest[300];

		snprintf(rest, sizeof rest, "%s", end + 2);
		if (strstr(rest, "end of line"))
			snprintf(rest, sizeof rest, "unexpected end of the file (JSON cut short)");
		return fundus__cv_error_at(text, len, (size_t)(col - 1), rc, "%s", rest);
	}
}

int fundus__cv_check_text(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t k;

		if (c == 0)
			return fundus__cv_error_at(text, len, i, FUNDUS_EFORMAT,
						   "a NUL byte: not a text file");
		if (c < 0x80) {
			i++;
			continue;
		}
		/* The length of a valid sequence, or 0 (overlong forms and surrogates are not). */
		k = c >= 0xc2 && c <= 0xdf   ? 2
		    : c >= 0xe0 && c <= 0xef ? 3
		    : c >= 0xf0 && c <= 0xf4 ? 4
					     : 0;
		for (size_t j = 1; k && j < k; j++)
			if (i + j >= len || (s[i + j] & 0xc0) != 0x80)
				k = 0;
		if (k == 3 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0)))
			k = 0;
		if (k == 4 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90)))
			k = 0;
		if (k == 0)
			return fundus__cv_error_at(
			    text, len, i, FUNDUS_EFORMAT,
			    "invalid UTF-8 (byte 0x%02x): the file must be UTF-8", c);
		i += k;
	}
	return 0;
}

int fundus__cv_put(struct fundus__jbuf *b, const char *s)
{
	return fundus__jbuf_put(b, s, strlen(s));
}

int fundus__cv_read_file(const char *path, size_t max, char **text, size_t *len)
{
	uint8_t *data;
	int rc = fundus_file_read(path, max, &data, len);

	*text = rc == 0 ? (char *)data : NULL;
	return rc;
}

int fundus__cv_write_file(const char *path, const char *data, size_t len)
{
	return fundus_file_write_atomic(path, data, len);
}
