/*
 * fundus/convert.h: annotations in other formats, read and written exactly;
 * validation and dataset operations (split, merge, filter, statistics).
 *
 * The formats: the native records (fundus-formats(5)); MS COCO instances
 * JSON and COCO results JSON; PASCAL VOC XML (one file per image); CSV
 * driven by its header; YOLO text files with their class list; mask images
 * (a box per connected region or per label value). Everything is read into
 * a set of records in memory (struct fundus_convert_set), in input order,
 * and written from one. Boxes are always held in the native frame: continuous
 * pixel-edge coordinates [x0, y0, x1, y1] of the displayed image.
 *
 * Conventions, applied the same way in both directions (fundus-convert(1)
 * gives the details):
 *
 *   COCO  [x, y, w, h]: x0 = x, y0 = y, x1 = x + w, y1 = y + h.
 *   VOC   1-based inclusive pixels: x0 = xmin - 1, y0 = ymin - 1, x1 = xmax,
 *         y1 = ymax (computed exactly in decimal, floats included).
 *   YOLO  x0 = (cx - w/2) * W, x1 = (cx + w/2) * W, likewise in y with H.
 *   CSV   xmin = x0, ymin = y0, xmax = x1, ymax = y1 (or the VOC mapping
 *         with FUNDUS_CSV_VOC); Open Images XMin = x0 / W and so on.
 *
 * Writers print, for every number, the shortest decimal for which the
 * reader's formula gives back exactly the native double, so native -> X ->
 * native is the identity on everything X can carry. What X cannot carry is
 * counted in a struct fundus_convert_report, and fundus_convert_report_line()
 * names it in one line ("VOC cannot carry: score (12 objects)").
 *
 *     struct fundus_convert_options o;
 *     struct fundus_convert_set *set;
 *     struct fundus_convert_report rep;
 *     fundus_convert_options_default(&o);
 *     fundus_convert_set_new(&set);
 *     if (fundus_convert_read("instances.json", &o, set, &rep) < 0) ...
 *     o.to = FUNDUS_CONVERT_VOC;
 *     if (fundus_convert_write("voc/Annotations", set, &o, &rep) < 0) ...
 *     if (rep.n_loss) fprintf(stderr, "%s\n", fundus_convert_report_line(&rep, buf, sizeof buf));
 *     fundus_convert_set_free(set);
 *
 * Ownership: a set owns its records; functions that add a record to a set
 * take ownership of it, on failure too. Label maps are owned by the caller.
 * Errors follow core.h; messages of readers give the position ("line 3,
 * column 5: mismatched tag") and name no file.
 *
 * Threads: distinct sets, maps and options may be used concurrently.
 */
#ifndef FUNDUS_CONVERT_H
#define FUNDUS_CONVERT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fundus/core.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

enum fundus_convert_format {
	FUNDUS_CONVERT_AUTO = 0,     /* reading: recognised from the content */
	FUNDUS_CONVERT_RECORDS,      /* JSON Lines records, fundus-formats(5) */
	FUNDUS_CONVERT_COCO,         /* COCO instances: images, annotations, categories */
	FUNDUS_CONVERT_COCO_RESULTS, /* COCO results: [{image_id, category_id, bbox, score}] */
	FUNDUS_CONVERT_VOC,          /* PASCAL VOC XML, one file per image */
	FUNDUS_CONVERT_CSV,          /* CSV, one row per box, layout from the header */
	FUNDUS_CONVERT_YOLO,         /* YOLO: a .txt per image and a class list */
	FUNDUS_CONVERT_MASKS,        /* mask images (reading only) */
};

/* "records", "coco", "coco-results", "voc", "csv", "yolo", "masks"; "auto". Constant. */
const char *fundus_convert_format_name(enum fundus_convert_format f);

/* The format a name gives (as above); FUNDUS_EINVAL for an unknown name. */
int fundus_convert_format_parse(const char *name, enum fundus_convert_format *out);

/* How CSV box columns map to the native frame. */
enum fundus_csv_coords {
	FUNDUS_CSV_NATIVE = 0, /* xmin = x0, xmax = x1: 0-based, xmax exclusive (default) */
	FUNDUS_CSV_VOC,        /* xmin = x0 + 1, xmax = x1: 1-based inclusive, as VOC */
};

/* How mask images become boxes. */
enum fundus_mask_mode {
	FUNDUS_MASK_REGIONS = 0, /* one box per 8-connected region of non-zero pixels */
	FUNDUS_MASK_VALUES,      /* one box per non-zero value, around all its pixels */
};

/* A set of records in memory, in order. The fields may be read directly. */
struct fundus_convert_set {
	struct fundus_record **rec; /* n of them; owned */
	size_t n;
	size_t cap; /* private */
};

/* Creates an empty set. Returns 0 or FUNDUS_ENOMEM. */
int fundus_convert_set_new(struct fundus_convert_set **out);

/* Frees the set and its records; NULL is fine. */
void fundus_convert_set_free(struct fundus_convert_set *set);

/* Appends r, which the set then owns (it is freed on failure). 0 or FUNDUS_ENOMEM. */
int fundus_convert_set_add(struct fundus_convert_set *set, struct fundus_record *r);

/*
 * A label map: label names with their numeric ids (COCO category ids, YOLO
 * class indices, mask values), and for COCO the supercategory and the
 * file's other top-level members (info, licenses, ...), so that a COCO file
 * read and written again keeps them.
 */
struct fundus_convert_label {
	char *name;
	int64_t id;
	char *supercategory; /* NULL when none */
};
struct fundus_convert_labels {
	struct fundus_convert_label *v; /* n of them, in file order */
	size_t n;
	size_t cap;   /* private */
	cJSON *extra; /* COCO top-level members other than images, annotations,
			 categories (an object); NULL when none */
};

/* Creates an empty map. 0 or FUNDUS_ENOMEM. */
int fundus_convert_labels_new(struct fundus_convert_labels **out);
void fundus_convert_labels_free(struct fundus_convert_labels *m);

/*
 * Adds name with id (supercategory may be NULL). FUNDUS_EINVAL when the
 * name or the id is in the map already.
 */
int fundus_convert_labels_add(struct fundus_convert_labels *m, const char *name, int64_t id,
			      const char *supercategory);

/* The entry for a name or an id, or NULL. Borrowed from m. */
const struct fundus_convert_label *fundus_convert_labels_find(const struct fundus_convert_labels *m,
							      const char *name);
const struct fundus_convert_label *
fundus_convert_labels_find_id(const struct fundus_convert_labels *m, int64_t id);

/*
 * Parses a label map, recognised from its content: a COCO file or a JSON
 * object with "categories" (its other members but images and annotations
 * are kept in extra), a JSON array of {"id", "name"[, "supercategory"]},
 * a JSON object {"name": id, ...}, or text with one label a line: "name"
 * (ids first_id, first_id + 1, ... in order: obj.names, classes.txt),
 * "name,id" (keras-retinanet classes.csv) or "id name"/"id: name". A YAML
 * data.yaml's "names:" (list or id-keyed mapping) is read too. Errors:
 * FUNDUS_EFORMAT with the line, FUNDUS_ENOMEM.
 */
int fundus_convert_labels_parse(const char *text, size_t len, int64_t first_id,
				struct fundus_convert_labels **out);

/* Reads a label map file (see above). Errors also FUNDUS_ENOENT, FUNDUS_EIO. */
int fundus_convert_labels_load(const char *path, int64_t first_id,
			       struct fundus_convert_labels **out);

/*
 * Writes m as COCO-shaped JSON: its extra members, then "categories"
 * (id, name, supercategory), pretty enough to edit, into a new buffer.
 */
int fundus_convert_labels_format(const struct fundus_convert_labels *m, char **out, size_t *len);

/* Options of reading and writing. Start from fundus_convert_options_default(). */
struct fundus_convert_options {
	enum fundus_convert_format from; /* reading; default AUTO */
	enum fundus_convert_format to;   /* writing; default RECORDS */
	/*
	 * Image paths in VOC, YOLO, CSV and COCO files are relative to this
	 * folder: reading joins it in front, writing takes it off. NULL: as
	 * written in the file.
	 */
	const char *image_dir;
	/* A pinned label map (ids for writing, names for reading); NULL: none. */
	const struct fundus_convert_labels *labels;
	int64_t first_id; /* the id of the first label when none is pinned; default 1
			     (COCO); YOLO classes always count from 0 */
	/*
	 * Known images (path, size, COCO id), for formats that need the image
	 * size (YOLO, Open Images CSV) or only name images by id (COCO results);
	 * matched by path, then by file name, then by name without extension.
	 * NULL: none.
	 */
	const struct fundus_convert_set *images;
	int read_headers; /* open image files for a size nothing else gives; default 1 */
	int keep_ids;     /* keep COCO ids in records even when they are the default
			     numbering (for a file read as o->images); default 0 */
	enum fundus_csv_coords csv_coords; /* default NATIVE */
	/*
	 * Columns of written CSV, a comma-separated header such as
	 * "image,xmin,ymin,xmax,ymax,label" (default) or
	 * "filename,width,height,class,xmin,ymin,xmax,ymax"; "none" writes the
	 * keras-retinanet layout path,x1,y1,x2,y2,class_name without a header.
	 */
	const char *csv_columns;
	enum fundus_mask_mode mask_mode; /* default REGIONS */
	const char *mask_label;          /* label of region boxes; default "object" */
	const char *mask_suffix;         /* taken off a mask's name to name its image
					    ("_OD": a_OD.tif -> a.*); NULL none */
	size_t max_bytes;                /* largest file read; default 1 GiB */
};
void fundus_convert_options_default(struct fundus_convert_options *o);

/*
 * What a conversion could not carry, field by field, and notes about what
 * a reader kept aside. Filled by the read and write functions (which
 * clear it first).
 */
#define FUNDUS_CONVERT_MAX_LOSS 32
struct fundus_convert_report {
	const char *what; /* the format that cannot carry them: "VOC", "records", ... */
	size_t n_loss;
	struct {
		char field[48];   /* "score", "answers", "image folder", ... */
		const char *unit; /* "objects", "records", "categories", ... (plural) */
		int64_t count;
	} loss[FUNDUS_CONVERT_MAX_LOSS];
	const char *hint;         /* how to keep them, or NULL ("keep them with --save-labels") */
	int64_t records, objects; /* read or written */
};

/*
 * "VOC cannot carry: score (12 objects), answers (3 records)" into buf, or
 * "" when nothing was lost. Returns buf.
 */
const char *fundus_convert_report_line(const struct fundus_convert_report *rep, char *buf,
				       size_t size);

/* Recognises the format of a file or folder from its content. */
int fundus_convert_detect(const char *path, enum fundus_convert_format *out);

/* The same for a buffer holding one file's content; never MASKS unless an image. */
enum fundus_convert_format fundus_convert_detect_buffer(const void *data, size_t len);

/*
 * Reads path (a file, "-" for standard input, or a folder for VOC and
 * YOLO) in o->from (AUTO recognises it) and appends its records to set,
 * in the order of the file (folders: by file name). A record read is
 * complete or not added. labels_out, when not NULL, receives the label map
 * the file defined (COCO categories and top-level members, YOLO classes),
 * or NULL. Errors: those of the format's parser (FUNDUS_EFORMAT with the
 * position, FUNDUS_ELIMIT, FUNDUS_EUNSUPPORTED), FUNDUS_ENOENT, FUNDUS_EIO,
 * FUNDUS_ENOMEM. The message may name a file inside a folder
 * ("'Annotations/a.xml': line 3, column 5: mismatched tag").
 */
int fundus_convert_read(const char *path, const struct fundus_convert_options *o,
			struct fundus_convert_set *set, struct fundus_convert_report *rep,
			struct fundus_convert_labels **labels_out);

/*
 * Writes set in o->to: RECORDS, COCO, COCO_RESULTS and CSV to the file
 * path, VOC and YOLO into the folder path (created; one file per image,
 * with a class list and an image list for YOLO). Each file is replaced
 * atomically. FUNDUS_EINVAL for "-" (use fundus_convert_write_stream()),
 * a reading-only format, or two images that would share one file.
 */
int fundus_convert_write(const char *path, const struct fundus_convert_set *set,
			 const struct fundus_convert_options *o, struct fundus_convert_report *rep);

/*
 * Formats set in o->to without writing anything, to fill rep with what the
 * output would not carry (a --strict run refuses to write then). The
 * errors of the formatters.
 */
int fundus_convert_losses(const struct fundus_convert_set *set,
			  const struct fundus_convert_options *o,
			  struct fundus_convert_report *rep);

/* Writes a single-file format (RECORDS, COCO, COCO_RESULTS, CSV) to a stream. */
int fundus_convert_write_stream(FILE *f, const struct fundus_convert_set *set,
				const struct fundus_convert_options *o,
				struct fundus_convert_report *rep);

/*
 * The parsers and formatters of each format, on memory, for tests, fuzzers
 * and programs that hold the text already. Each parser appends to set.
 * VOC and YOLO take one image's file: the YOLO parser needs the class
 * names (classes, NULL: "0", "1", ...) and the record it fills (image and
 * size) in *rec, which it takes.
 */
int fundus_convert_parse_records(const char *text, size_t len, struct fundus_convert_set *set);
int fundus_convert_parse_coco(const char *text, size_t len, const struct fundus_convert_options *o,
			      struct fundus_convert_set *set, struct fundus_convert_report *rep,
			      struct fundus_convert_labels **labels_out);
int fundus_convert_parse_voc(const char *text, size_t len, const struct fundus_convert_options *o,
			     struct fundus_convert_set *set);
int fundus_convert_parse_csv(const char *text, size_t len, const struct fundus_convert_options *o,
			     struct fundus_convert_set *set);
int fundus_convert_parse_yolo(const char *text, size_t len,
			      const struct fundus_convert_labels *classes,
			      struct fundus_record *rec, struct fundus_convert_set *set);

/*
 * Formatters: a new NUL-terminated buffer (*out, *len; fundus_free()).
 * The COCO ones and CSV take the whole set; VOC and YOLO one record (YOLO
 * with the class map it numbers labels by, ids from 0). rep (may be NULL)
 * counts what the format cannot carry; for VOC and YOLO it accumulates
 * over calls (clear it with memset before the first).
 */
int fundus_convert_format_coco(const struct fundus_convert_set *set,
			       const struct fundus_convert_options *o, int results, char **out,
			       size_t *len, struct fundus_convert_report *rep);
int fundus_convert_format_voc(const struct fundus_record *r, const struct fundus_convert_options *o,
			      char **out, size_t *len, struct fundus_convert_report *rep);
int fundus_convert_format_csv(const struct fundus_convert_set *set,
			      const struct fundus_convert_options *o, char **out, size_t *len,
			      struct fundus_convert_report *rep);
int fundus_convert_format_yolo(const struct fundus_record *r,
			       const struct fundus_convert_labels *classes, char **out, size_t *len,
			       struct fundus_convert_report *rep);

/*
 * Boxes from a mask image (read with fundus_image_load): appends to r one
 * object per connected region (8-neighbours) of non-zero pixels labelled
 * label, or one per non-zero value labelled by labels (id = value) or
 * "value_<v>". Pixel (i, j) covers [i, i+1) x [j, j+1), so a region is
 * [min i, min j, max i + 1, max j + 1]. Sets r's size when it is 0.
 */
int fundus_convert_mask_boxes(const char *mask_path, enum fundus_mask_mode mode, const char *label,
			      const struct fundus_convert_labels *labels, struct fundus_record *r);

/*
 * Label renaming for merges: pairs "from" -> "to". The file form is
 * either a JSON object {"disc": "optic_disc", ...} or CSV lines
 * "disc,optic_disc" (RFC 4180 quoting; a "from,to" header line is
 * skipped).
 */
struct fundus_convert_rename {
	char **from, **to; /* n of each */
	size_t n;
	size_t cap; /* private */
};
int fundus_convert_rename_parse(const char *text, size_t len, struct fundus_convert_rename **out);
int fundus_convert_rename_load(const char *path, struct fundus_convert_rename **out);
void fundus_convert_rename_free(struct fundus_convert_rename *m);

/* Renames labels as m says; returns the number of objects renamed, or FUNDUS_ENOMEM. */
int64_t fundus_convert_rename_apply(struct fundus_convert_set *set,
				    const struct fundus_convert_rename *m);

/*
 * Merges src into dst: a record of src that names the same image as one of
 * dst (the same "id", or else the same "image" path) adds the objects that
 * dst's record lacks (same label, box, score and by count as the same) and
 * the fields it lacks; other records are appended in order. src's records
 * are moved: src is empty afterwards. Errors: FUNDUS_EFORMAT when the two
 * give one image different sizes ("image 'a.jpg': width 10 here, 12
 * there"), FUNDUS_ENOMEM.
 */
int fundus_convert_merge(struct fundus_convert_set *dst, struct fundus_convert_set *src);

/*
 * Keeps only objects whose label is in keep (NULL: all), then removes those
 * in drop (NULL: none); records are kept even when left without objects.
 * Returns the number of objects removed, or FUNDUS_ENOMEM.
 */
int64_t fundus_convert_filter(struct fundus_convert_set *set, const char *const *keep,
			      size_t n_keep, const char *const *drop, size_t n_drop);

/*
 * The key by which split keeps byte-identical images together, as a new
 * string in *out: the record's "id", or "sha256:<hex>" of the image file's
 * bytes (read from disk; the same key fundus-ingest writes as "id").
 * When the file cannot be read, *out is "path:<image>" and the return is
 * FUNDUS_ENOENT (the caller decides whether that matters). FUNDUS_EINVAL
 * for a record with neither image nor id, FUNDUS_ENOMEM.
 */
int fundus_convert_image_key(const struct fundus_record *r, char **out);

/* SHA-256 of len bytes as 64 lowercase hex digits and a NUL. */
void fundus_convert_sha256_hex(const void *data, size_t len, char hex[65]);

/*
 * Splits set into n_parts parts (2 or 3: train, val, test). parts holds
 * ratios (by_count 0: positive numbers, normalised to sum 1) or counts of
 * records (by_count 1; records beyond their sum are left out, part -1).
 * Images with the same key (fundus_convert_image_key()) go to the same
 * part. The order is shuffled with fundus_rng seeded by seed, so a seed
 * gives the same split on every machine. part[i] receives the part of
 * record i. *unhashed counts images whose file could not be read (kept
 * together only by path). Errors: FUNDUS_EINVAL, FUNDUS_ENOMEM.
 */
int fundus_convert_split(const struct fundus_convert_set *set, const double *parts, size_t n_parts,
			 int by_count, uint64_t seed, int *part, size_t *unhashed);

/*
 * Validation. Issues found in set, as a JSON report (a new cJSON object):
 *   {"records": N, "objects": M, "errors": E, "warnings": W,
 *    "issues": [{"severity": "error", "check": "box_outside",
 *                "record": 3, "image": "a.jpg", "object": 1,
 *                "message": "box [0,0,20,10] lies outside the 10 x 10 image"}]}
 * Checks (errors unless noted): a box of zero or negative width or height
 * (empty_box), outside the image (box_outside), partly outside
 * (box_partly_outside, a warning), a coordinate that is not finite or
 * beyond 2^31 (bad_number), a label not in labels when labels is given
 * (unknown_label), two records for one image path (duplicate_image), two
 * records with one "id" but different paths (duplicate_id, a warning:
 * byte-identical copies), a size that disagrees with the image file's
 * header (size_mismatch; check_files), an image file that cannot be opened
 * (missing_image, a warning; check_files), no size known (no_size, a
 * warning). With strict, warnings count as errors. counts, when not NULL,
 * receives errors and warnings.
 */
struct fundus_convert_validate_options {
	const struct fundus_convert_labels *labels; /* NULL: any label */
	const char *image_dir;                      /* relative image paths are under it */
	int check_files;                            /* open image headers; default 1 */
	int strict;
	size_t max_issues; /* issues listed (all are counted); default 1000 */
};
void fundus_convert_validate_options_default(struct fundus_convert_validate_options *vo);
int fundus_convert_validate(const struct fundus_convert_set *set,
			    const struct fundus_convert_validate_options *vo, cJSON **report,
			    int64_t counts[2]);

/*
 * Statistics of a set as a new cJSON object: records, objects, objects
 * per label, records without objects (count and image names), scored
 * objects, and the distribution (min, 5th, 25th, 50th, 75th, 95th
 * percentile, max, mean) of box widths, heights and of the box area as a
 * fraction of the image area (images of known size).
 */
int fundus_convert_stats(const struct fundus_convert_set *set, cJSON **out);

#ifdef __cplusplus
}
#endif
#endif
