/*
 * CSV annotations: one row per box, the layout given by the header (RFC
 * 4180 quoting), or keras-retinanet's headerless path,x1,y1,x2,y2,class_name.
 *
 * Columns are recognised by name, case and "_", "-", " " aside:
 *   image  image, filename, file, path, img, image_path, image_id, img_fName, ...
 *   label  label, class, class_name, category, label_name, class_label, name
 *   box    xmin/ymin/xmax/ymax, x1/y1/x2/y2, left/top/right/bottom,
 *          bbx_xtl/bbx_ytl/bbx_xbr/bbx_ybr
 *   size   width/height, img_w/img_h, image_width/image_height
 *   score  score, confidence, conf
 * Open Images' XMin, XMax, YMin, YMax (written so, in that case) are
 * normalised by the image size; cx, cy, r (or radius) columns give circles,
 * whose box is [cx - r, cy - r, cx + r, cy + r]. Other columns are kept as
 * object fields (strings). A row whose box fields are all empty lists an
 * image without objects (keras-retinanet's "path,,,,,").
 *
 * Coordinates are those of the native frame (xmin = x0, xmax = x1: 0-based,
 * the maximum exclusive), or with FUNDUS_CSV_VOC, VOC's 1-based inclusive
 * pixels (xmin = x0 + 1, xmax = x1, in exact decimal). A number may use a
 * decimal comma (a file written under such a locale: "0,358" in quotes).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

enum role {
	R_NONE = 0,
	R_IMAGE,
	R_LABEL,
	R_XMIN,
	R_YMIN,
	R_XMAX,
	R_YMAX,
	R_WIDTH,
	R_HEIGHT,
	R_SCORE,
	R_CX,
	R_CY,
	R_R,
	R_COUNT
};

static const struct {
	enum role role;
	const char *names; /* normalised names, space-separated */
} role_names[] = {
    {R_IMAGE, "image filename file path img imagepath imagename imagefile filepath imgfname "
	      "imageid imgname imgpath filenames"},
    {R_LABEL, "label class classname category categoryname labelname classlabel name"},
    {R_XMIN, "xmin x1 left xtl bbxxtl minx x0"},
    {R_YMIN, "ymin y1 top ytl bbxytl miny y0"},
    {R_XMAX, "xmax x2 right xbr bbxxbr maxx"},
    {R_YMAX, "ymax y2 bottom ybr bbxybr maxy"},
    {R_WIDTH, "width imgw imagewidth imgwidth"},
    {R_HEIGHT, "height imgh imageheight imgheight"},
    {R_SCORE, "score confidence conf probability"},
    {R_CX, "cx centerx centrex xc xcenter xcentre"},
    {R_CY, "cy centery centrey yc ycenter ycentre"},
    {R_R, "r radius"},
};

/* One parsed field: its text (unescaped) and where it starts in the file. */
struct field {
	char *s;
	size_t n;
	size_t at; /* byte offset of the field, for messages */
	int quoted;
};

struct row {
	struct field *f;
	size_t n, cap;
	size_t line_at; /* offset of the row's start */
};

/* The layout of a file. */
struct layout {
	int col[R_COUNT]; /* column of each role, -1 when absent */
	int normalised;   /* Open Images XMin...: fractions of the image size */
	size_t n_cols;
	char **names; /* header names (NULL for headerless) */
};

/* The role a header name plays. */
static enum role role_of(const char *name, size_t n)
{
	char norm[64];
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < sizeof norm; i++) {
		char c = name[i];

		if (c == '_' || c == '-' || c == ' ' || c == '\t')
			continue;
		norm[k++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	norm[k] = '\0';
	if (k == 0)
		return R_NONE;
	for (size_t r = 0; r < sizeof role_names / sizeof role_names[0]; r++) {
		const char *p = role_names[r].names;

		while (*p) {
			size_t len = strcspn(p, " ");

			if (len == k && memcmp(p, norm, k) == 0)
				return role_names[r].role;
			p += len;
			while (*p == ' ')
				p++;
		}
	}
	return R_NONE;
}

/* Frees the fields of a row (keeps the array). */
static void row_clear(struct row *r)
{
	for (size_t i = 0; i < r->n; i++)
		fundus_free(r->f[i].s);
	r->n = 0;
}

/* Appends a field. */
static int row_push(struct row *r, const char *s, size_t n, size_t at, int quoted)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct field *f;

		if (cap > 10000)
			return fundus_error_set(FUNDUS_ELIMIT, "more than 10000 fields in a row");
		f = fundus_realloc(r->f, cap * sizeof *f);
		if (f == NULL)
			return FUNDUS_ENOMEM;
		r->f = f;
		r->cap = cap;
	}
	r->f[r->n].s = fundus_strndup(s, n);
	if (r->f[r->n].s == NULL)
		return FUNDUS_ENOMEM;
	r->f[r->n].n = n;
	r->f[r->n].at = at;
	r->f[r->n].quoted = quoted;
	r->n++;
	return 0;
}

/*
 * Reads the next row from text at *pos (RFC 4180). Returns 1 with a row,
 * 0 at the end, or an error with the position.
 */
static int next_row(const char *text, size_t len, size_t *pos, struct row *r)
{
	size_t i = *pos;
	struct fundus__jbuf q = {0};
	int rc;

	row_clear(r);
	if (i >= len)
		return 0;
	r->line_at = i;
	for (;;) {
		size_t start = i;

		if (i < len && text[i] == '"') {
			/* A quoted field: up to the lone closing quote; "" is a quote. */
			q.len = 0;
			for (i++;; i++) {
				if (i >= len) {
					fundus_free(q.data);
					return fundus__cv_error_at(text, len, start, FUNDUS_EFORMAT,
								   "unterminated quoted field");
				}
				if (text[i] == '"') {
					if (i + 1 < len && text[i + 1] == '"') {
						i++;
					} else {
						i++;
						break;
					}
				}
				if ((rc = fundus__jbuf_put(&q, text + i, 1)) < 0) {
					fundus_free(q.data);
					return rc;
				}
			}
			if (i < len && text[i] != ',' && text[i] != '\n' &&
			    !(text[i] == '\r' && (i + 1 == len || text[i + 1] == '\n'))) {
				fundus_free(q.data);
				return fundus__cv_error_at(text, len, i, FUNDUS_EFORMAT,
							   "text after a closing quote");
			}
			rc = row_push(r, q.data ? q.data : "", q.len, start, 1);
		} else {
			size_t e = i;

			while (e < len && text[e] != ',' && text[e] != '\n' &&
			       !(text[e] == '\r' && (e + 1 == len || text[e + 1] == '\n'))) {
				if (text[e] == '"') {
					fundus_free(q.data);
					return fundus__cv_error_at(
					    text, len, e, FUNDUS_EFORMAT,
					    "quote inside an unquoted field");
				}
				e++;
			}
			rc = row_push(r, text + i, e - i, start, 0);
			i = e;
		}
		if (rc < 0) {
			fundus_free(q.data);
			return rc;
		}
		if (i < len && text[i] == ',') {
			i++;
			continue;
		}
		/* End of the row. */
		if (i < len && text[i] == '\r')
			i++;
		if (i < len && text[i] == '\n')
			i++;
		break;
	}
	fundus_free(q.data);
	*pos = i;
	return 1;
}

/* Whether a row is blank (one empty unquoted field). */
static int blank_row(const struct row *r)
{
	return r->n == 1 && r->f[0].n == 0 && !r->f[0].quoted;
}

/* Whether a field's text is a number (spaces around allowed). */
static int numeric(const struct field *f)
{
	const char *s = f->s;
	size_t n = f->n;
	double d;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return fundus__cv_parse_number(s, n, 1, &d) == 0;
}

/* Fills the layout from a header row; 0, or -1 when the row is no header. */
static int layout_from_header(const struct row *r, struct layout *l)
{
	int xy = 0;

	for (int k = 0; k < R_COUNT; k++)
		l->col[k] = -1;
	l->normalised = 0;
	l->n_cols = r->n;
	for (size_t i = 0; i < r->n; i++) {
		const char *s = r->f[i].s;
		enum role role = role_of(s, r->f[i].n);

		/* Open Images writes these in this case, as fractions. */
		if (strcmp(s, "XMin") == 0 || strcmp(s, "XMax") == 0 || strcmp(s, "YMin") == 0 ||
		    strcmp(s, "YMax") == 0)
			l->normalised = 1;
		if (role != R_NONE && l->col[role] < 0)
			l->col[role] = (int)i;
	}
	/* cx, cy without r are no circle; plain x, y are not recognised at all. */
	if (l->col[R_CX] >= 0 && l->col[R_CY] >= 0 && l->col[R_R] >= 0)
		xy = 1;
	if (l->col[R_XMIN] >= 0 && l->col[R_YMIN] >= 0 && l->col[R_XMAX] >= 0 &&
	    l->col[R_YMAX] >= 0)
		xy = 2;
	if (xy == 0 || l->col[R_IMAGE] < 0)
		return -1;
	if (xy == 2)
		l->col[R_CX] = l->col[R_CY] = l->col[R_R] = -1;
	return 0;
}

/* keras-retinanet: path,x1,y1,x2,y2,class_name without a header. */
static void layout_keras(struct layout *l)
{
	for (int k = 0; k < R_COUNT; k++)
		l->col[k] = -1;
	l->col[R_IMAGE] = 0;
	l->col[R_XMIN] = 1;
	l->col[R_YMIN] = 2;
	l->col[R_XMAX] = 3;
	l->col[R_YMAX] = 4;
	l->col[R_LABEL] = 5;
	l->normalised = 0;
	l->n_cols = 6;
}

/* A field with the spaces around it taken off (a view). */
static const char *field_text(const struct field *f, size_t *n)
{
	const char *s = f->s;

	*n = f->n;
	while (*n && (*s == ' ' || *s == '\t'))
		s++, (*n)--;
	while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
		(*n)--;
	return s;
}

/* Parses a coordinate field; minus_one applies VOC's 1-based minimum. */
static int csv_number(const char *text, size_t len, const struct field *f, int minus_one,
		      double *out)
{
	size_t n;
	const char *s = field_text(f, &n);
	char buf[416];
	int bad;

	if (n >= sizeof buf)
		return fundus__cv_error_at(text, len, f->at, FUNDUS_EFORMAT, "number too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	/* A decimal comma: one ',' and no '.'. */
	{
		char *c = memchr(buf, ',', n);

		if (c && !memchr(buf, '.', n) && !memchr(c + 1, ',', n - (size_t)(c - buf) - 1))
			*c = '.';
	}
	bad = minus_one ? fundus__cv_parse_minus_one(buf, n, out)
			: fundus__cv_parse_number(buf, n, 0, out);
	if (bad < 0)
		return fundus__cv_error_at(text, len, f->at, FUNDUS_EFORMAT,
					   "'%.*s' is not a number", (int)(n > 40 ? 40 : n), s);
	if (!(fabs(*out) < FUNDUS__CV_MAX_COORD))
		return fundus__cv_error_at(text, len, f->at, FUNDUS_EFORMAT,
					   "%.*s is out of range (beyond 2^31)",
					   (int)(n > 40 ? 40 : n), s);
	return 0;
}

/* Parses an image size field: a whole number from 0; empty is unknown (0). */
static int csv_size(const char *text, size_t len, const struct field *f, int64_t *out)
{
	size_t n;
	const char *s = field_text(f, &n);
	double d;

	if (n == 0) {
		*out = 0;
		return 0;
	}
	if (fundus__cv_parse_number(s, n, 0, &d) < 0 || d != trunc(d) || d < 0 || d > INT32_MAX)
		return fundus__cv_error_at(text, len, f->at, FUNDUS_EFORMAT,
					   "image size '%.*s' is not a whole number from 0 to "
					   "2147483647",
					   (int)(n > 40 ? 40 : n), s);
	*out = (int64_t)d;
	return 0;
}

/* Reads one data row into the record of its image. */
static int read_row(const char *text, size_t len, const struct row *row, const struct layout *l,
		    const struct fundus_convert_options *o, struct fundus_convert_set *set,
		    struct fundus__cv_index *ix)
{
	const struct field *f = row->f;
	struct fundus_record *r;
	struct fundus_box b;
	double v[4];
	int64_t w = 0, h = 0;
	size_t at, n_empty = 0, n_box;
	int box_roles[4], rc;
	char *image;
	const char *label = NULL;
	size_t nl = 0;

	if (row->n != l->n_cols)
		return fundus__cv_error_at(text, len, row->line_at, FUNDUS_EFORMAT,
					   "%zu fields, the %s has %zu", row->n,
					   l->names ? "header" : "first row", l->n_cols);
	{
		size_t n;
		const char *s = field_text(&f[l->col[R_IMAGE]], &n);
		char *name = fundus_strndup(s, n);

		if (name == NULL)
			return FUNDUS_ENOMEM;
		if (n == 0) {
			fundus_free(name);
			return fundus__cv_error_at(text, len, f[l->col[R_IMAGE]].at, FUNDUS_EFORMAT,
						   "empty image name");
		}
		image = fundus__cv_join(o->image_dir, name);
		fundus_free(name);
		if (image == NULL)
			return FUNDUS_ENOMEM;
	}
	if (fundus__cv_index_get(ix, image, &at)) {
		r = set->rec[at];
		fundus_free(image);
	} else {
		if ((rc = fundus_record_new(&r)) < 0) {
			fundus_free(image);
			return rc;
		}
		r->image = image;
		if ((rc = fundus_convert_set_add(set, r)) < 0 ||
		    (rc = fundus__cv_index_put(ix, r->image, set->n - 1)) < 0)
			return rc;
	}
	if (l->col[R_WIDTH] >= 0 && l->col[R_HEIGHT] >= 0) {
		if ((rc = csv_size(text, len, &f[l->col[R_WIDTH]], &w)) < 0 ||
		    (rc = csv_size(text, len, &f[l->col[R_HEIGHT]], &h)) < 0)
			return rc;
		if (w > 0 && h > 0) {
			if (r->width && (r->width != w || r->height != h))
				return fundus__cv_error_at(
				    text, len, f[l->col[R_WIDTH]].at, FUNDUS_EFORMAT,
				    "image '%s' is %lld x %lld here, %lld x %lld on an earlier row",
				    r->image, (long long)w, (long long)h, (long long)r->width,
				    (long long)r->height);
			r->width = w;
			r->height = h;
		}
	}
	if (l->col[R_CX] >= 0) {
		box_roles[0] = R_CX, box_roles[1] = R_CY, box_roles[2] = R_R, box_roles[3] = R_R;
		n_box = 3;
	} else {
		box_roles[0] = R_XMIN, box_roles[1] = R_YMIN, box_roles[2] = R_XMAX,
		box_roles[3] = R_YMAX;
		n_box = 4;
	}
	for (size_t k = 0; k < n_box; k++) {
		size_t n;

		field_text(&f[l->col[box_roles[k]]], &n);
		n_empty += n == 0;
	}
	if (l->col[R_LABEL] >= 0)
		label = field_text(&f[l->col[R_LABEL]], &nl);
	if (n_empty == n_box) {
		/* An image without objects; a label here means nothing. */
		goto extras;
	}
	if (n_empty)
		return fundus__cv_error_at(text, len, row->line_at, FUNDUS_EFORMAT,
					   "some box fields are empty, not all");
	for (size_t k = 0; k < n_box; k++) {
		int minus = o->csv_coords == FUNDUS_CSV_VOC && !l->normalised && l->col[R_CX] < 0 &&
			    (box_roles[k] == R_XMIN || box_roles[k] == R_YMIN);

		if ((rc = csv_number(text, len, &f[l->col[box_roles[k]]], minus, &v[k])) < 0)
			return rc;
	}
	if (l->col[R_CX] >= 0) {
		if (v[2] < 0)
			return fundus__cv_error_at(text, len, f[l->col[R_R]].at, FUNDUS_EFORMAT,
						   "negative radius");
		b.x0 = v[0] - v[2];
		b.y0 = v[1] - v[2];
		b.x1 = v[0] + v[2];
		b.y1 = v[1] + v[2];
	} else if (l->normalised) {
		if (r->width <= 0 || r->height <= 0) {
			if ((rc = fundus__cv_image_size(o, r->image, &w, &h)) < 0)
				return fundus__cv_error_at(text, len, row->line_at, rc, "%s",
							   fundus_errmsg());
			r->width = w;
			r->height = h;
		}
		/* XMin, YMin, XMax, YMax are in columns of their own names. */
		b.x0 = fundus__cv_scale(v[0], (double)r->width);
		b.y0 = fundus__cv_scale(v[1], (double)r->height);
		b.x1 = fundus__cv_scale(v[2], (double)r->width);
		b.y1 = fundus__cv_scale(v[3], (double)r->height);
	} else {
		b.x0 = v[0], b.y0 = v[1], b.x1 = v[2], b.y1 = v[3];
	}
	if (b.x1 < b.x0 || b.y1 < b.y0)
		return fundus__cv_error_at(text, len, row->line_at, FUNDUS_EFORMAT,
					   "negative box %s (the maximum is before the minimum)",
					   b.x1 < b.x0 ? "width" : "height");
	if (label == NULL || nl == 0)
		return fundus__cv_error_at(text, len, row->line_at, FUNDUS_EFORMAT,
					   "a box without a label");
	{
		char *lab = fundus_strndup(label, nl);
		double score = NAN;

		if (lab == NULL)
			return FUNDUS_ENOMEM;
		if (l->col[R_SCORE] >= 0) {
			size_t n;

			field_text(&f[l->col[R_SCORE]], &n);
			if (n && (rc = csv_number(text, len, &f[l->col[R_SCORE]], 0, &score)) < 0) {
				fundus_free(lab);
				return rc;
			}
		}
		rc = fundus_record_add_object(r, lab, &b, score, NULL);
		fundus_free(lab);
		if (rc < 0)
			return rc;
	}
extras:
	/* The other columns, as strings; empty ones are absent. */
	for (size_t i = 0; l->names && i < row->n; i++) {
		int used = 0;
		cJSON **dst;

		for (int k = 0; k < R_COUNT; k++)
			used |= l->col[k] == (int)i;
		if (used || f[i].n == 0)
			continue;
		dst = n_empty == n_box ? &r->extra : &r->objects[r->n_objects - 1].extra;
		if (fundus__cv_extra_get(*dst, l->names[i]))
			continue;
		if (n_empty == n_box && fundus__cv_record_key(l->names[i]))
			continue;
		if ((rc = fundus__cv_extra_add(dst, l->names[i], cJSON_CreateString(f[i].s))) < 0)
			return rc;
	}
	return 0;
}

/* Copies the header names into the layout, keyed for object fields. */
static int keep_names(struct layout *l, const struct row *r)
{
	l->names = fundus_calloc(r->n + 1, sizeof *l->names);
	if (l->names == NULL)
		return FUNDUS_ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const char *s = r->f[i].s;

		/* A column named like an object's own field would clash with it. */
		if (fundus__cv_object_key(s) || s[0] == '\0') {
			l->names[i] = fundus_malloc(r->f[i].n + 16);
			if (l->names[i])
				snprintf(l->names[i], r->f[i].n + 16, "csv_%s%s", s,
					 s[0] ? "" : "column");
		} else {
			l->names[i] = fundus_strdup(s);
		}
		if (l->names[i] == NULL)
			return FUNDUS_ENOMEM;
	}
	return 0;
}

int fundus_convert_parse_csv(const char *text, size_t len, const struct fundus_convert_options *o,
			     struct fundus_convert_set *set)
{
	struct row row = {0};
	struct layout l = {{0}, 0, 0, NULL};
	struct fundus__cv_index ix = {0};
	size_t pos = 0, first = set->n;
	int rc, have_layout = 0;

	if ((rc = fundus__cv_check_text(text, len)) < 0)
		return rc;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while ((rc = next_row(text, len, &pos, &row)) == 1) {
		if (blank_row(&row))
			continue;
		if (!have_layout) {
			have_layout = 1;
			if (layout_from_header(&row, &l) == 0) {
				if ((rc = keep_names(&l, &row)) < 0)
					break;
				continue;
			}
			/* No header: keras-retinanet's six columns with numbers or nothing. */
			if (row.n == 6 && (numeric(&row.f[1]) || row.f[1].n == 0) &&
			    (numeric(&row.f[4]) || row.f[4].n == 0)) {
				layout_keras(&l);
			} else {
				rc = fundus__cv_error_at(
				    text, len, 0, FUNDUS_EFORMAT,
				    "no header naming an image column and box columns (such as "
				    "image,xmin,ymin,xmax,ymax,label), and not the six columns "
				    "path,x1,y1,x2,y2,class_name");
				break;
			}
		}
		if ((rc = read_row(text, len, &row, &l, o, set, &ix)) < 0)
			break;
	}
	if (rc == 0 && !have_layout)
		rc = 0; /* an empty file: no records */
	row_clear(&row);
	fundus_free(row.f);
	for (size_t i = 0; l.names && i < l.n_cols; i++)
		fundus_free(l.names[i]);
	fundus_free(l.names);
	fundus__cv_index_free(&ix);
	if (rc < 0) {
		while (set->n > first)
			fundus_record_free(set->rec[--set->n]);
		return rc;
	}
	return 0;
}

/* Writing. */

/* Appends a field, quoted when it holds a comma, a quote, a line break or edge spaces. */
static int put_field(struct fundus__jbuf *b, const char *s)
{
	size_t n = strlen(s);
	int rc;

	if (strpbrk(s, ",\"\r\n") == NULL && !(n && (s[0] == ' ' || s[n - 1] == ' ')))
		return fundus__jbuf_put(b, s, n);
	if ((rc = fundus__cv_put(b, "\"")) < 0)
		return rc;
	for (const char *p = s; *p; p++)
		if ((rc = fundus__jbuf_put(b, p, 1)) < 0 ||
		    (*p == '"' && (rc = fundus__jbuf_put(b, "\"", 1)) < 0))
			return rc;
	return fundus__cv_put(b, "\"");
}

/* Splits a column list "a,b,c" into a header row. */
static int columns(const char *list, struct row *r)
{
	size_t pos = 0;
	int rc = next_row(list, strlen(list), &pos, r);

	if (rc < 0)
		return fundus_error_set(FUNDUS_EINVAL, "CSV columns: %s", fundus_errmsg());
	return 0;
}

/* The value of column i (role or extra) for a record and an object (NULL: none). */
static int cell(const struct layout *l, size_t i, enum role role, const struct fundus_record *r,
		const struct fundus_object *ob, const struct fundus_convert_options *o, char *buf,
		size_t size, const char **out)
{
	double x;
	int64_t w = r->width, h = r->height;

	*out = "";
	switch (role) {
	case R_IMAGE: *out = r->image ? fundus__cv_relative(r->image, o->image_dir) : ""; return 0;
	case R_LABEL: *out = ob ? ob->label : ""; return 0;
	case R_WIDTH:
	case R_HEIGHT:
		if (r->width > 0 && r->height > 0) {
			fundus__cv_format((double)(role == R_WIDTH ? r->width : r->height), buf);
			*out = buf;
		}
		return 0;
	case R_SCORE:
		if (ob && !isnan(ob->score)) {
			fundus__cv_format(ob->score, buf);
			*out = buf;
		}
		return 0;
	case R_XMIN:
	case R_YMIN:
	case R_XMAX:
	case R_YMAX:
		if (ob == NULL)
			return 0;
		x = role == R_XMIN   ? ob->bbox.x0
		    : role == R_YMIN ? ob->bbox.y0
		    : role == R_XMAX ? ob->bbox.x1
				     : ob->bbox.y1;
		if (l->normalised) {
			int rc;

			if ((w <= 0 || h <= 0) &&
			    (rc = fundus__cv_image_size(o, r->image, &w, &h)) < 0)
				return rc;
			x = fundus__cv_ratio(x, (double)(role == R_XMIN || role == R_XMAX ? w : h));
			fundus__cv_format(x, buf);
		} else if (o->csv_coords == FUNDUS_CSV_VOC && (role == R_XMIN || role == R_YMIN)) {
			fundus__cv_format_plus_one(x, buf);
		} else {
			fundus__cv_format(x, buf);
		}
		*out = buf;
		return 0;
	default: break;
	}
	/* Any other column: an object field of that name, else a record field. */
	{
		const cJSON *v = ob ? fundus__cv_extra_get(ob->extra, l->names[i]) : NULL;

		if (v == NULL)
			v = fundus__cv_extra_get(r->extra, l->names[i]);
		if (cJSON_IsString(v)) {
			*out = v->valuestring;
		} else if (cJSON_IsNumber(v)) {
			fundus__cv_format(v->valuedouble, buf);
			*out = buf;
		}
	}
	(void)size;
	return 0;
}

/* Counts what one record loses in this layout. */
static void csv_losses(const struct layout *l, const struct fundus_record *r,
		       struct fundus_convert_report *rep)
{
	if (r->id)
		fundus__cv_loss(rep, "id", "records", 1);
	if (r->source)
		fundus__cv_loss(rep, "source", "records", 1);
	if (r->meta)
		fundus__cv_loss(rep, "meta", "records", 1);
	if (r->answers)
		fundus__cv_loss(rep, "answers", "records", 1);
	if (r->image == NULL)
		fundus__cv_loss(rep, "a record without an image", "records", 1);
	if (r->width > 0 && (l->col[R_WIDTH] < 0 || l->col[R_HEIGHT] < 0))
		fundus__cv_loss(rep, "width and height", "records", 1);
	for (const cJSON *c = r->extra ? r->extra->child : NULL; c; c = c->next) {
		int found = 0;

		for (size_t i = 0; i < l->n_cols; i++)
			found |= strcmp(l->names[i], c->string) == 0;
		if (!found || !(cJSON_IsString(c) || cJSON_IsNumber(c)))
			fundus__cv_loss(rep, c->string, "records", 1);
	}
	for (size_t j = 0; j < r->n_objects; j++) {
		const struct fundus_object *ob = &r->objects[j];

		if (!isnan(ob->score) && l->col[R_SCORE] < 0)
			fundus__cv_loss(rep, "score", "objects", 1);
		if (ob->by)
			fundus__cv_loss(rep, "by", "objects", 1);
		for (const cJSON *c = ob->extra ? ob->extra->child : NULL; c; c = c->next) {
			int found = 0;

			for (size_t i = 0; i < l->n_cols; i++)
				found |= strcmp(l->names[i], c->string) == 0;
			if (!found || !cJSON_IsString(c))
				fundus__cv_loss(rep, c->string, "objects", 1);
		}
	}
}

int fundus_convert_format_csv(const struct fundus_convert_set *set,
			      const struct fundus_convert_options *o, char **out, size_t *len,
			      struct fundus_convert_report *rep)
{
	const char *list = o->csv_columns ? o->csv_columns : "image,xmin,ymin,xmax,ymax,label";
	int headerless = strcmp(list, "none") == 0;
	struct fundus__jbuf b = {0};
	struct row head = {0};
	struct layout l = {{0}, 0, 0, NULL};
	enum role *roles = NULL;
	int rc;

	*out = NULL;
	fundus__cv_report_begin(rep, "CSV");
	if ((rc = columns(headerless ? "path,x1,y1,x2,y2,class_name" : list, &head)) < 0)
		goto out;
	if (layout_from_header(&head, &l) < 0) {
		rc = fundus_error_set(FUNDUS_EINVAL,
				      "CSV columns '%s': name an image column and four box columns",
				      list);
		goto out;
	}
	if (l.col[R_CX] >= 0) {
		rc = fundus_error_set(FUNDUS_EINVAL,
				      "CSV columns '%s': circles are read, not written", list);
		goto out;
	}
	if ((rc = keep_names(&l, &head)) < 0)
		goto out;
	roles = fundus_calloc(l.n_cols + 1, sizeof *roles);
	if (roles == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n_cols; i++)
		for (int k = 0; k < R_COUNT; k++)
			if (l.col[k] == (int)i)
				roles[i] = (enum role)k;
	for (size_t i = 0; !headerless && i < l.n_cols && rc == 0; i++)
		if ((rc = (i ? fundus__cv_put(&b, ",") : 0)) == 0)
			rc = put_field(&b, head.f[i].s);
	if (rc == 0 && !headerless)
		rc = fundus__cv_put(&b, "\n");
	for (size_t i = 0; i < set->n && rc == 0; i++) {
		const struct fundus_record *r = set->rec[i];
		size_t n = r->n_objects ? r->n_objects : 1;

		csv_losses(&l, r, rep);
		for (size_t j = 0; j < n && rc == 0; j++) {
			const struct fundus_object *ob = r->n_objects ? &r->objects[j] : NULL;

			for (size_t c = 0; c < l.n_cols && rc == 0; c++) {
				char buf[480];
				const char *v;

				if ((rc = cell(&l, c, roles[c], r, ob, o, buf, sizeof buf, &v)) <
				    0) {
					rc = fundus_error_set(rc, "record %zu: %s", i + 1,
							      fundus_errmsg());
					break;
				}
				if (c && (rc = fundus__cv_put(&b, ",")) < 0)
					break;
				rc = put_field(&b, v);
			}
			if (rc == 0)
				rc = fundus__cv_put(&b, "\n");
		}
		if (rep) {
			rep->records++;
			rep->objects += (int64_t)r->n_objects;
		}
	}
	if (rc == 0 && b.data == NULL)
		rc = fundus__jbuf_put(&b, "", 0);
out:
	row_clear(&head);
	fundus_free(head.f);
	for (size_t i = 0; l.names && i < l.n_cols; i++)
		fundus_free(l.names[i]);
	fundus_free(l.names);
	fundus_free(roles);
	if (rc < 0) {
		fundus_free(b.data);
		return rc;
	}
	*out = b.data;
	if (len)
		*len = b.len;
	return 0;
}
