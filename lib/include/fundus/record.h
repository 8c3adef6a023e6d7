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
 * object, are kept (in `extra`, in input order) and written back after the
 * known fields, so a record passes through every program without losing
 * anything. A record with no objects is a real record and is written with
 * "objects": [].
 *
 * The JSON accepted is strict RFC 8259 JSON (UTF-8, no raw control
 * characters in strings), with no duplicate key in any object (a duplicate
 * is an error naming the key: readers disagree on which one wins), no
 * "\u0000" in strings, and numbers that fit in a double.
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
 * fundus_malloc()/fundus_strdup() or cJSON to its fields. libfundus routes
 * cJSON's allocations through fundus_malloc() (cJSON_InitHooks, installed
 * by the first record function called: fundus_record_new() and the reader
 * and parse functions); with a replacement allocator
 * (fundus_allocator_set()), create no cJSON value before that. Look up
 * members with cJSON_GetObjectItemCaseSensitive(): keys are case-sensitive.
 *
 * Threads: records and readers are used by one thread at a time; distinct
 * ones may be used concurrently. (cJSON keeps a global error pointer that
 * concurrent parses overwrite; libfundus does not read it.)
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

/* One annotated or detected object: a labelled box. */
struct fundus_object {
	char *label;            /* non-empty; never NULL in a record read from a stream */
	struct fundus_box bbox;
	double score;           /* NAN when absent (a ground-truth box) */
	char *by;               /* who or what made it ("alice", "model:od-v3"); NULL when absent */
	cJSON *extra;           /* the object's other fields, an object; NULL when none */
};

/* One image and what is known about it. */
struct fundus_record {
	char *image;            /* the image file's path; NULL when absent */
	char *id;               /* "sha256:<hex>" of the image bytes; NULL when absent */
	int64_t width, height;  /* displayed size, 0 to 2^31-1; 0 when unknown (not written) */
	struct fundus_object *objects; /* n_objects of them, in input order */
	size_t n_objects;
	size_t cap_objects;     /* private: allocated length of objects */
	cJSON *source;          /* {"path", "format", "frame", ...}; NULL when absent */
	cJSON *meta;            /* free-form metadata, an object; NULL when absent */
	cJSON *answers;         /* {"question": {"value": ..., "by": ...}}; NULL when absent */
	cJSON *extra;           /* other top-level fields, an object, in input order; NULL when none */
};
/*
 * Code that adds to extra must not use a known field's name there ("image",
 * "label", ...): fundus_record_format() refuses a record that would have
 * a duplicate key.
 */

/*
 * Limits on what one line may hold; past them a read fails with
 * FUNDUS_ELIMIT. They bound the memory a hostile line can take. A field
 * left 0 means its default, so a caller may set just one.
 */
struct fundus_record_limits {
	size_t max_line;    /* bytes in one line, without "\n" or "\r\n"; default 16 MiB */
	size_t max_objects; /* objects in one record; default 100000 */
	int max_depth;      /* JSON nesting, the record itself being 1; default 64 */
};

/* Fills lim with the defaults above. */
void fundus_record_limits_default(struct fundus_record_limits *lim);

/* Creates an empty record (no image, no objects). Returns 0 or FUNDUS_ENOMEM. */
int fundus_record_new(struct fundus_record **out);

/* Frees a record and everything it owns; NULL is fine. */
void fundus_record_free(struct fundus_record *r);

/* Makes a deep copy of r (strings, objects, JSON values). Returns 0 or FUNDUS_ENOMEM. */
int fundus_record_dup(const struct fundus_record *r, struct fundus_record **out);

/*
 * Appends an object; label and by are copied, by may be NULL, score NAN
 * for none; the new object has no extra fields. Returns 0, FUNDUS_EINVAL
 * (label or bbox NULL) or FUNDUS_ENOMEM (r unchanged).
 */
int fundus_record_add_object(struct fundus_record *r, const char *label,
			     const struct fundus_box *bbox, double score, const char *by);

/* Removes every object (keeps the rest of the record). */
void fundus_record_clear_objects(struct fundus_record *r);

/*
 * Replaces a string field (r->image, r->id, o->by, ...) with a copy of s
 * (NULL clears it). Returns 0 or FUNDUS_ENOMEM (the field unchanged).
 */
int fundus_record_set_string(char **field, const char *s);

/*
 * Parses one JSON text (a line without its newline; no NUL needed) into a
 * new record. lim may be NULL. The message says what is wrong and where:
 * a column for JSON syntax ("column 17: invalid JSON"), the field path for
 * the schema ("objects[2].bbox: expected an array of 4 numbers ...",
 * "meta: duplicate key \"site\""). Errors: FUNDUS_EFORMAT, FUNDUS_ELIMIT
 * (line length, nesting, object count), FUNDUS_EUNSUPPORTED (a record of a
 * newer schema version: "record schema version 2 is newer than this
 * fundus (1)"; also a number literal of more than 63 characters or
 * "\u0000"), FUNDUS_ENOMEM.
 *
 * Not checked here (fundus-convert --validate reports them): x1 >= x0 and
 * y1 >= y0, boxes inside the image, the form of "id".
 */
int fundus_record_parse(const char *text, size_t len, const struct fundus_record_limits *lim,
			struct fundus_record **out);

/*
 * Formats a record as one line of JSON followed by "\n", into a new
 * NUL-terminated buffer (free with fundus_free()); *len (len may be NULL)
 * counts the "\n" but not the NUL. Compact (no spaces); known fields first
 * in the order image, id, width, height, source, meta, objects (each:
 * label, bbox, score, by, then its extra fields), answers, then the extra
 * fields; width and height left out when 0, "objects" always written.
 * Numbers have the fewest digits that read back exactly (479.0 as 479,
 * 0.1 + 0.2 as 0.30000000000000004), whatever the locale; strings stay
 * UTF-8. What is written always parses back to an equal record.
 * Errors: FUNDUS_EINVAL when the record cannot be written as valid
 * version 1 (a missing or empty label, a non-finite coordinate or score,
 * width or height out of range, a string that is not UTF-8, a duplicate
 * or known key in an extra, source/meta/answers not an object), with the
 * field path in the message; FUNDUS_ENOMEM.
 */
int fundus_record_format(const struct fundus_record *r, char **line, size_t *len);

/*
 * Writes one record line to f. What f holds in its buffer is flushed
 * first; then the line goes out in a single write(2) on f's descriptor
 * (retried only for the rest of a short write), so that several processes
 * appending records to one file opened for appending (O_APPEND, the
 * shell's >>) never mix their lines: concurrent appenders rely on this one
 * write per record. A stream without a descriptor (fmemopen) gets one
 * fwrite() instead. Safe to call from several threads on one stream.
 * Returns 0, FUNDUS_EINVAL or FUNDUS_ENOMEM (as fundus_record_format()) or
 * FUNDUS_EIO.
 *
 * This costs one system call per record. For bulk output where no one
 * else appends, fundus_record_format() and fwrite() are faster; for
 * journals that must be on disk, use fundus_file_append_sync() from
 * fundus/file.h, which also syncs. Since the line bypasses stdio's buffer,
 * ftell(f) is not meaningful afterwards.
 */
int fundus_record_write(FILE *f, const struct fundus_record *r);

/*
 * A streaming reader of JSON Lines: one line in memory at a time (at most
 * lim->max_line bytes). Lines end in "\n" or "\r\n"; the last line may lack
 * its newline; blank lines (spaces, tabs) are skipped but counted; a UTF-8
 * byte-order mark at the very start of the stream is skipped.
 */
struct fundus_record_reader;

/*
 * Opens path ("-" for standard input, which is not closed at the end).
 * lim may be NULL for the defaults. Errors: FUNDUS_ENOENT, FUNDUS_EIO
 * ("cannot open: ..."), FUNDUS_ENOMEM.
 */
int fundus_record_reader_open(struct fundus_record_reader **out, const char *path,
			      const struct fundus_record_limits *lim);

/* Reads from a stream the caller keeps open (and closes after the reader). */
int fundus_record_reader_new(struct fundus_record_reader **out, FILE *f,
			     const struct fundus_record_limits *lim);

/*
 * Reads the next record into *out (a new record, the caller's), or sets
 * *out to NULL and returns 0 at the end of the stream. On error *out is
 * NULL and the message starts with the line number ("line 12: ..."); the
 * errors are those of fundus_record_parse(), FUNDUS_ELIMIT for a line
 * longer than lim->max_line ("line 12: longer than 16777216 bytes"),
 * FUNDUS_ENOMEM and FUNDUS_EIO. After any error but FUNDUS_EIO the reader
 * may be read on: the next call continues with the following line, so a
 * tool can report a bad line and go on:
 *
 *     for (;;) {
 *         rc = fundus_record_next(rd, &r);
 *         if (rc < 0) { report(fundus_errmsg()); failed = 1; continue; }
 *         if (r == NULL) break;
 *         ...
 *     }
 *
 * After FUNDUS_EIO (a read(2) failed) the stream is over: the next call
 * returns 0 with *out NULL.
 */
int fundus_record_next(struct fundus_record_reader *rd, struct fundus_record **out);

/* The number of the line last read (1-based; 0 before the first), for messages. */
int64_t fundus_record_reader_line(const struct fundus_record_reader *rd);

/* Frees the reader and closes the file it opened (not a stream given to _new); NULL is fine. */
void fundus_record_reader_close(struct fundus_record_reader *rd);

#ifdef __cplusplus
}
#endif
#endif
