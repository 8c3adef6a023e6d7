/*
 * fundus/file.h: files that survive crashes.
 *
 * Whole files are replaced atomically (a temporary file beside the target,
 * written, fsync'd, renamed over it, and the folder fsync'd), so a reader
 * sees the old file or the new one, never a mixture. Journals and record
 * outputs grow by whole appended records, each synced to disk.
 *
 *     struct fundus_atomic_file *af;
 *     if (fundus_atomic_open(&af, "model.fdm") == 0) {
 *         fwrite(buf, 1, len, fundus_atomic_stream(af));
 *         rc = fundus_atomic_commit(af);   // or fundus_atomic_abort(af)
 *     }
 */
#ifndef FUNDUS_FILE_H
#define FUNDUS_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Reads a whole file ("-" is standard input) into a new buffer that the
 * caller frees with fundus_free(). A NUL byte is appended after the data
 * (not counted in *len). Files larger than max_bytes give FUNDUS_ELIMIT.
 */
int fundus_file_read(const char *path, size_t max_bytes, uint8_t **data, size_t *len);

/*
 * A read-only view of a whole file: memory-mapped where possible, read
 * into memory otherwise (standard input, pipes). Release with
 * fundus_file_unmap(); NULL is fine.
 */
struct fundus_file_map {
	const uint8_t *data;
	size_t size;
	int mapped; /* private */
};
int fundus_file_map(const char *path, struct fundus_file_map **out);
void fundus_file_unmap(struct fundus_file_map *map);

/* Replaces path atomically with len bytes of data. */
int fundus_file_write_atomic(const char *path, const void *data, size_t len);

/* An atomic replacement written as a stream. */
struct fundus_atomic_file;
int fundus_atomic_open(struct fundus_atomic_file **out, const char *path);
/* The stream to write to; borrowed, valid until commit or abort. */
FILE *fundus_atomic_stream(struct fundus_atomic_file *af);
/* Flushes, syncs and renames into place; frees af whatever the outcome. */
int fundus_atomic_commit(struct fundus_atomic_file *af);
/* Removes the temporary file and frees af; the target is untouched. NULL is fine. */
void fundus_atomic_abort(struct fundus_atomic_file *af);

/*
 * Opens path for appending (created with mode 0666 & ~umask if missing)
 * and returns the descriptor in *fd.
 */
int fundus_file_open_append(const char *path, int *fd);

/*
 * Appends len bytes to fd in one write (O_APPEND makes concurrent appends
 * of whole records safe), then fdatasync()s it, so that once this returns 0
 * the record is on disk. A short write (a full disk) returns FUNDUS_EIO and
 * is undone (ftruncate) so the file does not end in half a record; only if
 * another process appended after it in the meantime is it left, since
 * cutting it out would take that record too.
 */
int fundus_file_append_sync(int fd, const void *data, size_t len);

/*
 * Takes an exclusive advisory lock (flock) on fd. With wait == 0, returns
 * FUNDUS_EBUSY at once if another process holds it. The lock is released
 * when fd is closed.
 */
int fundus_file_lock(int fd, int wait);

/*
 * Creates a folder and its parents (like mkdir -p). Returns 0 when path is
 * a folder afterwards (also when it was one already), FUNDUS_EEXIST when
 * it exists as something else, FUNDUS_ENOENT or FUNDUS_EIO when a folder
 * cannot be made (errno's reason in the message, which names no folder).
 */
int fundus_mkdir_p(const char *path);

#ifdef __cplusplus
}
#endif
#endif
