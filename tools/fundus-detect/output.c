/*
 * The output file of a run with -o: locked for the whole run, read for the
 * ids it holds, repaired when an interrupted append left half a line, and
 * grown by one synced write per record, so that a run killed at any moment
 * leaves a file of whole records that the next run continues.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fdetect.h"
#include "fundus/file.h"
#include "tool.h"

/*
 * Counts a record of the file and adds its id to done; r is freed. 0, or -1
 * after a message when out of memory.
 */
static int take_record(struct output *o, struct fundus_record *r, struct done_set *done)
{
	uint8_t d[FUNDUS_SHA256_BYTES];
	int rc = id_parse(r->id, d) == 0 ? done_add(done, d) : 0;

	fundus_record_free(r);
	if (rc < 0) {
		tool_error("out of memory");
		return -1;
	}
	o->records++;
	return 0;
}

/* Reads the records of data[0, len) (whole lines only) into done. */
static int read_ids(struct output *o, const uint8_t *data, size_t len, struct done_set *done)
{
	size_t start = 0;
	int64_t line = 0;

	for (size_t i = 0; i < len; i++) {
		struct fundus_record *r;
		size_t n;
		int rc;

		if (data[i] != '\n')
			continue;
		line++;
		n = i - start;
		if (n && data[start + n - 1] == '\r')
			n--;
		if (strspn((const char *)data + start, " \t") >= n) {
			start = i + 1;
			continue;
		}
		rc = fundus_record_parse((const char *)data + start, n, NULL, &r);
		if (rc < 0) {
			if (rc == FUNDUS_ENOMEM) {
				tool_error("out of memory");
				return -1;
			}
			tool_warn("'%s': line %lld: %s (left as it is)", o->path, (long long)line,
				  fundus_errmsg());
			o->bad++;
		} else if (take_record(o, r, done) < 0) {
			return -1;
		}
		start = i + 1;
	}
	return 0;
}

/*
 * The end of the file after its last newline: half a record that an
 * append cut short (killed mid-write, a full disk, a crash) is cut off;
 * a whole record that only lacks its newline (a file written by hand)
 * gets one. Returns 0 or -1 after a message.
 */
static int repair_tail(struct output *o, const uint8_t *data, size_t len, size_t tail,
		       struct done_set *done)
{
	struct fundus_record *r;

	if (fundus_record_parse((const char *)data + tail, len - tail, NULL, &r) == 0)
		return take_record(o, r, done) < 0 ? -1 : output_append(o, "\n", 1);
	if (ftruncate(o->fd, (off_t)tail) != 0) {
		tool_error("cannot repair '%s': %s", o->path, strerror(errno));
		return -1;
	}
	tool_warn("'%s': cut off an incomplete last line (%zu bytes) left by an interrupted run",
		  o->path, len - tail);
	return 0;
}

int output_open(struct output *o, const char *path, int wait, struct done_set *done)
{
	struct fundus_file_map *map;
	size_t tail;
	int rc;

	memset(o, 0, sizeof *o);
	o->path = path;
	o->fd = -1;
	if (fundus_file_open_append(path, &o->fd) < 0) {
		tool_lib_error("cannot open", path);
		return -1;
	}
	rc = fundus_file_lock(o->fd, 0);
	if (rc == FUNDUS_EBUSY && wait) {
		/* A person at a terminal should know why nothing happens. */
		if (!tool_quiet && isatty(STDERR_FILENO))
			fprintf(stderr, "%s: waiting for the run that holds '%s'\n", tool_name,
				path);
		rc = fundus_file_lock(o->fd, 1);
	}
	if (rc == FUNDUS_EBUSY) {
		close(o->fd);
		o->fd = -1;
		return DETECT_EXIT_BUSY;
	}
	if (rc < 0) {
		tool_lib_error("cannot lock", path);
		output_close(o);
		return -1;
	}
	/* Read under the lock: what a run before this one appended is all there. */
	if (fundus_file_map(path, &map) < 0) {
		tool_lib_error("cannot read", path);
		output_close(o);
		return -1;
	}
	tail = map->size;
	while (tail > 0 && map->data[tail - 1] != '\n')
		tail--;
	rc = read_ids(o, map->data, tail, done);
	if (rc == 0 && tail < map->size)
		rc = repair_tail(o, map->data, map->size, tail, done);
	fundus_file_unmap(map);
	if (rc < 0)
		output_close(o);
	return rc;
}

int output_append(struct output *o, const char *line, size_t len)
{
	if (fundus_file_append_sync(o->fd, line, len) < 0) {
		tool_lib_error("cannot write", o->path);
		return -1;
	}
	return 0;
}

void output_close(struct output *o)
{
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
}
