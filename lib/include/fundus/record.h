/*
 * fundus/record.h: the record stream between the programs.
 *
 * A record describes one image: where it is, its size, where it came from,
 * its annotations and answers. The programs exchange records as JSON Lines,
 * one object per line; schema version 1 is written down in
 * fundus-formats(5). Reading is streaming: one line at a time, in bounded
 * memory, however long the stream.
 *
 * Fields that this version does not know, at the top level and inside each
 * object, are kept (in `extra`) and written back, so a record passes
 * through every program without losing anything.
 *
 *     struct fundus_record_reader *rd;
 *     struct fundus_record *r;
 *     if (fundus_record_reader_open(&rd, "-", NULL) < 0) ...
 *     while ((rc = fundus_record_next(rd, &r)) == 0 && r) {
 *         ... r->objects[0].bbox ...
 *         fundus_record_write(stdout, r);
 *         fundus_record_free(r);
 *     }
 *     if (rc < 0) fprintf(stderr, "%s\n", fundus_errmsg());   // "line 7: ..."
 *     fundus_record_reader_close(rd);
 *
 * Ownership: a record owns every string and JSON value it points to;
 * fundus_record_free() releases them all. Assign only memory from
 * fundus_malloc()/fundus_strdup() or cJSON to its fields.
 */
#ifndef FUNDUS_RECORD_H
#define FUNDUS_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "fundus/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema version this library reads and writes. */
#define FUNDUS_RECORD_VERSION 1

/*
 * A box in continuous pixel-edge coordinates of the displayed image: (0, 0)
 * is the top-left corner of the first pixel, x1 and y1 are the far edges, so
 * width = x1 - x0.
 */
struct fundus_box {
	double x0, y0, x1, y1;
};

struct fundus_object {
	char *label;            /* never NULL in a record read from a stream */
	struct fundus_box bbox;
	double score;           /* NAN when absent (a ground-truth box) */
	char *by;               /* who or what made it ("alice", "model:od-v3"); NULL when absent */
	cJSON *extra;           /* the object's other fields, an object; NULL when none */
};

struct fundus_record {
	char *image;            /* the image file's path; NULL when absent */
	char *id;               /* "sha256:<hex>" of the image bytes; NULL when absent */
	int64_t width, height;  /* displayed size; 0 when unknown */
	struct fundus_object *objects;
	size_t n_objects;
	size_t cap_objects;     /* private: allocated length of objects */
	cJSON *source;          /* {"path", "format", "frame", ...}; NULL when absent */
	cJSON *meta;            /* free-form metadata, an object; NULL when absent */
	cJSON *answers;         /* {"question": {"value": ..., "by": ...}}; NULL when absent */
	cJSON *extra;           /* other top-level fields, an object, in input order; NULL when none */
};

/* Limits on what one line may hold; past them a read fails with FUNDUS_ELIMIT. */
struct fundus_record_limits {
	size_t max_line;    /* bytes in one line; default 16 MiB */
	size_t max_objects; /* objects in one record; default 100000 */
	int max_depth;      /* JSON nesting; default 64 */
};
void fundus_record_limits_default(struct fundus_record_limits *lim);

/* Creates an empty record (no image, no objects). */
int fundus_record_new(struct fundus_record **out);
void fundus_record_free(struct fundus_record *r);
int fundus_record_dup(const struct fundus_record *r, struct fundus_record **out);

/*
 * Appends an object; label is copied, by may be NULL, score NAN for none.
 * Returns 0 or FUNDUS_ENOMEM.
 */
int fundus_record_add_object(struct fundus_record *r, const char *label,
			     const struct fundus_box *bbox, double score, const char *by);

/* Removes every object (keeps the rest of the record). */
void fundus_record_clear_objects(struct fundus_record *r);

/* Replaces a string field (r->image, r->id, ...) with a copy of s (NULL clears). */
int fundus_record_set_string(char **field, const char *s);

/*
 * Parses one JSON text (a line without its newline) into a new record.
 * lim may be NULL. Errors: FUNDUS_EFORMAT with what is wrong and where
 * ("column 17: ...", "objects[2].bbox: expected 4 numbers"), FUNDUS_ELIMIT,
 * FUNDUS_EUNSUPPORTED for a record of a newer schema version.
 */
int fundus_record_parse(const char *text, size_t len, const struct fundus_record_limits *lim,
			struct fundus_record **out);

/*
 * Formats a record as one line of JSON followed by "\n", into a new
 * NUL-terminated buffer (free with fundus_free()). Numbers are written
 * with the fewest digits that read back exactly. Known fields come first,
 * in the order of fundus-formats(5), then the extra fields.
 */
int fundus_record_format(const struct fundus_record *r, char **line, size_t *len);

/* Writes one record line to f. Returns 0, FUNDUS_ENOMEM or FUNDUS_EIO. */
int fundus_record_write(FILE *f, const struct fundus_record *r);

/* A streaming reader of JSON Lines. Blank lines are skipped. */
struct fundus_record_reader;

/*
 * Opens path ("-" for standard input). lim may be NULL for the defaults.
 */
int fundus_record_reader_open(struct fundus_record_reader **out, const char *path,
			      const struct fundus_record_limits *lim);

/* Reads from a stream the caller keeps open (and closes after the reader). */
int fundus_record_reader_new(struct fundus_record_reader **out, FILE *f,
			     const struct fundus_record_limits *lim);

/*
 * Reads the next record into *out (a new record), or sets *out to NULL at
 * the end of the stream. On error the message starts with the line number
 * ("line 12: ...") and the reader may be read on: the next call continues
 * with the following line, so a tool can report a bad line and go on.
 */
int fundus_record_next(struct fundus_record_reader *rd, struct fundus_record **out);

/* The number of the line last read (1-based), for messages. */
int64_t fundus_record_reader_line(const struct fundus_record_reader *rd);

void fundus_record_reader_close(struct fundus_record_reader *rd);

#ifdef __cplusplus
}
#endif
#endif
