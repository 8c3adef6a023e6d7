/* Internal: the pieces of fundus_ingest_run(). */
#ifndef FUNDUS_INGEST_INTERNAL_H
#define FUNDUS_INGEST_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "fundus/ingest.h"
#include "fundus/sha256.h"

/*
 * The index of a dataset, open: a map from keys to the lines of
 * records.jsonl that hold them. Keys are a record's id and, for a working
 * copy, the working key below, so an image already made is found before it
 * is decoded again. The map is shared by the workers (lookups) and the
 * thread that appends; its mutex guards it.
 */
struct fundus__index {
	char *dir;       /* the dataset folder as given */
	int fd;          /* records.jsonl, read-write, O_APPEND */
	int64_t scanned; /* bytes of the index read into the map */
	pthread_mutex_t mu;
	struct index_slot *slots; /* open addressing, a power of two */
	size_t cap, used;
};

/* Opens (creating) the dataset folder and reads its index. */
int fundus__index_open(struct fundus__index **out, const char *dir);
void fundus__index_close(struct fundus__index *ix);

/*
 * Looks up a key; on a hit *line gets a copy of the record's line (no
 * newline; free with fundus_free()) and 1 is returned; 0 on a miss;
 * negative on error. Thread-safe.
 */
int fundus__index_find(struct fundus__index *ix, const char *key, char **line);

/*
 * Appends r unless its id (or wkey, when not NULL) is in the index by
 * then, reading first what other processes appended, all under the lock.
 * *added is 1 when appended; otherwise *line gets the existing line (free
 * with fundus_free()). Called by one thread at a time.
 */
int fundus__index_add(struct fundus__index *ix, const struct fundus_record *r, const char *wkey,
		      int *added, char **line);

/*
 * The working key of a working copy: source hash, page and the copy's
 * size and type, e.g. "w:<hex>:0:640x480.png".
 */
void fundus__working_key(char *buf, size_t size, const char *src_hex, int page, int w, int h,
			 const char *ext);

struct fundus_image_source;

/*
 * Decodes page of src into an 8-bit image (gray8 or rgb8) whose long side
 * is at most long_side, reading the pyramid level nearest above that size
 * band by band and averaging areas, so memory stays at one band plus the
 * result whatever the source's size. *level gets the level read.
 */
int fundus__render_working(struct fundus_image_source *src, int page, int long_side,
			   struct fundus_image **out, int *level);

/* The size of the working copy of a w x h image (long side at most long_side). */
void fundus__working_size(int w, int h, int long_side, int *tw, int *th);

/*
 * Names a known encrypted container from a file's first bytes (OpenPGP,
 * OpenSSL "Salted__", age, an encrypted ZIP entry), or NULL.
 */
const char *fundus__sniff_encrypted(const uint8_t *data, size_t len);

#endif
