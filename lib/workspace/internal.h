/* internal.h: what the files of lib/workspace share (internal to the library). */
#ifndef FUNDUS_WORKSPACE_INTERNAL_H
#define FUNDUS_WORKSPACE_INTERNAL_H

#include <sys/types.h>

#include "fundus/workspace.h"

/*
 * A map from strings to indices (open addressing). The keys are borrowed:
 * whoever puts a key keeps it alive as long as the map.
 */
struct fundus__map {
	const char **keys;
	size_t *vals;
	size_t cap, n;
};

/* Finds key; returns 1 and sets *val, or 0. */
int fundus__map_get(const struct fundus__map *m, const char *key, size_t *val);
/* Sets key to val (replacing). Returns 0 or FUNDUS_ENOMEM. */
int fundus__map_put(struct fundus__map *m, const char *key, size_t val);
void fundus__map_free(struct fundus__map *m);

/*
 * Reads the complete lines a file has past *offset, calls fn(ud, line,
 * len, lineno) for each (without its "\n"; blank lines are passed too) and
 * moves *offset past the last complete line, so the next call reads only
 * what was appended meanwhile. *lineno counts lines for messages. A
 * missing file has no lines. fn returns 0 to go on or a negative code to
 * stop. Errors: FUNDUS_EIO, FUNDUS_ELIMIT (a line over 16 MiB), what fn
 * returned, FUNDUS_ENOMEM.
 */
typedef int (*fundus__line_fn)(void *ud, const char *line, size_t len, int64_t lineno);
int fundus__read_lines(const char *path, off_t *offset, int64_t *lineno, fundus__line_fn fn,
		       void *ud);

/* Joins the workspace folder and a name into a new string (fundus_free()). */
char *fundus__ws_path(const struct fundus_workspace *ws, const char *name);

/*
 * Sets the thread's error to prefix followed by the current message (which
 * is copied first: fundus_error_set() may not be passed fundus_errmsg()),
 * and returns rc.
 */
int fundus__ws_error_prefix(int rc, const char *prefix);

/* Whether s is a well-formed name (labels, question ids, annotators). */
int fundus__ws_name_ok(const char *s);

/* The configured question with this id and scope, or NULL. */
const struct fundus_question *fundus__ws_question(const struct fundus_workspace_config *cfg,
						  const char *id, enum fundus_question_scope scope);

struct fundus_workspace {
	char *dir;
	struct fundus_workspace_config *cfg;
	struct fundus_record **images;
	size_t n_images, cap_images;
	struct fundus__map index; /* key -> image index; keys borrowed from the records */
	off_t images_off;
	int64_t images_line;
	struct fundus_record **preds; /* the latest prediction per key, in first-seen order */
	size_t n_preds, cap_preds;
	struct fundus__map pred_index;
	off_t preds_off;
	int64_t preds_line;
	struct fundus_proposer proposer; /* proposer.propose == NULL: the predictions */
};

/* The key of a record: its id, else its image path; NULL when neither. */
const char *fundus__ws_record_key(const struct fundus_record *r);

/* Reads what images.jsonl and predictions.jsonl gained since the last call. */
int fundus__ws_refresh(struct fundus_workspace *ws);

/* Takes the workspace lock (the file "lock"), waiting; returns the descriptor or < 0. */
int fundus__ws_lock(const struct fundus_workspace *ws, int *fd);

/*
 * The journals of a workspace as read so far: for each image, the latest
 * entry of each annotator who saved it.
 */
struct fundus__jent {
	int who;    /* index into names */
	int status; /* enum fundus_entry_status */
	int flag;
	double seconds;            /* summed over all of this annotator's entries of the image */
	struct fundus_record *rec; /* the latest line, or NULL when not kept */
};

struct fundus__jimage {
	struct fundus__jent *ents;
	size_t n, cap;
};

struct fundus__journals {
	char **names; /* annotators, from the journal file names */
	int n_names, cap_names;
	struct fundus__map name_index;
	off_t *offsets; /* how far each journal has been read */
	int64_t *lines;
	struct fundus__jimage *images; /* n_images of them */
	size_t n_images;
	const char *keep_name; /* keep only this annotator's records (NULL: all); borrowed */
	size_t *history;       /* images of keep_name in order of first entry */
	size_t n_history, cap_history;
};

/*
 * Reads what the journals gained since the last call (all journal files,
 * including new ones). With keep_name NULL every latest record is kept,
 * else only that annotator's. Lines that cannot be read are logged and
 * skipped (a journal is never half-written, but it may have been edited).
 */
int fundus__journals_update(struct fundus__journals *j, struct fundus_workspace *ws);
void fundus__journals_free(struct fundus__journals *j);

/* The entry of annotator who for image i, or NULL. */
struct fundus__jent *fundus__journals_find(struct fundus__journals *j, size_t i, int who);

/* The annotator's index, or -1. */
int fundus__journals_who(const struct fundus__journals *j, const char *name);

/* The median of n values (sorted in place); NAN when n is 0. */
double fundus__median(double *v, size_t n);

#endif
