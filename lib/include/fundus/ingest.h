/*
 * fundus/ingest.h: images of any format into a dataset folder.
 *
 * A dataset is a folder of content-addressed images and an index of
 * records (see fundus-ingest(1) for the layout):
 *
 *     DATASET/records.jsonl          one record per stored image, appended
 *     DATASET/img/3f/3fa2...e1.jpg   the images, named by their SHA-256
 *
 * A plain raster (an 8-bit JPEG, PNG or TIFF of one image) is stored as
 * its original bytes. DICOM objects (each frame), 16-bit images, the pages
 * of multi-page and pyramidal TIFF files and whole-slide images get a
 * decoded 8-bit working copy, no longer than long_side pixels, as PNG (or
 * JPEG); a working copy carries no metadata. A record's "id" is the
 * SHA-256 of the stored file, so the same image ingested twice, under any
 * name, by any process, is stored and indexed once.
 *
 *     struct fundus_ingest_options o;
 *     struct fundus_ingest_stats st;
 *     const char *inputs[] = {"clinic/", "extra/0042.dcm"};
 *     fundus_ingest_options_default(&o);
 *     o.dataset = "ds";
 *     o.on_record = print_record;              // called in input order
 *     o.on_error = report;                     // "clinic/x.jpg: truncated ..."
 *     rc = fundus_ingest_run(&o, inputs, 2, &st);
 *     // rc < 0: the dataset could not be used; st.failed > 0: some inputs failed
 *
 * Several processes may ingest into one dataset at the same time: images
 * are written atomically under their content name before their record is
 * appended, and records are appended under an exclusive lock on the index
 * (flock), each in one synced write, after re-reading what the others
 * appended; so the index never holds a record twice or a record whose image
 * is missing.
 *
 * fundus_ingest_run() starts a small helper process before its threads:
 * DICOM objects are decoded by GDCM in child processes that it forks (see
 * lib/image/dicom_codec.c), so that a damaged object cannot abort the caller.
 */
#ifndef FUNDUS_INGEST_H
#define FUNDUS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "fundus/core.h"
#include "fundus/image.h"
#include "fundus/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Options of an ingest; start from fundus_ingest_options_default(). The
 * callbacks run on the thread that called fundus_ingest_run(), one at a
 * time.
 */
struct fundus_ingest_options {
	const char *dataset; /* the dataset folder, created if missing; required */
	int long_side;       /* working copies: longest side at most this; default 4096 */
	enum fundus_image_type working_type; /* FUNDUS_IMAGE_PNG (default) or FUNDUS_IMAGE_JPEG */
	int quality;  /* JPEG working copies: 1 to 100; default 95 (4:4:4 chroma) */
	int keep_phi; /* non-zero: copy the fields that identify a patient into meta */
	int threads;  /* workers decoding and hashing; 0 (default): one per core */
	struct fundus_image_limits limits; /* for every decode; the defaults of image.h */
	/*
	 * Called once per image, in input order (the images of one file in
	 * page or frame order), with its record as in the index but with the
	 * image path prefixed by the dataset folder as given. added is 1 when
	 * the image was new, 0 when it was already in the dataset (the record
	 * is then the index's, written by the ingest that added it). A
	 * non-zero return stops the ingest (FUNDUS_ECANCELED). May be NULL.
	 */
	int (*on_record)(void *ud, const struct fundus_record *r, int added);
	/*
	 * Called once per input file that could not be ingested (corrupt,
	 * truncated, unsupported, encrypted, unreadable), with the file's path
	 * as given or found, the error code and the reason (which names no
	 * file). Nothing of that file is stored. May be NULL.
	 */
	void (*on_error)(void *ud, const char *path, int code, const char *reason);
	/*
	 * Called for a file found inside a folder that is not an image at all
	 * (a text file, a spreadsheet): skipped, and not a failure. A file
	 * named directly is a failure instead. May be NULL.
	 */
	void (*on_skip)(void *ud, const char *path, const char *reason);
	/* Progress: ("ingesting", files done, files in all); NULL for none. */
	const struct fundus_progress *progress;
	void *ud; /* passed to the callbacks */
};

/* Fills o with the defaults above (no dataset, no callbacks). */
void fundus_ingest_options_default(struct fundus_ingest_options *o);

/* What an ingest did. */
struct fundus_ingest_stats {
	int64_t files;    /* image files attempted */
	int64_t images;   /* records produced (a file may hold several images) */
	int64_t added;    /* of them, new to the dataset */
	int64_t existing; /* of them, already there */
	int64_t failed;   /* files that failed (on_error) */
	int64_t skipped;  /* files in folders that are not images (on_skip) */
};

/*
 * Ingests the inputs into o->dataset: each input is a file, or a folder
 * walked recursively (entries in byte order of their names; names starting
 * with "." and the dataset folder itself are left out; symbolic links to
 * folders are not followed). Files are read, hashed and decoded by
 * o->threads workers; records are appended and reported in input order.
 * A file that fails is reported through on_error and the others go on.
 * st (may be NULL) gets the counts.
 *
 * Returns 0 when every input was handled, even if some failed (see
 * st->failed); a negative code when the ingest itself could not go on: the
 * dataset folder or its index cannot be created, read, locked or written
 * (FUNDUS_EIO), an input folder cannot be read, invalid options
 * (FUNDUS_EINVAL), FUNDUS_ENOMEM, or FUNDUS_ECANCELED. Records appended
 * before such an error stay in the index.
 */
int fundus_ingest_run(const struct fundus_ingest_options *o, const char *const *inputs,
		      size_t n_inputs, struct fundus_ingest_stats *st);

/* The index file of a dataset: "records.jsonl". */
#define FUNDUS_DATASET_INDEX "records.jsonl"

#ifdef __cplusplus
}
#endif
#endif
