/*
 * fundus/workspace.h: annotation workspaces, journals, assignment of
 * images to annotators, consensus export and agreement statistics.
 *
 * A workspace is a folder (fundus-annotate-tui(1) describes it for users):
 *
 *     workspace.json      the configuration: labels and questions
 *     images.jsonl        the images to annotate, one record per image
 *     predictions.jsonl   scored boxes from a detector, the proposals
 *     journals/NAME.jsonl one append-only journal per annotator
 *     claims.jsonl        which session works on which image
 *     lock                serialises claims and additions (flock)
 *     sessions/ID.lock    held by each live session (flock)
 *
 * Every file that grows is append-only and every append is one synced
 * write, so that a crash loses at most the image being worked on. An
 * image is known by its record's "id" when it has one, else by its
 * "image" path (made absolute when the image is added).
 *
 *     struct fundus_workspace *ws;
 *     struct fundus_session *s;
 *     size_t i;
 *     int found;
 *     if (fundus_workspace_open(&ws, "eyes.ws") < 0) ...
 *     if (fundus_session_open(&s, ws, "alice") < 0) ...
 *     while (fundus_session_claim_next(s, &i, &found) == 0 && found) {
 *         const struct fundus_record *img = fundus_workspace_image(ws, i);
 *         ... draw boxes into a record r, answer questions ...
 *         fundus_session_save(s, i, r, FUNDUS_ENTRY_DONE, 0, seconds);
 *     }
 *     fundus_session_close(s);
 *     fundus_workspace_close(ws);
 *
 * Ownership follows fundus/core.h. Records returned by const pointer are
 * borrowed from the workspace or session and stay valid until it is closed
 * (records of the pool also survive fundus_session_claim_next(), which may
 * read images added meanwhile by another process).
 *
 * Threads: a workspace and its sessions are used by one thread at a time.
 * Processes: any number of processes, on one machine or on several over a
 * file system whose flock(2) works between them (local, NFSv4), may open
 * one workspace at the same time.
 */
#ifndef FUNDUS_WORKSPACE_H
#define FUNDUS_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "fundus/core.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of workspace.json this library reads and writes. */
#define FUNDUS_WORKSPACE_VERSION 1

/* Limits of a configuration. */
#define FUNDUS_WORKSPACE_MAX_LABELS    32
#define FUNDUS_WORKSPACE_MAX_QUESTIONS 32
#define FUNDUS_WORKSPACE_MAX_CHOICES   9  /* answered with the keys 1 to 9 */
#define FUNDUS_WORKSPACE_MAX_NAME      64 /* bytes in a label, question id or annotator name */

enum fundus_question_type {
	FUNDUS_QUESTION_YESNO,  /* answer "yes" or "no" */
	FUNDUS_QUESTION_CHOICE, /* one of the choices, a string */
	FUNDUS_QUESTION_MULTI,  /* any of the choices: an array of strings in choice order */
	FUNDUS_QUESTION_TEXT,   /* free text, a string */
};

enum fundus_question_scope {
	FUNDUS_SCOPE_IMAGE, /* answered once per image, in the record's "answers" */
	FUNDUS_SCOPE_BOX,   /* answered per box, in the object's "answers" */
};

enum fundus_order {
	FUNDUS_ORDER_SEQUENTIAL, /* as the images were added */
	FUNDUS_ORDER_SHUFFLE,    /* a permutation drawn from the seed */
	FUNDUS_ORDER_ACTIVE,     /* least certain proposals first (fundus_workspace_uncertainty) */
};

struct fundus_label {
	char *name;        /* the object label, such as "optic_disc" */
	uint8_t colour[3]; /* red, green, blue of its boxes on the screen */
	int key;           /* its hotkey: a printable ASCII character, or 0 */
};

struct fundus_question {
	char *id;   /* the member name in "answers": letters, digits, '_', '-', '.' */
	char *text; /* what the screen asks; the id when the file gives none */
	enum fundus_question_type type;
	enum fundus_question_scope scope;
	char **choices; /* CHOICE and MULTI: 2 to 9 distinct strings; NULL otherwise */
	int n_choices;
};

/* A workspace's configuration (workspace.json). */
struct fundus_workspace_config {
	struct fundus_label *labels; /* 1 to 32 of them, distinct names and keys */
	int n_labels;
	struct fundus_question *questions; /* 0 to 32, distinct ids */
	int n_questions;
	int overlap;             /* annotators per image, 1 (default) to 64 */
	enum fundus_order order; /* default sequential */
	uint64_t seed;           /* for the shuffled order; default 1 */
	int claim_minutes;       /* a claim idle this long may be taken over; default 30 */
};

/* Creates a configuration with no label, no question and the defaults. */
int fundus_workspace_config_new(struct fundus_workspace_config **out);

/* Frees a configuration; NULL is fine. */
void fundus_workspace_config_free(struct fundus_workspace_config *cfg);

/*
 * Adds a label from a command-line spec "NAME[:COLOUR][:KEY]", where
 * COLOUR is "#rrggbb" or one of red, green, blue, yellow, cyan, magenta,
 * orange, white, and KEY one printable character, as in
 * "optic_disc:yellow:d". Without a colour the label gets the next one of a
 * fixed palette; without a key, none. Errors: FUNDUS_EINVAL (a bad spec, a
 * duplicate name or key, too many labels), FUNDUS_ENOMEM.
 */
int fundus_workspace_config_add_label(struct fundus_workspace_config *cfg, const char *spec);

/*
 * Adds a question from a spec "ID:TYPE[:CHOICES][:box]": TYPE is yesno,
 * choice, multi or text; CHOICES (for choice and multi only) are separated
 * by commas; a final ":box" asks the question of every box instead of the
 * image. Examples: "gradable:yesno", "quality:choice:good,fair,poor",
 * "rim:multi:notch,thin:box". Errors as for labels.
 */
int fundus_workspace_config_add_question(struct fundus_workspace_config *cfg, const char *spec);

/*
 * Checks a configuration as fundus_workspace_config_parse() does: at least
 * one label, names and ids well formed and distinct, distinct hotkeys,
 * choices where needed, numbers in range. Returns 0 or FUNDUS_EINVAL.
 */
int fundus_workspace_config_check(const struct fundus_workspace_config *cfg);

/*
 * Parses the text of a workspace.json (len bytes, no NUL needed). Unknown
 * members are errors (a misspelt "overlap" must not pass in silence), and
 * the message names the member ("questions[1].choices: expected an array
 * of 2 to 9 strings"). Errors: FUNDUS_EFORMAT, FUNDUS_EUNSUPPORTED (a newer
 * version), FUNDUS_ENOMEM.
 */
int fundus_workspace_config_parse(const char *text, size_t len,
				  struct fundus_workspace_config **out);

/*
 * Formats a configuration as indented JSON ending in a newline, into a new
 * NUL-terminated buffer (fundus_free()). It parses back to an equal
 * configuration. Errors: FUNDUS_EINVAL (as _check), FUNDUS_ENOMEM.
 */
int fundus_workspace_config_format(const struct fundus_workspace_config *cfg, char **text);

/* The question with this id, or NULL. Borrowed from cfg. */
const struct fundus_question *
fundus_workspace_config_question(const struct fundus_workspace_config *cfg, const char *id);

/* The label with this name, or NULL. Borrowed from cfg. */
const struct fundus_label *fundus_workspace_config_label(const struct fundus_workspace_config *cfg,
							 const char *name);

/*
 * Checks that an answer value fits a question: "yes"/"no", one of the
 * choices, an array of distinct choices in any order, a string of at most
 * 1000 bytes. Returns 0 or FUNDUS_EINVAL with the reason.
 */
int fundus_question_check_value(const struct fundus_question *q, const cJSON *value);

/* A workspace opened by this process. */
struct fundus_workspace;

/*
 * Makes a new workspace in the folder dir (created with its parents if
 * missing) with the configuration cfg (checked first). Errors: FUNDUS_EEXIST
 * when dir holds a workspace.json already, FUNDUS_EINVAL, FUNDUS_EIO.
 */
int fundus_workspace_create(const char *dir, const struct fundus_workspace_config *cfg);

/*
 * Opens the workspace in dir: reads its configuration, images and
 * predictions. A line of images.jsonl or predictions.jsonl that cannot be
 * read is reported with fundus_log() as a warning and skipped. Errors:
 * FUNDUS_ENOENT (no workspace.json), errors of the configuration parse
 * (the message starts with "workspace.json: "), FUNDUS_EIO, FUNDUS_ENOMEM.
 */
int fundus_workspace_open(struct fundus_workspace **out, const char *dir);

/* Closes a workspace (and frees its proposer); NULL is fine. Close its sessions first. */
void fundus_workspace_close(struct fundus_workspace *ws);

/* The configuration. Borrowed from ws. */
const struct fundus_workspace_config *
fundus_workspace_get_config(const struct fundus_workspace *ws);

/* The folder, as given to fundus_workspace_open(). Borrowed. */
const char *fundus_workspace_dir(const struct fundus_workspace *ws);

/*
 * Adds the records of a stream (path, "-" for standard input) to the
 * workspace. As images: each record needs an "image" or an "id"; a
 * relative image path is made absolute (from the current folder), so the
 * workspace can be used from anywhere; an image already in the workspace
 * is left out (counted in *dups). Scored objects of an image record are
 * proposals; unscored ones are kept in the record but not shown. As
 * predictions (predictions != 0): every record is appended to
 * predictions.jsonl, and a later prediction of an image replaces an
 * earlier one. Records are appended under the workspace lock, each line
 * synced, so additions may run beside annotators. added and dups may be
 * NULL. A record that cannot be read is an error: nothing after it is
 * added (what came before stays). Errors: those of the record reader
 * (with "line N: "), FUNDUS_EINVAL (a record with neither image nor id),
 * FUNDUS_EIO, FUNDUS_ENOMEM.
 */
int fundus_workspace_add(struct fundus_workspace *ws, const char *path, int predictions,
			 size_t *added, size_t *dups);

/* The number of images. */
size_t fundus_workspace_count(const struct fundus_workspace *ws);

/* Image i (0 <= i < count), its record as added. Borrowed from ws. */
const struct fundus_record *fundus_workspace_image(const struct fundus_workspace *ws, size_t i);

/* The key that identifies image i: its "id" or its "image" path. Borrowed. */
const char *fundus_workspace_key(const struct fundus_workspace *ws, size_t i);

/* Finds the image with this key; returns 0 and sets *i, or FUNDUS_ENOENT. */
int fundus_workspace_find(const struct fundus_workspace *ws, const char *key, size_t *i);

/*
 * Where proposals come from. The workspace's own proposer reads the
 * predictions stream (and the scored objects of the image records); a
 * detector can be plugged in instead with fundus_workspace_set_proposer().
 *
 * propose() returns in *out a new record (the caller's) whose objects are
 * the proposed boxes with their scores for image rec, or sets *out to NULL
 * when the proposer has nothing to say about this image (not the same as a
 * record with no objects: "looked, found nothing"). It returns 0 or a
 * negative FUNDUS_E code with the message set.
 */
struct fundus_proposer {
	const char *name; /* what made the boxes, for "by": "model:od-v3"; borrowed from ud */
	int (*propose)(void *ud, const struct fundus_record *rec, struct fundus_record **out);
	void (*release)(void *ud); /* frees ud; may be NULL */
	void *ud;
};

/*
 * Replaces the workspace's proposer with p (copied; the workspace owns
 * p->ud from now on and calls p->release at close). NULL restores the
 * predictions stream.
 */
void fundus_workspace_set_proposer(struct fundus_workspace *ws, const struct fundus_proposer *p);

/*
 * The proposals for image i from the current proposer: a new record (the
 * caller's), or NULL in *out when there are none known. Objects are
 * sorted by score, best first.
 */
int fundus_workspace_proposals(struct fundus_workspace *ws, size_t i, struct fundus_record **out);

/*
 * How unsure a detector is about an image, from 0 (sure) to 1, from its
 * proposals (NULL: unknown, returns NAN). With top the highest score:
 * 1 - |2 top - 1|, which is highest when top is near 0.5; raised to
 * second / top when a second box of the same label scores at least half
 * of the best one and overlaps it little (IoU < 0.3: the detector hesitates
 * between two places); 1 when there is no box at all (every fundus
 * photograph shows a disc, so a detector that finds none is lost).
 */
double fundus_workspace_uncertainty(const struct fundus_record *proposals);

/*
 * The order in which images are offered: a new array of all image indices
 * (fundus_free()), as the configuration says. The active order puts the
 * most uncertain first, then the images with no proposals known, each
 * group in the order added (ties too).
 */
int fundus_workspace_order(struct fundus_workspace *ws, size_t **order, size_t *n);

/*
 * A session: one annotator working on a workspace. It holds a lock file
 * for its life (sessions/ID.lock), so that other sessions can tell its
 * claims from those of a session that died.
 */
struct fundus_session;

/*
 * Opens a session for annotator name (letters, digits, '_', '-', '.', not
 * starting with '.'; at most 64 bytes) and reads the annotator's journal.
 * Errors: FUNDUS_EINVAL (a bad name), FUNDUS_EIO, FUNDUS_ENOMEM.
 */
int fundus_session_open(struct fundus_session **out, struct fundus_workspace *ws, const char *name);

/* Closes the session (its claims lapse); NULL is fine. */
void fundus_session_close(struct fundus_session *s);

/* The annotator's name and the session's id ("host-pid-random"). Borrowed. */
const char *fundus_session_name(const struct fundus_session *s);
const char *fundus_session_id(const struct fundus_session *s);

/*
 * Claims the next image for this annotator and sets *i and *found = 1, or
 * *found = 0 when none is left. Under the workspace lock it reads the
 * journals and claims of every annotator and takes, in the workspace's
 * order, the first image that
 * - this annotator has not saved (done or skipped),
 * - no other live session of this annotator has claimed, and
 * - fewer than `overlap` other annotators have done or hold a live claim on;
 * an image this annotator claimed in a session that has ended comes first
 * (so a session resumes where the last one stopped). A claim is live while
 * its session's lock is held and for claim_minutes after it was made.
 * The claim is appended to claims.jsonl, synced.
 */
int fundus_session_claim_next(struct fundus_session *s, size_t *i, int *found);

/*
 * Renews this session's claim on image i when it is older than half of
 * claim_minutes, so that an image being worked on for long is not given
 * to another annotator. Cheap when there is nothing to do: call it on
 * every key press.
 */
int fundus_session_touch(struct fundus_session *s, size_t i);

/* Withdraws this session's claim on image i (nothing if none). */
int fundus_session_release(struct fundus_session *s, size_t i);

enum fundus_entry_status {
	FUNDUS_ENTRY_DONE = 0,    /* annotated (no boxes means: nothing there) */
	FUNDUS_ENTRY_SKIPPED = 1, /* this annotator passes; others may still get it */
};

/*
 * Saves the annotator's work on image i as one journal line, appended and
 * synced before this returns. work holds the objects (label, bbox, and
 * optionally extra members such as "from" or a per-box "answers" object)
 * and the answers; only its objects and answers are used, and every "by"
 * is set to the annotator. flag marks the image for review; seconds is the
 * time spent. A later entry for the same image replaces an earlier one.
 * Errors: FUNDUS_EINVAL (a label or question the configuration does not
 * know, an answer that does not fit its question; the message names it),
 * FUNDUS_EIO, FUNDUS_ENOMEM.
 */
int fundus_session_save(struct fundus_session *s, size_t i, const struct fundus_record *work,
			enum fundus_entry_status status, int flag, double seconds);

/*
 * This annotator's latest journal entry for image i, or NULL. It is a
 * record (fundus-formats(5)) with an extra member "annotation":
 * {"by", "status": "done"|"skipped", "flag", "seconds", "time", "session"}.
 * Borrowed; valid until the next save of the same image or the close.
 */
const struct fundus_record *fundus_session_entry(const struct fundus_session *s, size_t i);

/*
 * The images this annotator has journal entries for, in the order they
 * were first saved: *n indices in *idx, borrowed, valid until the next
 * save or claim.
 */
void fundus_session_history(const struct fundus_session *s, const size_t **idx, size_t *n);

/* Progress figures, as of the last claim or save. */
struct fundus_session_stats {
	size_t images;         /* in the workspace */
	size_t done;           /* saved done by this annotator */
	size_t skipped;        /* saved skipped by this annotator */
	size_t complete;       /* images done by `overlap` annotators (all annotators) */
	double median_seconds; /* per image done by this annotator; NAN before the first */
};
void fundus_session_get_stats(const struct fundus_session *s, struct fundus_session_stats *st);

/*
 * Agreement statistics.
 */

/* Intersection over union of two boxes; 0 when either is empty. */
double fundus_box_iou(const struct fundus_box *a, const struct fundus_box *b);

/*
 * Cohen's kappa for two raters from a k x k table (row: the first rater's
 * category, column: the second's; table[r * k + c] items). Sets *kappa =
 * (po - pe) / (1 - pe), *po the observed and *pe the chance agreement (po
 * and pe may be NULL). When pe is 1 (both raters always gave one same
 * category) kappa is NAN. Errors: FUNDUS_EINVAL (k < 1 or no items).
 */
int fundus_agree_cohen(const size_t *table, int k, double *kappa, double *po, double *pe);

/*
 * Fleiss' kappa for n items rated into k categories: counts[i * k + j] is
 * the number of raters who put item i in category j. Items may have
 * different numbers of raters; items with fewer than two are left out
 * (with the same number everywhere this is Fleiss' 1971 formula). Sets
 * *kappa, *po (mean pairwise agreement), *pe (sum of squared category
 * shares), kappa NAN when pe is 1. Errors: FUNDUS_EINVAL (no item with two
 * ratings).
 */
int fundus_agree_fleiss(const size_t *counts, size_t n, int k, double *kappa, double *po,
			double *pe);

/* Options of fundus_workspace_export(). */
struct fundus_export_options {
	int min_annotators; /* export images done by at least this many; default 1 */
	int min_votes;      /* keep a consensus box drawn by this many; 0 (default): half of
			       the image's annotators, rounded up */
	double iou;         /* boxes of one label overlapping this much are one box; 0.5 */
};
void fundus_export_options_default(struct fundus_export_options *o);

/*
 * Merges the journals into one record per image (in the order added) and
 * writes them to out (as fundus_record_write()). Each record is the image
 * record as added, with its objects replaced by the consensus boxes (boxes
 * of one label from different annotators clustered by IoU, coordinates
 * averaged) and the workspace's answers by the majority answers; members
 * "annotators" (who did it) and, when some flagged it, "flagged" are
 * added. If report is not NULL, *report receives the agreement report, a
 * new JSON object (cJSON_Delete()): per annotator counts and median
 * seconds, IoU between annotators' matched boxes, Cohen's kappa (two
 * raters) or Fleiss' kappa (more) per image question. fundus-annotate-tui(1)
 * describes both. Errors: FUNDUS_EIO, FUNDUS_ENOMEM. A failed write on out
 * is FUNDUS_EIO with fundus_record_write()'s message ("write failed: ...");
 * failures reading the workspace start with the name of its file instead.
 */
int fundus_workspace_export(struct fundus_workspace *ws, const struct fundus_export_options *o,
			    FILE *out, cJSON **report);

#ifdef __cplusplus
}
#endif
#endif
