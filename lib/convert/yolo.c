/*
 * YOLO: a text file per image, one line per box, "class cx cy w h" in
 * fractions of the image size, and a class list (classes.txt, obj.names,
 * or a data.yaml's names).
 *
 *   x0 = (cx - w/2) * W,  x1 = (cx + w/2) * W,  likewise y with H;
 *   back cx = (x0 + x1) / 2 / W and w = (x1 - x0) / W, written as the
 *   shortest decimals for which the formulas above give x0 and x1 exactly.
 *
 * Class numbers count from 0: the position of a label in the label map
 * ordered by id (so a COCO map with ids from 1 gives classes from 0, and
 * never an off-by-one). A sixth number is a score (detections); longer
 * lines are polygons or oriented boxes (x y pairs), read as the box around
 * their points, the points kept in the object's "yolo_points" and written
 * back when the box is still theirs.
 *
 * Folders read: a class list at the top; label files under labels/ (the
 * Ultralytics layout, with images/ beside it), obj_*_data/ (darknet, as
 * CVAT exports it) or the folder itself; image lists (images.txt, train.txt,
 * val.txt, test.txt) name the images, including those without a label
 * file (no objects). The folder written: classes.txt, labels/<name>.txt
 * for every image (empty for an image without objects) and images.txt.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fundus/file.h"
#include "internal.h"

/* The label of class k: the k-th of classes in id order, or "<k>" without classes. */
static const char *class_label(const struct fundus_convert_labels *classes, int64_t k, char *buf,
			       size_t size)
{
	const struct fundus_convert_label *l = fundus_convert_labels_find_id(classes, k);

	if (classes == NULL) {
		snprintf(buf, size, "%" PRId64, k);
		return buf;
	}
	return l ? l->name : NULL;
}

/* Splits a line into whitespace-separated fields (at most max); returns the count. */
static size_t split_fields(const char *s, size_t n, const char **f, size_t *fl, size_t max)
{
	size_t i = 0, k = 0;

	while (i < n) {
		size_t start;

		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (i == n)
			break;
		start = i;
		while (i < n && s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			i++;
		if (k < max) {
			f[k] = s + start;
			fl[k] = i - start;
		}
		k++;
	}
	return k;
}

int fundus_convert_parse_yolo(const char *text, size_t len,
			      const struct fundus_convert_labels *classes,
			      struct fundus_record *rec, struct fundus_convert_set *set)
{
	size_t pos = 0, line = 0;
	double W = (double)rec->width, H = (double)rec->height;
	int rc = 0;

	if (rec->width <= 0 || rec->height <= 0) {
		rc = fundus_error_set(FUNDUS_EINVAL, "image '%s': size unknown",
				      rec->image ? rec->image : "?");
		fundus_record_free(rec);
		return rc;
	}
	if ((rc = fundus__cv_check_text(text, len)) < 0) {
		fundus_record_free(rec);
		return rc;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len && rc == 0) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos), *f[64];
		size_t n = nl ? (size_t)(nl - l) : len - pos, fl[64], nf;
		double v[64], cls;
		struct fundus_box b;
		char buf[32];
		const char *label;
		cJSON *points = NULL;
		double score = NAN;

		pos += n + (nl != NULL);
		line++;
		nf = split_fields(l, n, f, fl, 64);
		if (nf == 0)
			continue;
		if (nf > 64 || !(nf == 5 || nf == 6 || (nf >= 7 && nf % 2 == 1))) {
			rc = fundus_error_set(
			    FUNDUS_EFORMAT,
			    "line %zu: %zu fields: expected class cx cy w h, a sixth "
			    "number (a score), or a class and x y pairs (a polygon)",
			    line, nf);
			break;
		}
		for (size_t k = 0; k < nf && rc == 0; k++)
			if (fundus__cv_parse_number(f[k], fl[k], 0, &v[k]) < 0 ||
			    !(fabs(v[k]) < 1e9))
				rc = fundus_error_set(
				    FUNDUS_EFORMAT, "line %zu, field %zu: '%.*s' is not a number",
				    line, k + 1, (int)(fl[k] > 40 ? 40 : fl[k]), f[k]);
		if (rc < 0)
			break;
		cls = v[0];
		if (cls != trunc(cls) || cls < 0 || memchr(f[0], '.', fl[0]) ||
		    memchr(f[0], 'e', fl[0])) {
			rc = fundus_error_set(
			    FUNDUS_EFORMAT,
			    "line %zu: the class '%.*s' is not a whole number from 0", line,
			    (int)(fl[0] > 40 ? 40 : fl[0]), f[0]);
			break;
		}
		label = class_label(classes, (int64_t)cls, buf, sizeof buf);
		if (label == NULL) {
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "line %zu: class %.0f is not in the class list (%zu "
					      "classes)",
					      line, cls, classes->n);
			break;
		}
		if (nf <= 6) {
			if (v[3] < 0 || v[4] < 0) {
				rc = fundus_error_set(FUNDUS_EFORMAT, "line %zu: negative %s", line,
						      v[3] < 0 ? "width" : "height");
				break;
			}
			fundus__cv_edges(v[1], v[3], W, &b.x0, &b.x1);
			fundus__cv_edges(v[2], v[4], H, &b.y0, &b.y1);
			if (nf == 6)
				score = v[5];
		} else {
			/* A polygon or an oriented box: the box around its points. */
			points = cJSON_CreateArray();
			b.x0 = b.y0 = INFINITY;
			b.x1 = b.y1 = -INFINITY;
			for (size_t k = 1; k < nf && points; k += 2) {
				double x = fundus__cv_scale(v[k], W),
				       y = fundus__cv_scale(v[k + 1], H);

				b.x0 = fmin(b.x0, x), b.x1 = fmax(b.x1, x);
				b.y0 = fmin(b.y0, y), b.y1 = fmax(b.y1, y);
				if (!cJSON_AddItemToArray(points, cJSON_CreateNumber(v[k])) ||
				    !cJSON_AddItemToArray(points, cJSON_CreateNumber(v[k + 1]))) {
					cJSON_Delete(points);
					points = NULL;
				}
			}
			if (points == NULL) {
				rc = FUNDUS_ENOMEM;
				break;
			}
		}
		if (!(fabs(b.x0) < FUNDUS__CV_MAX_COORD && fabs(b.x1) < FUNDUS__CV_MAX_COORD &&
		      fabs(b.y0) < FUNDUS__CV_MAX_COORD && fabs(b.y1) < FUNDUS__CV_MAX_COORD)) {
			cJSON_Delete(points);
			rc = fundus_error_set(FUNDUS_EFORMAT,
					      "line %zu: out of range (beyond 2^31)", line);
			break;
		}
		if ((rc = fundus_record_add_object(rec, label, &b, score, NULL)) < 0) {
			cJSON_Delete(points);
			break;
		}
		{
			struct fundus_object *o = &rec->objects[rec->n_objects - 1];

			if ((rc = fundus__cv_extra_add(&o->extra, "yolo_class",
						       cJSON_CreateNumber(cls))) < 0) {
				cJSON_Delete(points);
				break;
			}
			if (points &&
			    (rc = fundus__cv_extra_add(&o->extra, "yolo_points", points)) < 0)
				break;
		}
	}
	if (rc < 0) {
		fundus_record_free(rec);
		return rc;
	}
	return fundus_convert_set_add(set, rec);
}

/* Class maps. */

/* Orders labels by id. */
static int cmp_id(const void *a, const void *b)
{
	const struct fundus_convert_label *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* A copy of m numbered by position in id order, from 0 (YOLO's class numbers). */
static int positional(const struct fundus_convert_labels *m, struct fundus_convert_labels **out)
{
	struct fundus_convert_label *v;
	int rc = fundus_convert_labels_new(out);

	if (rc < 0)
		return rc;
	v = fundus_calloc(m->n + 1, sizeof *v);
	if (v == NULL) {
		fundus_convert_labels_free(*out);
		*out = NULL;
		return FUNDUS_ENOMEM;
	}
	memcpy(v, m->v, m->n * sizeof *v);
	if (m->n)
		qsort(v, m->n, sizeof *v, cmp_id);
	for (size_t i = 0; i < m->n && rc == 0; i++)
		rc = fundus_convert_labels_add(*out, v[i].name, (int64_t)i, NULL);
	fundus_free(v);
	if (rc < 0) {
		fundus_convert_labels_free(*out);
		*out = NULL;
	}
	return rc;
}

int fundus__cv_yolo_classes(const struct fundus_convert_set *set,
			    const struct fundus_convert_options *o,
			    struct fundus_convert_labels **out)
{
	struct fundus_convert_labels *m;
	int64_t max = -1;
	int ok = 1, rc;

	*out = NULL;
	if (o->labels) {
		if ((rc = positional(o->labels, out)) < 0)
			return rc;
		if ((rc = fundus__cv_labels_cover(*out, set)) < 0) {
			fundus_convert_labels_free(*out);
			*out = NULL;
		}
		return rc;
	}
	/* The classes stored by a YOLO reader, when they are consistent and leave no gap. */
	if ((rc = fundus_convert_labels_new(&m)) < 0)
		return rc;
	for (size_t i = 0; i < set->n && ok; i++)
		for (size_t j = 0; j < set->rec[i]->n_objects && ok; j++) {
			const struct fundus_object *ob = &set->rec[i]->objects[j];
			const cJSON *c = fundus__cv_extra_get(ob->extra, "yolo_class");
			const struct fundus_convert_label *l =
			    fundus_convert_labels_find(m, ob->label);
			int64_t k;

			if (!cJSON_IsNumber(c) || c->valuedouble != trunc(c->valuedouble) ||
			    c->valuedouble < 0 || c->valuedouble > 1e6) {
				ok = 0;
				break;
			}
			k = (int64_t)c->valuedouble;
			if (l)
				ok = l->id == k;
			else if (fundus_convert_labels_find_id(m, k))
				ok = 0;
			else if ((rc = fundus_convert_labels_add(m, ob->label, k, NULL)) < 0)
				ok = 0;
			if (k > max)
				max = k;
		}
	/*
	 * Classes no object uses leave gaps that a class list must still fill:
	 * with the class number as the name (as a folder without a class list
	 * reads), unless a label has that name already.
	 */
	for (int64_t k = 0; ok && rc == 0 && k <= max; k++) {
		char name[32];

		if (fundus_convert_labels_find_id(m, k))
			continue;
		snprintf(name, sizeof name, "%" PRId64, k);
		if (fundus_convert_labels_find(m, name))
			ok = 0;
		else
			rc = fundus_convert_labels_add(m, name, k, NULL);
	}
	if (ok && rc == 0) {
		*out = m;
		return 0;
	}
	fundus_convert_labels_free(m);
	if (rc == FUNDUS_ENOMEM)
		return rc;
	return fundus__cv_default_labels(set, 0, out);
}

/* Writing. */

/* Appends a number in its shortest form and a separator. */
static int put_num(struct fundus__jbuf *b, double d, const char *sep)
{
	char buf[32];
	int rc;

	fundus__cv_format(d, buf);
	if ((rc = fundus__cv_put(b, buf)) < 0)
		return rc;
	return fundus__cv_put(b, sep);
}

/* Whether stored polygon points (fractions) give exactly this box. */
static int points_match(const cJSON *p, const struct fundus_box *bx, double W, double H)
{
	struct fundus_box b = {INFINITY, INFINITY, -INFINITY, -INFINITY};
	int n = 0;

	if (!cJSON_IsArray(p))
		return 0;
	for (const cJSON *c = p->child; c; c = c->next->next) {
		if (c->next == NULL || !cJSON_IsNumber(c) || !cJSON_IsNumber(c->next))
			return 0;
		double x = fundus__cv_scale(c->valuedouble, W);
		double y = fundus__cv_scale(c->next->valuedouble, H);

		b.x0 = fmin(b.x0, x), b.x1 = fmax(b.x1, x);
		b.y0 = fmin(b.y0, y), b.y1 = fmax(b.y1, y);
		n++;
	}
	return n >= 3 && b.x0 == bx->x0 && b.y0 == bx->y0 && b.x1 == bx->x1 && b.y1 == bx->y1;
}

/* Formats the label file of r for an image of w x h. */
static int format_lines(const struct fundus_record *r, int64_t w, int64_t h,
			const struct fundus_convert_labels *classes, char **out, size_t *len,
			struct fundus_convert_report *rep)
{
	struct fundus__jbuf b = {0};
	double W = (double)w, H = (double)h;
	int rc = 0;

	for (size_t i = 0; i < r->n_objects && rc == 0; i++) {
		const struct fundus_object *ob = &r->objects[i];
		const struct fundus_convert_label *l =
		    fundus_convert_labels_find(classes, ob->label);
		const cJSON *pts = fundus__cv_extra_get(ob->extra, "yolo_points");
		double cx, cy, bw, bh;

		if (l == NULL) {
			rc = fundus_error_set(FUNDUS_EINVAL, "label \"%s\" has no class number",
					      ob->label);
			break;
		}
		if ((rc = put_num(&b, (double)l->id, " ")) < 0)
			break;
		if (pts && points_match(pts, &ob->bbox, W, H)) {
			for (const cJSON *c = pts->child; c && rc == 0; c = c->next)
				rc = put_num(&b, c->valuedouble, c->next ? " " : "");
			if (!isnan(ob->score))
				fundus__cv_loss(rep, "score of a polygon", "objects", 1);
		} else {
			if (pts)
				fundus__cv_loss(rep, "yolo_points", "objects", 1);
			fundus__cv_centre(ob->bbox.x0, ob->bbox.x1, W, &cx, &bw);
			fundus__cv_centre(ob->bbox.y0, ob->bbox.y1, H, &cy, &bh);
			if ((rc = put_num(&b, cx, " ")) < 0 || (rc = put_num(&b, cy, " ")) < 0 ||
			    (rc = put_num(&b, bw, " ")) < 0 ||
			    (rc = put_num(&b, bh, isnan(ob->score) ? "" : " ")) < 0)
				break;
			if (!isnan(ob->score))
				rc = put_num(&b, ob->score, "");
		}
		if (rc == 0)
			rc = fundus__cv_put(&b, "\n");
		if (ob->by)
			fundus__cv_loss(rep, "by", "objects", 1);
		for (const cJSON *c = ob->extra ? ob->extra->child : NULL; c; c = c->next)
			if (strcmp(c->string, "yolo_class") && strcmp(c->string, "yolo_points"))
				fundus__cv_loss(rep, c->string, "objects", 1);
	}
	if (rc == 0 && b.data == NULL)
		rc = fundus__jbuf_put(&b, "", 0);
	if (rc < 0) {
		fundus_free(b.data);
		return rc;
	}
	if (r->id)
		fundus__cv_loss(rep, "id", "records", 1);
	if (r->source)
		fundus__cv_loss(rep, "source", "records", 1);
	if (r->meta)
		fundus__cv_loss(rep, "meta", "records", 1);
	if (r->answers)
		fundus__cv_loss(rep, "answers", "records", 1);
	for (const cJSON *c = r->extra ? r->extra->child : NULL; c; c = c->next)
		fundus__cv_loss(rep, c->string, "records", 1);
	if (rep) {
		rep->records++;
		rep->objects += (int64_t)r->n_objects;
	}
	*out = b.data;
	if (len)
		*len = b.len;
	return 0;
}

int fundus_convert_format_yolo(const struct fundus_record *r,
			       const struct fundus_convert_labels *classes, char **out, size_t *len,
			       struct fundus_convert_report *rep)
{
	*out = NULL;
	if (rep && rep->what == NULL)
		rep->what = "YOLO";
	if (r->width <= 0 || r->height <= 0)
		return fundus_error_set(FUNDUS_EINVAL, "image '%s': size unknown",
					r->image ? r->image : "?");
	return format_lines(r, r->width, r->height, classes, out, len, rep);
}

int fundus__cv_write_yolo(const char *dir, const struct fundus_convert_set *set,
			  const struct fundus_convert_options *o, struct fundus_convert_report *rep)
{
	struct fundus_convert_labels *classes = NULL;
	struct fundus__jbuf list = {0}, cls = {0};
	char **fn = fundus_calloc(set->n + 1, sizeof *fn), *labels_dir = NULL, *p;
	int rc;

	fundus__cv_report_begin(rep, "YOLO");
	if (fn == NULL)
		return FUNDUS_ENOMEM;
	if ((rc = fundus__cv_yolo_classes(set, o, &classes)) < 0)
		goto out;
	rc = fundus__cv_name_files(set, ".txt", fn);
	if (rc < 0)
		goto out;
	labels_dir = fundus__cv_join(dir, "labels");
	if (labels_dir == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	if ((rc = fundus_mkdir_p(labels_dir)) < 0)
		goto out;
	for (size_t i = 0; i < set->n && rc >= 0; i++) {
		const struct fundus_record *r = set->rec[i];
		int64_t w = r->width, h = r->height;
		char *text;
		size_t len;

		if ((w <= 0 || h <= 0) && (rc = fundus__cv_image_size(o, r->image, &w, &h)) < 0) {
			rc = fundus_error_set(rc, "record %zu: %s", i + 1, fundus_errmsg());
			break;
		}
		if ((rc = format_lines(r, w, h, classes, &text, &len, rep)) < 0)
			break;
		p = fundus__cv_join(labels_dir, fn[i]);
		rc = p ? fundus__cv_write_file(p, text, len) : FUNDUS_ENOMEM;
		if (rc < 0 && p)
			rc = fundus_error_set(rc, "'%s': %s", p, fundus_errmsg());
		fundus_free(p);
		fundus_free(text);
		if (rc < 0)
			break;
		if (r->image) {
			const char *name = fundus__cv_relative(r->image, o->image_dir);

			if (strchr(name, '\n'))
				fundus__cv_loss(rep, "an image name with a line break", "records",
						1);
			else if ((rc = fundus__cv_put(&list, name)) < 0 ||
				 (rc = fundus__cv_put(&list, "\n")) < 0)
				break;
		} else {
			fundus__cv_loss(rep, "a record without an image", "records", 1);
		}
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < classes->n && rc == 0; i++) {
		const struct fundus_convert_label *l =
		    fundus_convert_labels_find_id(classes, (int64_t)i);

		if (strchr(l->name, '\n') || strchr(l->name, '\r'))
			rc = fundus_error_set(
			    FUNDUS_EINVAL,
			    "label \"%s\" has a line break: no class list can hold it", l->name);
		else if ((rc = fundus__cv_put(&cls, l->name)) == 0)
			rc = fundus__cv_put(&cls, "\n");
	}
	if (rc < 0)
		goto out;
	if ((p = fundus__cv_join(dir, "classes.txt")) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	rc = fundus__cv_write_file(p, cls.data ? cls.data : "", cls.len);
	fundus_free(p);
	if (rc < 0)
		goto out;
	if ((p = fundus__cv_join(dir, "images.txt")) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	rc = fundus__cv_write_file(p, list.data ? list.data : "", list.len);
	fundus_free(p);
out:
	for (size_t i = 0; i < set->n; i++)
		fundus_free(fn[i]);
	fundus_free(fn);
	fundus_free(labels_dir);
	fundus_free(list.data);
	fundus_free(cls.data);
	fundus_convert_labels_free(classes);
	return rc < 0 ? rc : 0;
}

/* Reading folders. */

/* Whether a path is a folder, or a regular file. */
static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A growing list of strings. */
struct strs {
	char **v;
	size_t n, cap;
};

static void strs_free(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		fundus_free(s->v[i]);
	fundus_free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Appends a copy of s (or s itself when own). */
static int strs_push(struct strs *s, char *str, int own)
{
	char *c = own ? str : fundus_strdup(str);

	if (c == NULL)
		return FUNDUS_ENOMEM;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = fundus_realloc(s->v, cap * sizeof *v);

		if (v == NULL) {
			fundus_free(c);
			return FUNDUS_ENOMEM;
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = c;
	return 0;
}

/* Orders paths. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a file name is one of the list and class files of a YOLO folder. */
static int list_file(const char *name)
{
	static const char *const lists[] = {"classes.txt", "images.txt", "train.txt", "val.txt",
					    "valid.txt",   "test.txt",   "obj.names", "labels.txt"};

	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
		if (strcmp(name, lists[i]) == 0)
			return 1;
	return 0;
}

/* Collects the .txt label files under dir, down to depth more levels (full paths). */
static int collect_txt(const char *dir, int depth, int top, struct strs *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (d == NULL)
		return fundus_error_errno(errno == ENOENT ? FUNDUS_ENOENT : FUNDUS_EIO, errno,
					  "cannot open the folder '%s'", dir);
	while (rc == 0 && (e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		char *p;

		if (e->d_name[0] == '.')
			continue;
		if ((p = fundus__cv_join(dir, e->d_name)) == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		if (n > 4 && strcmp(e->d_name + n - 4, ".txt") == 0 && is_file(p) &&
		    !(top && list_file(e->d_name))) {
			rc = strs_push(out, p, 1);
			continue;
		}
		if (depth > 0 && is_dir(p))
			rc = collect_txt(p, depth - 1, 0, out);
		fundus_free(p);
	}
	closedir(d);
	return rc;
}

/* Finds an image file beside a label file, or in the images/ twin of a labels/ folder. */
static char *find_image(const char *txt, const char *image_dir)
{
	static const char *const exts[] = {".jpg", ".jpeg", ".png",  ".tif", ".tiff",
					   ".bmp", ".JPG",  ".JPEG", ".PNG"};
	const char *base = fundus__cv_basename(txt);
	size_t stem = fundus__cv_stem_len(base), dl = (size_t)(base - txt);
	char cand[4096];
	const char *lab = strstr(txt, "labels/");

	for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
		/* labels/train/x.txt -> images/train/x.jpg */
		if (lab && (lab == txt || lab[-1] == '/')) {
			snprintf(cand, sizeof cand, "%.*simages/%.*s%.*s%s", (int)(lab - txt), txt,
				 (int)(dl - (size_t)(lab - txt) - 7), lab + 7, (int)stem, base,
				 exts[e]);
			if (is_file(cand))
				return fundus_strdup(cand);
		}
		snprintf(cand, sizeof cand, "%.*s%.*s%s", (int)dl, txt, (int)stem, base, exts[e]);
		if (is_file(cand))
			return fundus_strdup(cand);
		if (image_dir) {
			snprintf(cand, sizeof cand, "%s/%.*s%s", image_dir, (int)stem, base,
				 exts[e]);
			if (is_file(cand))
				return fundus_strdup(cand);
		}
	}
	return NULL;
}

/* Reads the image lists of a folder: stem -> image path as the list gives it. */
static int read_lists(const char *dir, const struct fundus_convert_options *o, struct strs *images)
{
	static const char *const lists[] = {"images.txt", "train.txt", "val.txt", "valid.txt",
					    "test.txt"};
	int rc = 0;

	for (size_t k = 0; k < sizeof lists / sizeof lists[0] && rc == 0; k++) {
		char *p = fundus__cv_join(dir, lists[k]), *text;
		size_t len, pos = 0;

		if (p == NULL)
			return FUNDUS_ENOMEM;
		if (!is_file(p)) {
			fundus_free(p);
			continue;
		}
		rc = fundus__cv_read_file(p, o->max_bytes, &text, &len);
		fundus_free(p);
		if (rc < 0)
			return rc;
		while (pos < len && rc == 0) {
			const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
			size_t n = nl ? (size_t)(nl - l) : len - pos;
			char *name;

			pos += n + (nl != NULL);
			while (n && (l[n - 1] == '\r' || l[n - 1] == ' '))
				n--;
			if (n == 0)
				continue;
			name = fundus_strndup(l, n);
			if (name == NULL) {
				rc = FUNDUS_ENOMEM;
				break;
			}
			rc = strs_push(images, name, 1);
		}
		fundus_free(text);
	}
	return rc;
}

/* Loads the class list of a folder (classes.txt, obj.names, data.yaml), or NULL when none. */
static int folder_classes(const char *dir, const struct fundus_convert_options *o,
			  struct fundus_convert_labels **out)
{
	static const char *const files[] = {"classes.txt", "obj.names", "data.yaml",
					    "dataset.yaml"};

	*out = NULL;
	if (o->labels)
		return positional(o->labels, out);
	for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
		char *p = fundus__cv_join(dir, files[k]);
		int rc;

		if (p == NULL)
			return FUNDUS_ENOMEM;
		if (is_file(p)) {
			/* A names file has no ids: lines count from 0. */
			rc = fundus_convert_labels_load(p, 0, out);
			if (rc < 0)
				rc = fundus_error_set(rc, "'%s': %s", files[k],
						      fundus_errmsg());
			fundus_free(p);
			if (rc == 0 && (*out)->n) {
				struct fundus_convert_labels *pos;

				rc = positional(*out, &pos);
				fundus_convert_labels_free(*out);
				*out = rc == 0 ? pos : NULL;
			}
			return rc;
		}
		fundus_free(p);
	}
	return 0;
}

/* Drops the stored class numbers when they are what a writer would give anyway. */
static int drop_default_classes(struct fundus_convert_set *set, size_t first)
{
	struct fundus_convert_set view = {set->rec + first, set->n - first, 0};
	struct fundus_convert_labels *def;
	int same = 1, rc;

	if ((rc = fundus__cv_default_labels(&view, 0, &def)) < 0)
		return rc;
	for (size_t i = 0; i < view.n && same; i++)
		for (size_t j = 0; j < view.rec[i]->n_objects && same; j++) {
			const struct fundus_object *ob = &view.rec[i]->objects[j];
			const cJSON *c = fundus__cv_extra_get(ob->extra, "yolo_class");
			const struct fundus_convert_label *l =
			    fundus_convert_labels_find(def, ob->label);

			same = cJSON_IsNumber(c) && l && c->valuedouble == (double)l->id;
		}
	fundus_convert_labels_free(def);
	if (!same)
		return 0;
	for (size_t i = 0; i < view.n; i++)
		for (size_t j = 0; j < view.rec[i]->n_objects; j++) {
			cJSON **e = &view.rec[i]->objects[j].extra;

			cJSON_DeleteItemFromObjectCaseSensitive(*e, "yolo_class");
			if ((*e)->child == NULL) {
				cJSON_Delete(*e);
				*e = NULL;
			}
		}
	return 0;
}

/* Reads one label file for the image at path image_path (owned here). */
static int read_one(const char *txt, char *image, const struct fundus_convert_options *o,
		    const struct fundus_convert_labels *classes, struct fundus_convert_set *set)
{
	struct fundus_record *r;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if ((rc = fundus_record_new(&r)) < 0) {
		fundus_free(image);
		return rc;
	}
	r->image = image;
	if ((rc = fundus__cv_image_size(o, image, &r->width, &r->height)) < 0) {
		fundus_record_free(r);
		return rc;
	}
	if (txt && (rc = fundus__cv_read_file(txt, o->max_bytes, &text, &len)) < 0) {
		fundus_record_free(r);
		return rc;
	}
	rc = fundus_convert_parse_yolo(text ? text : "", len, classes, r, set);
	fundus_free(text);
	return rc;
}

int fundus__cv_read_yolo(const char *path, const struct fundus_convert_options *o,
			 struct fundus_convert_set *set, struct fundus_convert_report *rep,
			 struct fundus_convert_labels **labels_out)
{
	struct fundus_convert_labels *classes = NULL;
	struct strs txts = {0}, listed = {0}, keys = {0};
	struct fundus__cv_index by_stem = {0}, done = {0};
	size_t first = set->n;
	char *dir = NULL;
	int rc = 0, folder = is_dir(path);

	fundus__cv_report_begin(rep, "records");
	if (folder) {
		char *sub;

		dir = fundus_strdup(path);
		if (dir == NULL)
			return FUNDUS_ENOMEM;
		if ((rc = folder_classes(dir, o, &classes)) < 0)
			goto out;
		if ((sub = fundus__cv_join(dir, "labels")) == NULL) {
			rc = FUNDUS_ENOMEM;
			goto out;
		}
		if (is_dir(sub))
			rc = collect_txt(sub, 3, 0, &txts);
		else
			rc = collect_txt(dir, 1, 1, &txts);
		fundus_free(sub);
		if (rc == 0)
			rc = read_lists(dir, o, &listed);
	} else {
		/* One label file: its folder may hold the class list. */
		const char *base = fundus__cv_basename(path);

		dir = fundus_strndup(path, (size_t)(base - path));
		if (dir == NULL)
			return FUNDUS_ENOMEM;
		if ((rc = folder_classes(dir[0] ? dir : ".", o, &classes)) == 0)
			rc = strs_push(&txts, (char *)path, 0);
	}
	if (rc < 0)
		goto out;
	if (txts.n)
		qsort(txts.v, txts.n, sizeof *txts.v, cmp_str);
	/*
	 * The records in the order of the image lists (a writer lists every
	 * image, those without objects too), then the label files no list
	 * names, by name. A listed image without a label file has no objects.
	 */
	for (size_t i = 0; i < txts.n && rc >= 0; i++) {
		const char *b = fundus__cv_basename(txts.v[i]);
		size_t n = fundus__cv_stem_len(b);
		char *key = fundus_strndup(b, n);

		if (key == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		/* The key lives on in the name list to be freed with it. */
		rc = strs_push(&keys, key, 1);
		if (rc == 0)
			rc = fundus__cv_index_put(&by_stem, key, i);
	}
	if (rc < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; i < listed.n && rc == 0; i++) {
		const char *b = fundus__cv_basename(listed.v[i]);
		char key[1024], *image;
		size_t at;

		snprintf(key, sizeof key, "%.*s", (int)fundus__cv_stem_len(b), b);
		if (fundus__cv_index_get(&done, key, &at))
			continue; /* listed twice (train.txt and images.txt) */
		if ((rc = strs_push(&keys, key, 0)) < 0 ||
		    (rc = fundus__cv_index_put(&done, keys.v[keys.n - 1], i)) < 0)
			break;
		rc = 0;
		image = fundus__cv_join(o->image_dir, listed.v[i]);
		if (image == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		if (fundus__cv_index_get(&by_stem, key, &at)) {
			rc = read_one(txts.v[at], image, o, classes, set);
			if (rc < 0 && rc != FUNDUS_ENOMEM)
				rc = fundus_error_set(rc, "'%s': %s", txts.v[at],
						      fundus_errmsg());
		} else {
			rc = read_one(NULL, image, o, classes, set);
			if (rc < 0 && rc != FUNDUS_ENOMEM)
				rc = fundus_error_set(rc, "'%s': %s", listed.v[i],
						      fundus_errmsg());
		}
	}
	for (size_t i = 0; i < txts.n && rc == 0; i++) {
		const char *b = fundus__cv_basename(txts.v[i]);
		char key[1024], *image = NULL;
		size_t at;

		snprintf(key, sizeof key, "%.*s", (int)fundus__cv_stem_len(b), b);
		if (fundus__cv_index_get(&done, key, &at))
			continue;
		if ((image = find_image(txts.v[i], o->image_dir)) == NULL) {
			const struct fundus_record *known = fundus__cv_find_image(o, key);

			if (known == NULL || known->image == NULL) {
				rc = fundus_error_set(
				    FUNDUS_ENOENT,
				    "%s%s%sno image found for this label file (give "
				    "--image-dir DIR, or --images FILE with its size)",
				    folder ? "'" : "", folder ? txts.v[i] : "",
				    folder ? "': " : "");
				break;
			}
			image = fundus_strdup(known->image);
			if (image == NULL) {
				rc = FUNDUS_ENOMEM;
				break;
			}
		}
		rc = read_one(txts.v[i], image, o, classes, set);
		if (rc < 0 && rc != FUNDUS_ENOMEM && folder)
			rc = fundus_error_set(rc, "'%s': %s", txts.v[i], fundus_errmsg());
	}
	if (rc < 0)
		goto out;
	if ((rc = drop_default_classes(set, first)) < 0)
		goto out;
	if (classes) {
		size_t unused = 0;

		for (size_t k = 0; k < classes->n; k++) {
			int used = 0;

			for (size_t i = first; i < set->n && !used; i++)
				for (size_t j = 0; j < set->rec[i]->n_objects && !used; j++)
					used = strcmp(set->rec[i]->objects[j].label,
						      classes->v[k].name) == 0;
			unused += !used;
		}
		if (labels_out == NULL && unused) {
			fundus__cv_loss(rep, "classes without objects", "classes", (int64_t)unused);
			if (rep)
				rep->hint = "keep them with --save-labels FILE";
		}
		if (labels_out) {
			*labels_out = classes;
			classes = NULL;
		}
	}
	if (rep) {
		rep->records = (int64_t)(set->n - first);
		for (size_t i = first; i < set->n; i++)
			rep->objects += (int64_t)set->rec[i]->n_objects;
	}
out:
	if (rc < 0)
		while (set->n > first)
			fundus_record_free(set->rec[--set->n]);
	fundus_convert_labels_free(classes);
	fundus__cv_index_free(&by_stem);
	fundus__cv_index_free(&done);
	strs_free(&txts);
	strs_free(&listed);
	strs_free(&keys);
	fundus_free(dir);
	return rc;
}
