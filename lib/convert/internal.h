/*
 * internal.h: what the files of lib/convert share (internal to the library).
 *
 * Numbers: the readers of every format parse numbers with
 * fundus__cv_parse_number() (strict, C locale, bounded) and the writers
 * print them with the functions below, which choose the shortest decimal
 * for which the reader's formula gives back exactly the native double.
 */
#ifndef FUNDUS_CONVERT_INTERNAL_H
#define FUNDUS_CONVERT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/convert.h"
#include "record/json.h"

/* Coordinates and sizes beyond this are refused as absurd (2^31). */
#define FUNDUS__CV_MAX_COORD 2147483648.0

/* Nesting allowed in COCO JSON and VOC XML. */
#define FUNDUS__CV_MAX_DEPTH 64

/*
 * Parses a number: optional sign, digits with an optional point (".5" and
 * "5." are accepted, as most tools write them), optional exponent; no
 * spaces, no "inf", "nan" or hexadecimal. With decimal_comma, one ','
 * stands for the point (a field written under a decimal-comma locale).
 * Returns 0 and *out, or -1 (no error is set: callers say where).
 */
int fundus__cv_parse_number(const char *s, size_t n, int decimal_comma, double *out);

/*
 * Adds delta (-1 or +1) to the decimal number in s[0..n) exactly and writes
 * the result as a plain decimal (no exponent) into out. The input follows
 * the grammar above (no decimal comma) with an exponent of at most 400 in
 * magnitude. Returns the length, or -1 when it does not fit or is invalid.
 */
int fundus__cv_decimal_add(const char *s, size_t n, int delta, char *out, size_t cap);

/* The shortest decimal that reads back as d (the record writer's form); its length. */
size_t fundus__cv_format(double d, char buf[32]);

/* VOC: writes x + 1 exactly in decimal (x finite); its length. */
size_t fundus__cv_format_plus_one(double x, char buf[480]);

/* VOC: reads xmin and returns xmin - 1, exactly rounded; -1 when invalid. */
int fundus__cv_parse_minus_one(const char *s, size_t n, double *out);

/*
 * The double w, as short as can be written, for which a + w == b in double
 * arithmetic (COCO: x0 + w == x1); b - a when none is found nearby.
 */
double fundus__cv_extent(double a, double b);

/*
 * Formats that divide by the image size (YOLO, Open Images) cannot be
 * exact for every double: a fraction q has 53 bits, and q * W does not
 * reach every double near x. Their readers therefore clean what the
 * formula gives: x becomes the number with the fewest decimal places (up
 * to 12) within tolerance(W) = max(1e-10, 1e-14 W) pixels of it (so 174.65
 * and 2101.5 come back as such, and arbitrary doubles within that
 * tolerance).
 */
double fundus__cv_tolerance(double s);
double fundus__cv_clean(double x, double tol);

/* Open Images: x = clean(q * s). */
double fundus__cv_scale(double q, double s);

/* The q, as short as can be written, for which fundus__cv_scale(q, s) == v; else v / s. */
double fundus__cv_ratio(double v, double s);

/* YOLO: a = clean((c - w/2) * s), b = clean((c + w/2) * s). */
void fundus__cv_edges(double c, double w, double s, double *a, double *b);

/* The c and w, as short as can be written, that fundus__cv_edges() turns into a and b. */
void fundus__cv_centre(double a, double b, double s, double *c, double *w);

/* Counts n more of field (in unit) that the report's format cannot carry. */
void fundus__cv_loss(struct fundus_convert_report *rep, const char *field, const char *unit,
		     int64_t n);

/* Clears a report and names the format it is about. */
void fundus__cv_report_begin(struct fundus_convert_report *rep, const char *what);

/*
 * A hash index from strings or integers to positions (size_t), for ids
 * and paths. Keys are borrowed: they must outlive the index.
 */
struct fundus__cv_index {
	struct fundus__cv_slot {
		const char *key; /* NULL: integer key, or empty slot when used == 0 */
		int64_t ikey;
		size_t value;
		int used;
	} * slot;
	size_t cap, n;
};
void fundus__cv_index_free(struct fundus__cv_index *ix);
/* Inserts key -> value; returns 1 if the key was new, 0 if present (value unchanged), or ENOMEM. */
int fundus__cv_index_put(struct fundus__cv_index *ix, const char *key, size_t value);
int fundus__cv_index_put_int(struct fundus__cv_index *ix, int64_t key, size_t value);
/* Looks up a key; returns 1 and *value, or 0. */
int fundus__cv_index_get(const struct fundus__cv_index *ix, const char *key, size_t *value);
int fundus__cv_index_get_int(const struct fundus__cv_index *ix, int64_t key, size_t *value);

/*
 * Checks that every object's label of set is in the label map m: 0, or
 * FUNDUS_EINVAL naming the first label that is not.
 */
int fundus__cv_labels_cover(const struct fundus_convert_labels *m,
			    const struct fundus_convert_set *set);

/*
 * Names one output file per record of a folder format: fn[i] gets the stem
 * of the image's file name plus ext (".xml"), or "<i+1><ext>" for a record
 * without an image, a string the caller frees. Fails before anything is
 * written, with FUNDUS_EINVAL naming both images, when two records would be
 * written to the same file; FUNDUS_ENOMEM when a name cannot be made.
 */
int fundus__cv_name_files(const struct fundus_convert_set *set, const char *ext, char **fn);

/* Paths. */
/* The part after the last '/'. Borrowed from path. */
const char *fundus__cv_basename(const char *path);
/* dir + "/" + name into a new string (name alone when dir is NULL or empty, or name is absolute).
 */
char *fundus__cv_join(const char *dir, const char *name);
/* path without dir + "/" in front when it starts so; else path. Borrowed. */
const char *fundus__cv_relative(const char *path, const char *dir);
/* The length of the file name without its extension (".jpg"). */
size_t fundus__cv_stem_len(const char *name);

/*
 * The size of an image: from o->images (by path, file name, or name without
 * extension), else its header (fundus_image_open) when o->read_headers.
 * path is the record's image (already joined with image_dir). Returns 0 with
 * *w, *h > 0, or FUNDUS_ENOENT/EFORMAT/... with "image 'x.jpg': ..." set.
 */
int fundus__cv_image_size(const struct fundus_convert_options *o, const char *path, int64_t *w,
			  int64_t *h);

/* Finds the record of o->images for an image path (as above); NULL when none. */
const struct fundus_record *fundus__cv_find_image(const struct fundus_convert_options *o,
						  const char *path);

/* Whether key names a field that a record or an object knows (and extra must not use). */
int fundus__cv_record_key(const char *key);
int fundus__cv_object_key(const char *key);

/* Adds v (taken, freed on failure) to *extra under key, creating the object. 0 or ENOMEM. */
int fundus__cv_extra_add(cJSON **extra, const char *key, cJSON *v);

/* A member of an extra object, or NULL. */
const cJSON *fundus__cv_extra_get(const cJSON *extra, const char *key);

/* "line L, column C: " prefix from a 0-based byte offset into text. */
int fundus__cv_error_at(const char *text, size_t len, size_t offset, int code, const char *fmt, ...)
    FUNDUS_PRINTF(5, 6);

/*
 * Parses JSON text that may span many lines (COCO, label maps) and rewrites
 * the parser's "column N" into "line L, column C".
 */
int fundus__cv_json_parse(const char *text, size_t len, cJSON **out);

/*
 * Checks that text is UTF-8 without NUL bytes, as text formats must be
 * (records need UTF-8 strings). Returns 0, or FUNDUS_EFORMAT with "line L,
 * column C: ..." at the first bad byte.
 */
int fundus__cv_check_text(const char *text, size_t len);

/* Appends a NUL-terminated string to a buffer. */
int fundus__cv_put(struct fundus__jbuf *b, const char *s);

/* The default numbering of labels: sorted by name (byte order), from first. */
int fundus__cv_default_labels(const struct fundus_convert_set *set, int64_t first,
			      struct fundus_convert_labels **out);

/* Reads a whole file for a reader (limit o->max_bytes) with "cannot read" errors. */
int fundus__cv_read_file(const char *path, size_t max, char **text, size_t *len);

/* Writes a buffer to path atomically. */
int fundus__cv_write_file(const char *path, const char *data, size_t len);

/* Readers of folders and files (io.c dispatches to them). */
int fundus__cv_read_voc(const char *path, const struct fundus_convert_options *o,
			struct fundus_convert_set *set);
int fundus__cv_read_yolo(const char *path, const struct fundus_convert_options *o,
			 struct fundus_convert_set *set, struct fundus_convert_report *rep,
			 struct fundus_convert_labels **labels_out);
int fundus__cv_write_voc(const char *dir, const struct fundus_convert_set *set,
			 const struct fundus_convert_options *o, struct fundus_convert_report *rep);
int fundus__cv_write_yolo(const char *dir, const struct fundus_convert_set *set,
			  const struct fundus_convert_options *o,
			  struct fundus_convert_report *rep);
int fundus__cv_read_masks(const char *path, const struct fundus_convert_options *o,
			  struct fundus_convert_set *set);

/* The class map a YOLO writer numbers by: pinned, stored "yolo_class", or sorted from 0. */
int fundus__cv_yolo_classes(const struct fundus_convert_set *set,
			    const struct fundus_convert_options *o,
			    struct fundus_convert_labels **out);

#endif
