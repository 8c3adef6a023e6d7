/*
 * PASCAL VOC XML, one file per image, parsed with expat.
 *
 * Boxes are 1-based inclusive pixel indices: x0 = xmin - 1, y0 = ymin - 1,
 * x1 = xmax, y1 = ymax, and back xmin = x0 + 1. The +1 and -1 are done in
 * decimal on the text, so float coordinates (as CVAT writes them) come
 * back digit for digit, and records -> VOC -> records is exact for every
 * double.
 *
 * What VOC has beyond boxes is kept: an object's pose, truncated,
 * difficult and occluded become object fields; the rest of the file
 * (folder, source, owner, segmented, depth, parts, actions, attributes of
 * elements) goes into a "voc" field of the record or the object, as JSON
 * (text as strings, repeated elements as arrays, attributes as "@name"),
 * and is written back from it.
 *
 * A DTD or an entity declaration is refused: VOC files have none, and an
 * entity that expands to gigabytes ("billion laughs") must never be
 * expanded.
 */
#include <dirent.h>
#include <errno.h>
#include <expat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fundus/file.h"
#include "internal.h"

/* An element of the parsed file. */
struct xnode {
	char *name;
	char **attr; /* name, value, ..., NULL */
	struct fundus__jbuf text;
	struct xnode *child, *last, *next, *parent;
	unsigned long line, col;
};

struct xparse {
	XML_Parser p;
	struct xnode *root, *cur;
	int depth;
	int rc;        /* our own stop reason, 0 when expat's */
	char msg[200]; /* its message */
	unsigned long line, col;
	size_t nodes;
};

/* Frees a tree. */
static void xnode_free(struct xnode *n)
{
	while (n) {
		struct xnode *next = n->next;

		xnode_free(n->child);
		fundus_free(n->name);
		for (size_t i = 0; n->attr && n->attr[i]; i++)
			fundus_free(n->attr[i]);
		fundus_free(n->attr);
		fundus_free(n->text.data);
		fundus_free(n);
		n = next;
	}
}

/* Stops the parse with our own message at the current position. */
static void xstop(struct xparse *x, int code, const char *msg)
{
	if (x->rc == 0) {
		x->rc = code;
		snprintf(x->msg, sizeof x->msg, "%s", msg);
		x->line = XML_GetCurrentLineNumber(x->p);
		x->col = XML_GetCurrentColumnNumber(x->p) + 1;
	}
	XML_StopParser(x->p, XML_FALSE);
}

/* expat: an element starts. */
static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	struct xparse *x = ud;
	struct xnode *n;
	size_t na = 0;

	if (x->rc)
		return;
	if (++x->depth > FUNDUS__CV_MAX_DEPTH) {
		xstop(x, FUNDUS_ELIMIT, "elements nested deeper than 64 levels");
		return;
	}
	if (++x->nodes > 10000000) {
		xstop(x, FUNDUS_ELIMIT, "more than 10000000 elements");
		return;
	}
	n = fundus_calloc(1, sizeof *n);
	if (n == NULL || (n->name = fundus_strdup(name)) == NULL) {
		fundus_free(n);
		xstop(x, FUNDUS_ENOMEM, "out of memory");
		return;
	}
	while (atts[na])
		na++;
	if (na) {
		n->attr = fundus_calloc(na + 1, sizeof *n->attr);
		for (size_t i = 0; n->attr && i < na; i++)
			if ((n->attr[i] = fundus_strdup(atts[i])) == NULL)
				break;
		if (n->attr == NULL || n->attr[na - 1] == NULL) {
			xnode_free(n);
			xstop(x, FUNDUS_ENOMEM, "out of memory");
			return;
		}
	}
	n->line = XML_GetCurrentLineNumber(x->p);
	n->col = XML_GetCurrentColumnNumber(x->p) + 1;
	n->parent = x->cur;
	if (x->cur) {
		if (x->cur->last)
			x->cur->last->next = n;
		else
			x->cur->child = n;
		x->cur->last = n;
	} else {
		x->root = n;
	}
	x->cur = n;
}

/* expat: an element ends. */
static void on_end(void *ud, const XML_Char *name)
{
	struct xparse *x = ud;

	(void)name;
	if (x->rc || x->cur == NULL)
		return;
	x->depth--;
	x->cur = x->cur->parent;
}

/* expat: text. */
static void on_text(void *ud, const XML_Char *s, int len)
{
	struct xparse *x = ud;

	if (x->rc || x->cur == NULL)
		return;
	if (fundus__jbuf_put(&x->cur->text, s, (size_t)len) < 0)
		xstop(x, FUNDUS_ENOMEM, "out of memory");
}

/* expat: a DOCTYPE starts. No VOC file has one; a DTD is how entity bombs come in. */
static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
		       int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	xstop(ud, FUNDUS_EFORMAT, "a DTD (<!DOCTYPE>) is not accepted in a VOC file");
}

/* expat: an entity is declared. Refused before anything can expand it. */
static void on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *value, int len,
		      const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
		      const XML_Char *notation)
{
	(void)name, (void)pe, (void)value, (void)len, (void)base, (void)sysid, (void)pubid;
	(void)notation;
	xstop(ud, FUNDUS_EFORMAT, "entity declarations are not accepted");
}

/* Parses text into an element tree. */
static int xml_parse(const char *text, size_t len, struct xnode **root)
{
	static const XML_Memory_Handling_Suite mem = {fundus_malloc, fundus_realloc, fundus_free};
	struct xparse x;
	int rc = 0;

	*root = NULL;
	memset(&x, 0, sizeof x);
	if (len > INT32_MAX)
		return fundus_error_set(FUNDUS_ELIMIT, "an XML file of more than 2 GiB");
	x.p = XML_ParserCreate_MM(NULL, &mem, NULL);
	if (x.p == NULL)
		return fundus_error_set(FUNDUS_ENOMEM, "out of memory");
	XML_SetUserData(x.p, &x);
	XML_SetElementHandler(x.p, on_start, on_end);
	XML_SetCharacterDataHandler(x.p, on_text);
	XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
	XML_SetEntityDeclHandler(x.p, on_entity);
	XML_SetParamEntityParsing(x.p, XML_PARAM_ENTITY_PARSING_NEVER);
	if (XML_Parse(x.p, text, (int)len, XML_TRUE) != XML_STATUS_OK) {
		if (x.rc)
			rc = fundus_error_set(x.rc, "line %lu, column %lu: %s", x.line, x.col,
					      x.msg);
		else
			rc = fundus_error_set(XML_GetErrorCode(x.p) == XML_ERROR_NO_MEMORY
						  ? FUNDUS_ENOMEM
						  : FUNDUS_EFORMAT,
					      "line %lu, column %lu: %s",
					      (unsigned long)XML_GetCurrentLineNumber(x.p),
					      (unsigned long)XML_GetCurrentColumnNumber(x.p) + 1,
					      XML_ErrorString(XML_GetErrorCode(x.p)));
	}
	XML_ParserFree(x.p);
	if (rc < 0) {
		xnode_free(x.root);
		return rc;
	}
	*root = x.root;
	return 0;
}

/* The text of an element without the spaces around it (a borrowed view). */
static const char *xtext(const struct xnode *n, size_t *len)
{
	const char *s = n->text.data ? n->text.data : "";
	size_t k = n->text.len;

	while (k && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
		s++, k--;
	while (k && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\n' || s[k - 1] == '\r'))
		k--;
	*len = k;
	return s;
}

/* The first child called name, or NULL. */
static const struct xnode *xchild(const struct xnode *n, const char *name)
{
	for (const struct xnode *c = n->child; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* An error at an element. */
static int xerror(const struct xnode *n, const char *fmt, ...) FUNDUS_PRINTF(2, 3);

static int xerror(const struct xnode *n, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return fundus_error_set(FUNDUS_EFORMAT, "line %lu, column %lu: %s", n->line, n->col, msg);
}

/* "@" + an attribute's name, as a new string (NULL: out of memory). */
static char *at_name(const char *name)
{
	size_t n = strlen(name);
	char *s = fundus_malloc(n + 2);

	if (s) {
		s[0] = '@';
		memcpy(s + 1, name, n + 1);
	}
	return s;
}

/* An element as JSON: a string, or an object of attributes, children and text. */
static cJSON *to_json(const struct xnode *n)
{
	size_t tl;
	const char *t = xtext(n, &tl);
	cJSON *o;

	if (n->child == NULL && n->attr == NULL) {
		char *s = fundus_strndup(t, tl);
		cJSON *v = s ? cJSON_CreateString(s) : NULL;

		fundus_free(s);
		return v;
	}
	o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	for (size_t i = 0; n->attr && n->attr[i]; i += 2) {
		char *key = at_name(n->attr[i]);
		int ok = key && cJSON_AddStringToObject(o, key, n->attr[i + 1]);

		fundus_free(key);
		if (!ok)
			goto fail;
	}
	/* Children grouped by name in order of first appearance; repeats make arrays. */
	for (const struct xnode *c = n->child; c; c = c->next) {
		const struct xnode *d;
		int count = 0, first = 1;

		for (d = n->child; d != c; d = d->next)
			if (strcmp(d->name, c->name) == 0)
				first = 0;
		if (!first)
			continue;
		for (d = c; d; d = d->next)
			count += strcmp(d->name, c->name) == 0;
		if (count == 1) {
			cJSON *v = to_json(c);

			if (v == NULL || !cJSON_AddItemToObject(o, c->name, v)) {
				cJSON_Delete(v);
				goto fail;
			}
		} else {
			cJSON *arr = cJSON_AddArrayToObject(o, c->name);

			if (arr == NULL)
				goto fail;
			for (d = c; d; d = d->next) {
				cJSON *v;

				if (strcmp(d->name, c->name) != 0)
					continue;
				v = to_json(d);
				if (v == NULL || !cJSON_AddItemToArray(arr, v)) {
					cJSON_Delete(v);
					goto fail;
				}
			}
		}
	}
	if (tl) {
		char *s = fundus_strndup(t, tl);

		if (s == NULL || !cJSON_AddStringToObject(o, "#text", s)) {
			fundus_free(s);
			goto fail;
		}
		fundus_free(s);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* Adds child c of an element (as JSON) to *extra. */
static int keep_child(cJSON **extra, const struct xnode *c)
{
	cJSON *v = to_json(c), *prev;

	if (v == NULL)
		return FUNDUS_ENOMEM;
	prev = *extra ? cJSON_GetObjectItemCaseSensitive(*extra, c->name) : NULL;
	if (prev) {
		/* A repeated element: gather the values in an array (element values never are). */
		if (!cJSON_IsArray(prev)) {
			/* In the place of the first one, so the order of the members stays. */
			cJSON *arr = cJSON_CreateArray(), *first = cJSON_Duplicate(prev, 1);

			if (arr == NULL || first == NULL || !cJSON_AddItemToArray(arr, first) ||
			    !cJSON_ReplaceItemInObjectCaseSensitive(*extra, c->name, arr)) {
				cJSON_Delete(first);
				cJSON_Delete(arr);
				cJSON_Delete(v);
				return FUNDUS_ENOMEM;
			}
			prev = arr;
		}
		if (!cJSON_AddItemToArray(prev, v)) {
			cJSON_Delete(v);
			return FUNDUS_ENOMEM;
		}
		return 0;
	}
	return fundus__cv_extra_add(extra, c->name, v);
}

/* Parses a coordinate element: VOC's 1-based minimum (minus one) or a maximum. */
static int coordinate(const struct xnode *box, const char *name, int minimum, double *out)
{
	const struct xnode *c = xchild(box, name);
	const char *t;
	size_t n;
	int bad;

	if (c == NULL)
		return xerror(box, "<bndbox> without <%s>", name);
	t = xtext(c, &n);
	bad =
	    minimum ? fundus__cv_parse_minus_one(t, n, out) : fundus__cv_parse_number(t, n, 0, out);
	if (bad < 0)
		return xerror(c, "<%s>: '%.*s' is not a number", name, (int)(n > 40 ? 40 : n), t);
	if (!(fabs(*out) < FUNDUS__CV_MAX_COORD))
		return xerror(c, "<%s>: %.*s is out of range (beyond 2^31)", name,
			      (int)(n > 40 ? 40 : n), t);
	return 0;
}

/* An integer flag (truncated, difficult, occluded) as a number, or its text as it is. */
static cJSON *flag_value(const struct xnode *c)
{
	size_t n;
	const char *t = xtext(c, &n);
	double d;
	char *s;
	cJSON *v;

	if (n > 0 && n < 10 && fundus__cv_parse_number(t, n, 0, &d) == 0 && d == trunc(d) &&
	    memchr(t, '.', n) == NULL && memchr(t, 'e', n) == NULL && memchr(t, 'E', n) == NULL &&
	    t[0] != '+' && !(n > 1 && t[0] == '0') && !(t[0] == '-' && (n == 1 || t[1] == '0')))
		return cJSON_CreateNumber(d);
	s = fundus_strndup(t, n);
	v = s ? cJSON_CreateString(s) : NULL;
	fundus_free(s);
	return v;
}

/* Reads an <object> into r. */
static int read_object(const struct xnode *obj, struct fundus_record *r)
{
	const struct xnode *name = xchild(obj, "name"), *box = xchild(obj, "bndbox");
	struct fundus_object *o;
	struct fundus_box b;
	cJSON *voc = NULL;
	size_t nl;
	const char *label;
	char *l;
	int rc;

	if (name == NULL)
		return xerror(obj, "<object> without <name>");
	label = xtext(name, &nl);
	if (nl == 0)
		return xerror(name, "empty <name>");
	if (box == NULL)
		return xerror(obj, "<object> without <bndbox>");
	if ((rc = coordinate(box, "xmin", 1, &b.x0)) < 0 ||
	    (rc = coordinate(box, "ymin", 1, &b.y0)) < 0 ||
	    (rc = coordinate(box, "xmax", 0, &b.x1)) < 0 ||
	    (rc = coordinate(box, "ymax", 0, &b.y1)) < 0)
		return rc;
	if (b.x1 < b.x0 || b.y1 < b.y0)
		return xerror(box, "negative %s: %s before %s", b.x1 < b.x0 ? "width" : "height",
			      b.x1 < b.x0 ? "xmax" : "ymax", b.x1 < b.x0 ? "xmin" : "ymin");
	if ((l = fundus_strndup(label, nl)) == NULL)
		return FUNDUS_ENOMEM;
	rc = fundus_record_add_object(r, l, &b, NAN, NULL);
	fundus_free(l);
	if (rc < 0)
		return rc;
	o = &r->objects[r->n_objects - 1];
	for (const struct xnode *c = obj->child; c; c = c->next) {
		if (c == name || c == box)
			continue;
		/* One box an object: a second would be taken for members of the first. */
		if (strcmp(c->name, "bndbox") == 0) {
			cJSON_Delete(voc);
			return xerror(c, "a second <bndbox> in one <object>");
		}
		if (strcmp(c->name, "pose") == 0 && c->child == NULL && c->attr == NULL &&
		    !fundus__cv_extra_get(o->extra, "pose")) {
			rc = fundus__cv_extra_add(&o->extra, "pose", to_json(c));
		} else if ((strcmp(c->name, "truncated") == 0 ||
			    strcmp(c->name, "difficult") == 0 ||
			    strcmp(c->name, "occluded") == 0) &&
			   c->child == NULL && c->attr == NULL &&
			   !fundus__cv_extra_get(o->extra, c->name)) {
			rc = fundus__cv_extra_add(&o->extra, c->name, flag_value(c));
		} else {
			rc = keep_child(&voc, c);
		}
		if (rc < 0) {
			cJSON_Delete(voc);
			return rc;
		}
	}
	/* Members of <bndbox> beyond the four coordinates. */
	for (const struct xnode *c = box->child; c; c = c->next) {
		if (strcmp(c->name, "xmin") && strcmp(c->name, "ymin") && strcmp(c->name, "xmax") &&
		    strcmp(c->name, "ymax")) {
			cJSON *bb = voc ? cJSON_GetObjectItemCaseSensitive(voc, "bndbox") : NULL;

			if (bb == NULL) {
				if ((rc = fundus__cv_extra_add(&voc, "bndbox",
							       cJSON_CreateObject())) < 0)
					return rc;
				bb = cJSON_GetObjectItemCaseSensitive(voc, "bndbox");
			}
			if ((rc = keep_child(&bb, c)) < 0) {
				cJSON_Delete(voc);
				return rc;
			}
		}
	}
	if (voc && (rc = fundus__cv_extra_add(&o->extra, "voc", voc)) < 0)
		return rc;
	return 0;
}

/* Reads <size>: width and height into r, the rest (depth) into *voc. */
static int read_size(const struct xnode *size, struct fundus_record *r, cJSON **voc)
{
	cJSON *rest = NULL;
	int rc;

	for (const struct xnode *c = size->child; c; c = c->next) {
		if ((strcmp(c->name, "width") == 0 || strcmp(c->name, "height") == 0) &&
		    c->child == NULL) {
			size_t n;
			const char *t = xtext(c, &n);
			double d;
			int64_t *dst = c->name[0] == 'w' ? &r->width : &r->height;

			if (n == 0)
				continue;
			if (fundus__cv_parse_number(t, n, 0, &d) < 0 || d != trunc(d) || d < 0 ||
			    d > INT32_MAX) {
				cJSON_Delete(rest);
				return xerror(c,
					      "<%s>: '%.*s' is not a whole number from 0 to "
					      "2147483647",
					      c->name, (int)(n > 40 ? 40 : n), t);
			}
			*dst = (int64_t)d;
			continue;
		}
		if ((rc = keep_child(&rest, c)) < 0) {
			cJSON_Delete(rest);
			return rc;
		}
	}
	/* Kept when it holds more than the size, or no size (to write it back). */
	if (rest == NULL && (r->width > 0 || r->height > 0))
		return 0;
	if (rest == NULL && (rest = cJSON_CreateObject()) == NULL)
		return FUNDUS_ENOMEM;
	return fundus__cv_extra_add(voc, "size", rest);
}

int fundus_convert_parse_voc(const char *text, size_t len, const struct fundus_convert_options *o,
			     struct fundus_convert_set *set)
{
	struct xnode *root;
	struct fundus_record *r = NULL;
	cJSON *voc = NULL;
	int rc;

	if ((rc = xml_parse(text, len, &root)) < 0)
		return rc;
	if (root == NULL || strcmp(root->name, "annotation") != 0) {
		rc = root
			 ? xerror(root, "not a PASCAL VOC file: the root is <%s>, not <annotation>",
				  root->name)
			 : fundus_error_set(FUNDUS_EFORMAT, "no element");
		goto out;
	}
	if ((rc = fundus_record_new(&r)) < 0)
		goto out;
	for (size_t i = 0; root->attr && root->attr[i]; i += 2) {
		char *key = at_name(root->attr[i]);

		rc = key ? fundus__cv_extra_add(&voc, key, cJSON_CreateString(root->attr[i + 1]))
			 : FUNDUS_ENOMEM;
		fundus_free(key);
		if (rc < 0)
			goto out;
	}
	for (const struct xnode *c = root->child; c; c = c->next) {
		if (strcmp(c->name, "object") == 0)
			rc = read_object(c, r);
		else if (strcmp(c->name, "size") == 0 && !fundus__cv_extra_get(voc, "size") &&
			 r->width == 0 && r->height == 0)
			rc = read_size(c, r, &voc);
		else if (strcmp(c->name, "filename") == 0 && r->image == NULL && c->child == NULL) {
			size_t n;
			const char *t = xtext(c, &n);
			char *name = fundus_strndup(t, n);

			rc = FUNDUS_ENOMEM;
			if (name && (r->image = fundus__cv_join(o->image_dir, name)) != NULL)
				rc = 0;
			fundus_free(name);
		} else {
			rc = keep_child(&voc, c);
		}
		if (rc < 0)
			goto out;
	}
	if (voc) {
		if ((rc = fundus__cv_extra_add(&r->extra, "voc", voc)) < 0) {
			voc = NULL;
			goto out;
		}
		voc = NULL;
	}
	rc = fundus_convert_set_add(set, r);
	r = NULL;
out:
	cJSON_Delete(voc);
	fundus_record_free(r);
	xnode_free(root);
	return rc;
}

/* Orders file names. */
static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the files of dir that end in ext (a new array of new strings). */
static int list_files(const char *dir, const char *ext, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0, ne = strlen(ext);
	char **v = NULL;

	*n = 0;
	if (d == NULL)
		return fundus_error_errno(errno == ENOENT ? FUNDUS_ENOENT : FUNDUS_EIO, errno,
					  "cannot open the folder");
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len <= ne || strcmp(e->d_name + len - ne, ext) != 0)
			continue;
		if (*n == cap) {
			char **nv;

			cap = cap ? cap * 2 : 64;
			nv = fundus_realloc(v, cap * sizeof *v);
			if (nv == NULL)
				goto nomem;
			v = nv;
		}
		if ((v[*n] = fundus_strdup(e->d_name)) == NULL)
			goto nomem;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof *v, cmp_names);
	*out = v;
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < *n; i++)
		fundus_free(v[i]);
	fundus_free(v);
	return FUNDUS_ENOMEM;
}

int fundus__cv_read_voc(const char *path, const struct fundus_convert_options *o,
			struct fundus_convert_set *set)
{
	struct fundus_convert_options oo = *o;
	char *ann = fundus__cv_join(path, "Annotations"),
	     *img = fundus__cv_join(path, "JPEGImages");
	const char *dir = path;
	struct stat st;
	char **names = NULL;
	size_t n = 0, first = set->n;
	int rc;

	if (ann == NULL || img == NULL) {
		rc = FUNDUS_ENOMEM;
		goto out;
	}
	/* A devkit folder: XML files in Annotations, images in JPEGImages. */
	if (stat(ann, &st) == 0 && S_ISDIR(st.st_mode)) {
		dir = ann;
		if (oo.image_dir == NULL && stat(img, &st) == 0 && S_ISDIR(st.st_mode))
			oo.image_dir = img;
	}
	if ((rc = list_files(dir, ".xml", &names, &n)) < 0)
		goto out;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *p = fundus__cv_join(dir, names[i]), *text;
		size_t len;

		if (p == NULL) {
			rc = FUNDUS_ENOMEM;
			break;
		}
		rc = fundus__cv_read_file(p, o->max_bytes, &text, &len);
		if (rc == 0) {
			rc = fundus_convert_parse_voc(text, len, &oo, set);
			fundus_free(text);
		}
		if (rc < 0 && rc != FUNDUS_ENOMEM)
			rc = fundus_error_set(rc, "'%s': %s", names[i], fundus_errmsg());
		fundus_free(p);
	}
out:
	for (size_t i = 0; i < n; i++)
		fundus_free(names[i]);
	fundus_free(names);
	fundus_free(ann);
	fundus_free(img);
	if (rc < 0)
		while (set->n > first)
			fundus_record_free(set->rec[--set->n]);
	return rc;
}

/* Writing. */

/* Appends text escaped for XML content or attributes; FUNDUS_EINVAL for characters XML cannot hold.
 */
static int put_escaped(struct fundus__jbuf *b, const char *s)
{
	const char *run = s;
	int rc;

	for (; *s; s++) {
		const char *rep = NULL;
		unsigned char c = (unsigned char)*s;

		if (c == '&')
			rep = "&amp;";
		else if (c == '<')
			rep = "&lt;";
		else if (c == '>')
			rep = "&gt;";
		else if (c == '"')
			rep = "&quot;";
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			return fundus_error_set(
			    FUNDUS_EINVAL, "control character 0x%02x cannot be written in XML", c);
		if (rep == NULL)
			continue;
		if ((rc = fundus__jbuf_put(b, run, (size_t)(s - run))) < 0 ||
		    (rc = fundus__cv_put(b, rep)) < 0)
			return rc;
		run = s + 1;
	}
	return fundus__jbuf_put(b, run, (size_t)(s - run));
}

/* Appends depth tabs. */
static int indent(struct fundus__jbuf *b, int depth)
{
	static const char tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";

	return fundus__jbuf_put(b, tabs, (size_t)(depth < 16 ? depth : 16));
}

/* Whether key can be an XML element name (the simple ASCII ones VOC uses). */
static int xml_name(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
		return 0;
	for (k++; *k; k++)
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9') || *k == '_' || *k == '-' || *k == '.'))
			return 0;
	return 1;
}

/* Appends <key>text</key>. */
static int put_leaf(struct fundus__jbuf *b, int depth, const char *key, const char *text)
{
	int rc;

	if ((rc = indent(b, depth)) < 0 || (rc = fundus__cv_put(b, "<")) < 0 ||
	    (rc = fundus__cv_put(b, key)) < 0 || (rc = fundus__cv_put(b, ">")) < 0 ||
	    (rc = put_escaped(b, text)) < 0 || (rc = fundus__cv_put(b, "</")) < 0 ||
	    (rc = fundus__cv_put(b, key)) < 0)
		return rc;
	return fundus__cv_put(b, ">\n");
}

/*
 * Whether a JSON value can be written as an element and read back the same:
 * strings, objects of such (keys: element names, "@attr" with string values,
 * "#text"), arrays of strings or objects.
 */
static int representable(const cJSON *v, int in_array)
{
	if (cJSON_IsString(v))
		return 1;
	if (cJSON_IsArray(v)) {
		if (in_array || v->child == NULL || v->child->next == NULL)
			return 0; /* an array of one reads back as a single value */
		for (const cJSON *c = v->child; c; c = c->next)
			if (!representable(c, 1))
				return 0;
		return 1;
	}
	if (cJSON_IsObject(v)) {
		int plain = 1;

		for (const cJSON *c = v->child; c; c = c->next) {
			if (c->string[0] == '@') {
				if (!xml_name(c->string + 1) || !cJSON_IsString(c))
					return 0;
				plain = 0;
			} else if (strcmp(c->string, "#text") == 0) {
				if (!cJSON_IsString(c))
					return 0;
			} else if (!xml_name(c->string) || !representable(c, 0)) {
				return 0;
			} else {
				plain = 0;
			}
		}
		/* {} or {"#text": ...} alone would read back as a string. */
		return !plain;
	}
	return 0;
}

/*
 * Whether the members of a "voc" object can be written and read back:
 * attributes and "#text" as strings, the rest representable(); "size" and
 * "bndbox" are the writer's own elements and may be objects of such
 * members, empty ones included.
 */
static int voc_members_ok(const cJSON *v)
{
	if (!cJSON_IsObject(v))
		return 0;
	for (const cJSON *c = v->child; c; c = c->next) {
		if (c->string[0] == '@') {
			if (!xml_name(c->string + 1) || !cJSON_IsString(c))
				return 0;
		} else if (strcmp(c->string, "#text") == 0) {
			return 0; /* text beside elements is not kept by the reader */
		} else if (strcmp(c->string, "size") == 0 || strcmp(c->string, "bndbox") == 0) {
			if (!cJSON_IsObject(c))
				return 0;
			for (const cJSON *d = c->child; d; d = d->next)
				if (d->string[0] == '@' || strcmp(d->string, "#text") == 0 ||
				    !xml_name(d->string) || !representable(d, 0))
					return 0;
		} else if (!xml_name(c->string) || !representable(c, 0)) {
			return 0;
		}
	}
	return 1;
}

/* Appends a JSON value (representable()) as the element key. */
static int put_json(struct fundus__jbuf *b, int depth, const char *key, const cJSON *v)
{
	const cJSON *c, *text = NULL;
	int rc;

	if (cJSON_IsString(v))
		return put_leaf(b, depth, key, v->valuestring);
	if (cJSON_IsArray(v)) {
		for (c = v->child; c; c = c->next)
			if ((rc = put_json(b, depth, key, c)) < 0)
				return rc;
		return 0;
	}
	if ((rc = indent(b, depth)) < 0 || (rc = fundus__cv_put(b, "<")) < 0 ||
	    (rc = fundus__cv_put(b, key)) < 0)
		return rc;
	for (c = v->child; c; c = c->next) {
		if (c->string[0] != '@')
			continue;
		if ((rc = fundus__cv_put(b, " ")) < 0 ||
		    (rc = fundus__cv_put(b, c->string + 1)) < 0 ||
		    (rc = fundus__cv_put(b, "=\"")) < 0 ||
		    (rc = put_escaped(b, c->valuestring)) < 0 || (rc = fundus__cv_put(b, "\"")) < 0)
			return rc;
	}
	if ((rc = fundus__cv_put(b, ">")) < 0)
		return rc;
	text = cJSON_GetObjectItemCaseSensitive(v, "#text");
	if (text && (rc = put_escaped(b, text->valuestring)) < 0)
		return rc;
	if ((rc = fundus__cv_put(b, "\n")) < 0)
		return rc;
	for (c = v->child; c; c = c->next) {
		if (c->string[0] == '@' || c == text)
			continue;
		if ((rc = put_json(b, depth + 1, c->string, c)) < 0)
			return rc;
	}
	if ((rc = indent(b, depth)) < 0 || (rc = fundus__cv_put(b, "</")) < 0 ||
	    (rc = fundus__cv_put(b, key)) < 0)
		return rc;
	return fundus__cv_put(b, ">\n");
}

/* Whether text has spaces at either end (which a reader trims). */
static int padded(const char *s)
{
	size_t n = strlen(s);

	return n && (strchr(" \t\r\n", s[0]) || strchr(" \t\r\n", s[n - 1]));
}

/* Writes one <object>. */
static int put_object(struct fundus__jbuf *b, const struct fundus_object *ob,
		      struct fundus_convert_report *rep)
{
	static const char *const flags[] = {"pose", "truncated", "difficult", "occluded"};
	const cJSON *voc = fundus__cv_extra_get(ob->extra, "voc"), *bb = NULL;
	char num[480];
	int rc;

	if (voc && !voc_members_ok(voc)) {
		fundus__cv_loss(rep, "voc", "objects", 1);
		voc = NULL;
	}
	if (padded(ob->label))
		fundus__cv_loss(rep, "spaces around a label", "objects", 1);
	if ((rc = fundus__cv_put(b, "\t<object>\n")) < 0 ||
	    (rc = put_leaf(b, 2, "name", ob->label)) < 0)
		return rc;
	/* The flags in the order the object holds them (a reader keeps the file's order). */
	for (const cJSON *f = ob->extra ? ob->extra->child : NULL; f; f = f->next) {
		size_t i = 0;

		while (i < sizeof flags / sizeof flags[0] && strcmp(f->string, flags[i]) != 0)
			i++;
		if (i == sizeof flags / sizeof flags[0])
			continue;
		if (cJSON_IsString(f) && !padded(f->valuestring)) {
			rc = put_leaf(b, 2, flags[i], f->valuestring);
		} else if (cJSON_IsNumber(f) && f->valuedouble == trunc(f->valuedouble) &&
			   fabs(f->valuedouble) < 1e9 && !(i == 0)) {
			fundus__cv_format(f->valuedouble, num);
			rc = put_leaf(b, 2, flags[i], num);
		} else {
			fundus__cv_loss(rep, flags[i], "objects", 1);
			continue;
		}
		if (rc < 0)
			return rc;
	}
	if ((rc = fundus__cv_put(b, "\t\t<bndbox>\n")) < 0)
		return rc;
	fundus__cv_format_plus_one(ob->bbox.x0, num);
	if ((rc = put_leaf(b, 3, "xmin", num)) < 0)
		return rc;
	fundus__cv_format_plus_one(ob->bbox.y0, num);
	if ((rc = put_leaf(b, 3, "ymin", num)) < 0)
		return rc;
	fundus__cv_format(ob->bbox.x1, num);
	if ((rc = put_leaf(b, 3, "xmax", num)) < 0)
		return rc;
	fundus__cv_format(ob->bbox.y1, num);
	if ((rc = put_leaf(b, 3, "ymax", num)) < 0)
		return rc;
	bb = voc ? cJSON_GetObjectItemCaseSensitive(voc, "bndbox") : NULL;
	for (const cJSON *c = bb ? bb->child : NULL; c; c = c->next)
		if ((rc = put_json(b, 3, c->string, c)) < 0)
			return rc;
	if ((rc = fundus__cv_put(b, "\t\t</bndbox>\n")) < 0)
		return rc;
	for (const cJSON *c = voc ? voc->child : NULL; c; c = c->next)
		if (c != bb && c->string[0] != '@' && strcmp(c->string, "#text") &&
		    (rc = put_json(b, 2, c->string, c)) < 0)
			return rc;
	/* What VOC has no place for. */
	if (!isnan(ob->score))
		fundus__cv_loss(rep, "score", "objects", 1);
	if (ob->by)
		fundus__cv_loss(rep, "by", "objects", 1);
	for (const cJSON *c = ob->extra ? ob->extra->child : NULL; c; c = c->next) {
		int known = strcmp(c->string, "voc") == 0;

		for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
			known |= strcmp(c->string, flags[i]) == 0;
		if (!known)
			fundus__cv_loss(rep, c->string, "objects", 1);
	}
	return fundus__cv_put(b, "\t</object>\n");
}

/* Writes <filename>: the image relative to image_dir; a folder part beyond it is lost. */
static int put_filename(struct fundus__jbuf *b, const struct fundus_record *r,
			const struct fundus_convert_options *o, struct fundus_convert_report *rep)
{
	const char *name = fundus__cv_relative(r->image, o->image_dir);

	if (strchr(name, '/')) {
		fundus__cv_loss(rep, "image folder", "records", 1);
		if (rep)
			rep->hint = "name the image folder with --image-dir DIR";
		name = fundus__cv_basename(name);
	}
	if (padded(name))
		fundus__cv_loss(rep, "spaces around an image name", "records", 1);
	return put_leaf(b, 1, "filename", name);
}

/* Writes <size>: width and height when known, then the other members kept (depth). */
static int put_size(struct fundus__jbuf *b, const struct fundus_record *r, const cJSON *size)
{
	char num[32];
	int rc = fundus__cv_put(b, "\t<size>\n");

	if (rc == 0 && r->width > 0) {
		fundus__cv_format((double)r->width, num);
		rc = put_leaf(b, 2, "width", num);
	}
	if (rc == 0 && r->height > 0) {
		fundus__cv_format((double)r->height, num);
		rc = put_leaf(b, 2, "height", num);
	}
	for (const cJSON *s = size ? size->child : NULL; s && rc == 0; s = s->next)
		rc = put_json(b, 2, s->string, s);
	if (rc == 0)
		rc = fundus__cv_put(b, "\t</size>\n");
	return rc;
}

int fundus_convert_format_voc(const struct fundus_record *r, const struct fundus_convert_options *o,
			      char **out, size_t *len, struct fundus_convert_report *rep)
{
	const cJSON *voc = fundus__cv_extra_get(r->extra, "voc"), *size = NULL, *c;
	struct fundus__jbuf b = {0};
	int rc;

	*out = NULL;
	if (rep && rep->what == NULL)
		rep->what = "VOC";
	if (voc && !voc_members_ok(voc)) {
		fundus__cv_loss(rep, "voc", "records", 1);
		voc = NULL;
	}
	size = voc ? cJSON_GetObjectItemCaseSensitive(voc, "size") : NULL;
	rc = fundus__cv_put(&b, "<annotation");
	for (c = voc ? voc->child : NULL; c && rc == 0; c = c->next) {
		if (c->string[0] != '@')
			continue;
		if ((rc = fundus__cv_put(&b, " ")) == 0 &&
		    (rc = fundus__cv_put(&b, c->string + 1)) == 0 &&
		    (rc = fundus__cv_put(&b, "=\"")) == 0 &&
		    (rc = put_escaped(&b, c->valuestring)) == 0)
			rc = fundus__cv_put(&b, "\"");
	}
	if (rc == 0)
		rc = fundus__cv_put(&b, ">\n");
	/*
	 * The "voc" members in their order (as a reader keeps the file's), with
	 * <filename> after <folder> (or first) and <size> where the file had it,
	 * else before <segmented>, else after the rest: the devkit's order for
	 * devkit files, and the same members in the same order for any file.
	 */
	{
		const cJSON *folder = voc ? cJSON_GetObjectItemCaseSensitive(voc, "folder") : NULL;
		const cJSON *seg = voc ? cJSON_GetObjectItemCaseSensitive(voc, "segmented") : NULL;
		int name_done = 0, size_done = 0;
		int want_size = r->width > 0 || r->height > 0 || size;

		c = voc ? voc->child : NULL;
		for (;; c = c->next) {
			/* Before any other <filename> kept: the first one names the image. */
			if (rc == 0 && !name_done &&
			    (folder == NULL || c == NULL || c == folder->next ||
			     strcmp(c->string, "filename") == 0)) {
				name_done = 1;
				if (r->image)
					rc = put_filename(&b, r, o, rep);
			}
			if (rc == 0 && want_size && !size_done &&
			    (c == NULL || c == size || (size == NULL && c == seg))) {
				size_done = 1;
				rc = put_size(&b, r, size);
			}
			if (c == NULL || rc < 0)
				break;
			if (c->string[0] != '@' && strcmp(c->string, "#text") && c != size)
				rc = put_json(&b, 1, c->string, c);
		}
	}
	for (size_t i = 0; i < r->n_objects && rc == 0; i++)
		rc = put_object(&b, &r->objects[i], rep);
	if (rc == 0)
		rc = fundus__cv_put(&b, "</annotation>\n");
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
	for (c = r->extra ? r->extra->child : NULL; c; c = c->next)
		if (strcmp(c->string, "voc"))
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

int fundus__cv_write_voc(const char *dir, const struct fundus_convert_set *set,
			 const struct fundus_convert_options *o, struct fundus_convert_report *rep)
{
	char **fn = fundus_calloc(set->n + 1, sizeof *fn);
	int rc = 0;

	fundus__cv_report_begin(rep, "VOC");
	if (fn == NULL)
		return FUNDUS_ENOMEM;
	/* Name every file first: a clash writes nothing. */
	rc = fundus__cv_name_files(set, ".xml", fn);
	if (rc >= 0)
		rc = fundus_mkdir_p(dir);
	for (size_t i = 0; i < set->n && rc >= 0; i++) {
		char *text, *path;
		size_t len;

		if ((rc = fundus_convert_format_voc(set->rec[i], o, &text, &len, rep)) < 0) {
			rc = fundus_error_set(rc, "record %zu: %s", i + 1, fundus_errmsg());
			break;
		}
		path = fundus__cv_join(dir, fn[i]);
		rc = path ? fundus__cv_write_file(path, text, len) : FUNDUS_ENOMEM;
		if (rc < 0 && path)
			rc = fundus_error_set(rc, "'%s': %s", path, fundus_errmsg());
		fundus_free(path);
		fundus_free(text);
	}
	for (size_t i = 0; i < set->n; i++)
		fundus_free(fn[i]);
	fundus_free(fn);
	return rc < 0 ? rc : 0;
}
