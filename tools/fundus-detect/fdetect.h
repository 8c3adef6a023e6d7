/*
 * fdetect.h: the parts of fundus-detect, shared between its files.
 *
 *   inputs.c   the list of images: arguments, folders, names on standard
 *              input, record streams
 *   done.c     the set of image ids (content hashes) done already
 *   output.c   the output file: lock, the ids it holds, repair of an
 *              interrupted append, one appended record at a time
 *   work.c     the worker threads: read, hash, decode, detect, format,
 *              draw; results handed back in input order
 *   overlay.c  the picture of one image with its boxes
 *   main.c     options, the run, CSV and COCO results, exit status
 */
#ifndef FDETECT_H
#define FDETECT_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/detect.h"
#include "fundus/image.h"
#include "fundus/record.h"
#include "fundus/sha256.h"

/* Exit statuses past tool.h's 0, 1 and 2 (fundus-detect(1) lists them). */
enum {
	DETECT_EXIT_NOTHING = 3, /* every image was in the output already, or there was none */
	DETECT_EXIT_BUSY = 4,    /* another run holds the lock on the output */
};

/* One image to detect in. */
struct job {
	char *path;                /* the file to read (owned) */
	struct fundus_record *rec; /* the input record, from a record stream; or NULL */
	int from_folder;           /* found in a folder walk: not an image is a warning */
};

/* The list of jobs, in input order. */
struct jobs {
	struct job *v;
	size_t n, cap;
};

/* Adds a file to the list; takes nothing. Returns 0 or -1 (out of memory, after a message). */
int jobs_add_file(struct jobs *js, const char *path, int from_folder);

/*
 * Adds a file or a folder's files (recursively, in byte order of the
 * names, without names starting with a dot; links to folders not
 * followed). A missing path is added as a file, so that it fails with its
 * name later like any unreadable image. Returns 0 or -1 after a message.
 */
int jobs_add_path(struct jobs *js, const char *path);

/*
 * Adds the images of a record stream ("-" for standard input): each
 * record's "image", joined to image_dir when relative (image_dir may be
 * NULL). A record without an image, or a line that is not a record, is
 * reported with its line; *bad counts them. Returns 0, or -1 when the
 * stream cannot be read at all (after a message).
 */
int jobs_add_records(struct jobs *js, const char *path, const char *image_dir, int *bad);

/*
 * Reads names from standard input, separated by sep ('\n' or '\0'; a
 * "\r" before "\n" is dropped, empty names are skipped), and adds each
 * as jobs_add_path() does. Returns 0 or -1 after a message.
 */
int jobs_add_stdin(struct jobs *js, int sep);

void jobs_free(struct jobs *js);

/* A set of image ids, as SHA-256 digests. */
struct done_set {
	uint8_t (*v)[FUNDUS_SHA256_BYTES]; /* open addressing; all-zero is empty */
	size_t n, cap;
	int has_zero; /* the all-zero digest itself is in the set */
};

/* Parses "sha256:<64 lowercase hex>" into a digest; 0, or -1 when id is not of that form. */
int id_parse(const char *id, uint8_t digest[FUNDUS_SHA256_BYTES]);
/* Formats a digest as "sha256:<hex>" into buf (at least 72 bytes). */
void id_format(const uint8_t digest[FUNDUS_SHA256_BYTES], char *buf);

int done_has(const struct done_set *s, const uint8_t digest[FUNDUS_SHA256_BYTES]);
/* Adds a digest; returns 1 if it was new, 0 if it was there, -1 when out of memory. */
int done_add(struct done_set *s, const uint8_t digest[FUNDUS_SHA256_BYTES]);
void done_free(struct done_set *s);

/* The output file of a run with -o. */
struct output {
	const char *path;
	int fd;
	int64_t records; /* records in it before the run */
	int64_t bad;     /* lines in it that are not records (left as they are) */
};

/*
 * Opens path for appending and locks it (waiting for the lock when wait
 * is set), then reads the ids of the records it holds into done. An
 * incomplete last line (no newline: an append cut short by a crash or a
 * full disk) is cut off with a warning. Returns 0, DETECT_EXIT_BUSY when
 * another process holds the lock and wait is 0, or -1 after a message.
 */
int output_open(struct output *o, const char *path, int wait, struct done_set *done);

/* Appends one record line (with its newline), synced. 0 or -1 after a message. */
int output_append(struct output *o, const char *line, size_t len);

/* Closes the output, which releases the lock. */
void output_close(struct output *o);

/* How overlays are drawn and written. */
struct overlay_options {
	const char *dir;             /* NULL: no overlays */
	int tile;                    /* contact sheet thumbnails of tile x tile; 0: none */
	enum fundus_image_type type; /* PNG or JPEG */
	int size;                    /* long side in pixels; 0: the decode's size */
};

/*
 * Draws the boxes of r (in full-resolution coordinates of a full_w x
 * full_h image) and their scores on a copy of img, a decode of that image,
 * scaled to fit size x size (0: as it is), and name (NULL: none) in the
 * top-left corner. The new image goes to *out.
 */
int overlay_draw(const struct fundus_image *img, int full_w, int full_h,
		 const struct fundus_record *r, const char *name, int size,
		 struct fundus_image **out);

/*
 * Draws the boxes of r (in full-resolution coordinates of a
 * full_w x full_h image) on img, a decode of that image, scaled to o->size,
 * and writes it to o->dir as <stem>.<first 8 hex digits of id>.<ext>;
 * *written receives the file's path (the caller frees it). Returns 0 or a
 * negative code with the library's message.
 */
int overlay_write(const struct overlay_options *o, const struct fundus_image *img, int full_w,
		  int full_h, const struct fundus_record *r, const char *path, const char *id,
		  char **written);

/* What one image came to. */
enum result_kind {
	RESULT_PENDING = 0,
	RESULT_RECORD,   /* line holds its record */
	RESULT_DONE,     /* its content is in the output already */
	RESULT_NOTIMAGE, /* a file in a folder that is not an image: skipped with a warning */
	RESULT_FAILED,   /* msg says what failed */
};

struct result {
	enum result_kind kind;
	char *line; /* the record, one line with its newline (owned) */
	size_t len;
	char *msg; /* "cannot decode 'a.jpg': truncated JPEG data" (owned) */
	uint8_t digest[FUNDUS_SHA256_BYTES];
	double seconds;            /* read to formatted record, for the summary */
	struct fundus_record *rec; /* the record itself, with keep_records; or NULL (owned) */
	struct fundus_image *tile; /* the thumbnail for the contact sheet, or NULL (owned) */
	char *caption;             /* under the thumbnail: "name 0.93" or "name: none" (owned) */
};

/* Everything the workers need, read-only while they run. */
struct work_options {
	const struct fundus_detector *det;
	struct fundus_detect_params params;
	struct overlay_options overlay;
	const struct done_set *done; /* ids to skip; NULL: none */
	int threads;                 /* worker threads, at least 1 */
	int timings;                 /* add "detect".seconds to records */
	int keep_records;            /* hand each record over in result.rec, besides its line */
	size_t max_bytes;            /* largest image file read */
	struct fundus_image_limits limits;
};

struct work;

/*
 * Starts the workers over jobs (which must stay unchanged until
 * work_free()). Returns 0 or -1 after a message.
 */
int work_start(struct work **out, const struct work_options *o, const struct jobs *js);

/*
 * Waits for the result of job i (taken in order, 0, 1, 2...) and returns
 * it; the caller may take its line, msg, rec, tile and caption (set them
 * to NULL) and must call work_release(i) when done with it.
 */
struct result *work_wait(struct work *w, size_t i);
void work_release(struct work *w, size_t i);

/* Stops the workers (the jobs not started are not done) and frees everything. */
void work_free(struct work *w);

#endif
