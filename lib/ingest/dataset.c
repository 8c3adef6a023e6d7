/*
 * The index of a dataset: records.jsonl, read into a map of keys to the
 * lines that hold them, and appended to under a lock.
 *
 * Several processes may append at once. Each append takes an exclusive
 * flock on the index, reads what was appended since this process last
 * looked, and only then decides whether the record is new; the record goes
 * out in one write, synced, before the lock is released. So no record is
 * indexed twice, whichever process gets there first.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fundus/file.h"
#include "internal.h"

struct index_slot {
	char *key; /* NULL when free */
	int64_t off;
	size_t len;
};

/* FNV-1a: keys are hex digests already, so anything spreads them. */
static size_t hash_key(const char *k)
{
	uint64_t h = 1469598103934665603ull;

	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 1099511628211ull;
	return (size_t)h;
}

/* The slot holding key, or the free slot where it would go. */
static struct index_slot *slot_of(struct fundus__index *ix, const char *key)
{
	size_t i = hash_key(key) & (ix->cap - 1);

	while (ix->slots[i].key && strcmp(ix->slots[i].key, key) != 0)
		i = (i + 1) & (ix->cap - 1);
	return &ix->slots[i];
}

/* Doubles the table. */
static int grow(struct fundus__index *ix)
{
	struct index_slot *old = ix->slots;
	size_t oldcap = ix->cap, cap = oldcap ? oldcap * 2 : 1024;

	ix->slots = fundus_calloc(cap, sizeof *ix->slots);
	if (ix->slots == NULL) {
		ix->slots = old;
		return FUNDUS_ENOMEM;
	}
	ix->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*slot_of(ix, old[i].key) = old[i];
	fundus_free(old);
	return 0;
}

/* Maps key to a line; the first line that holds a key keeps it. */
static int put(struct fundus__index *ix, const char *key, int64_t off, size_t len)
{
	struct index_slot *s;
	int rc;

	if ((ix->used + 1) * 2 > ix->cap && (rc = grow(ix)) < 0)
		return rc;
	s = slot_of(ix, key);
	if (s->key)
		return 0;
	s->key = fundus_strdup(key);
	if (s->key == NULL)
		return FUNDUS_ENOMEM;
	s->off = off;
	s->len = len;
	ix->used++;
	return 0;
}

void fundus__working_key(char *buf, size_t size, const char *src_hex, int page, int w, int h,
			 const char *ext)
{
	snprintf(buf, size, "w:%s:%d:%dx%d.%s", src_hex, page, w, h, ext);
}

/*
 * The keys of one index line: its id, and for a working copy (a record
 * whose source hash differs from its id) the working key.
 */
static int index_line(struct fundus__index *ix, const char *text, size_t len, int64_t off)
{
	struct fundus_record *r;
	const cJSON *sha, *page, *frame;
	const char *ext;
	char wkey[256];
	int rc;

	if (fundus_record_parse(text, len, NULL, &r) < 0) {
		fundus_log(FUNDUS_LOG_WARN, "%s/%s: byte %lld: %s (line skipped)", ix->dir,
			   FUNDUS_DATASET_INDEX, (long long)off, fundus_errmsg());
		return 0;
	}
	rc = 0;
	if (r->id)
		rc = put(ix, r->id, off, len);
	sha = r->source ? cJSON_GetObjectItemCaseSensitive(r->source, "sha256") : NULL;
	page = r->source ? cJSON_GetObjectItemCaseSensitive(r->source, "page") : NULL;
	frame = r->source ? cJSON_GetObjectItemCaseSensitive(r->source, "frame") : NULL;
	ext = r->image ? strrchr(r->image, '.') : NULL;
	if (rc == 0 && cJSON_IsString(sha) && ext && r->id &&
	    strcmp(r->id + (strncmp(r->id, "sha256:", 7) == 0 ? 7 : 0), sha->valuestring) != 0) {
		int p = cJSON_IsNumber(frame)  ? frame->valueint
			: cJSON_IsNumber(page) ? page->valueint
					       : 0;

		fundus__working_key(wkey, sizeof wkey, sha->valuestring, p, (int)r->width,
				    (int)r->height, ext + 1);
		rc = put(ix, wkey, off, len);
	}
	fundus_record_free(r);
	return rc;
}

/*
 * Reads the index from ix->scanned to its end, indexing each whole line.
 * A last line without its newline (what a crash in the middle of an append
 * on another filesystem could leave) is not consumed. *partial is set when
 * such bytes remain.
 */
static int catch_up(struct fundus__index *ix, int *partial)
{
	struct stat st;
	char *buf;
	size_t n, start = 0;
	int64_t size;
	int rc = 0;

	*partial = 0;
	if (fstat(ix->fd, &st) != 0)
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot read the index");
	size = st.st_size;
	if (size <= ix->scanned)
		return 0;
	if ((uint64_t)(size - ix->scanned) > SIZE_MAX / 2)
		return fundus_error_set(FUNDUS_ELIMIT, "the index is too large");
	n = (size_t)(size - ix->scanned);
	buf = fundus_malloc(n + 1);
	if (buf == NULL)
		return FUNDUS_ENOMEM;
	for (size_t got = 0; got < n;) {
		ssize_t r = pread(ix->fd, buf + got, n - got, ix->scanned + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fundus_free(buf);
			return r < 0
				   ? fundus_error_errno(FUNDUS_EIO, errno, "cannot read the index")
				   : fundus_error_set(FUNDUS_EIO, "the index shrank while read");
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (buf[i] != '\n')
			continue;
		size_t len = i - start;

		if (len > 0 && buf[start + len - 1] == '\r')
			len--;
		if (len > 0)
			rc = index_line(ix, buf + start, len, ix->scanned + (int64_t)start);
		start = i + 1;
	}
	fundus_free(buf);
	if (rc < 0)
		return rc;
	ix->scanned += (int64_t)start;
	*partial = start < n;
	return 0;
}

int fundus__index_open(struct fundus__index **out, const char *dir)
{
	struct fundus__index *ix;
	char path[4096];
	int rc, partial;

	*out = NULL;
	if (snprintf(path, sizeof path, "%s/%s", dir, FUNDUS_DATASET_INDEX) >= (int)sizeof path)
		return fundus_error_set(FUNDUS_EINVAL, "dataset folder name too long");
	rc = fundus_mkdir_p(dir);
	if (rc < 0)
		return rc;
	ix = fundus_calloc(1, sizeof *ix);
	if (ix == NULL)
		return FUNDUS_ENOMEM;
	ix->fd = -1;
	pthread_mutex_init(&ix->mu, NULL);
	ix->dir = fundus_strdup(dir);
	if (ix->dir == NULL || (rc = grow(ix)) < 0) {
		fundus__index_close(ix);
		return FUNDUS_ENOMEM;
	}
	ix->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (ix->fd < 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot open the index '%s'", path);
		fundus__index_close(ix);
		return rc;
	}
	rc = catch_up(ix, &partial);
	if (rc < 0) {
		fundus__index_close(ix);
		return rc;
	}
	*out = ix;
	return 0;
}

void fundus__index_close(struct fundus__index *ix)
{
	if (ix == NULL)
		return;
	for (size_t i = 0; i < ix->cap; i++)
		fundus_free(ix->slots[i].key);
	fundus_free(ix->slots);
	if (ix->fd >= 0)
		close(ix->fd);
	pthread_mutex_destroy(&ix->mu);
	fundus_free(ix->dir);
	fundus_free(ix);
}

/* Reads the line of a slot into a new string. Called with the mutex held. */
static int read_line(struct fundus__index *ix, const struct index_slot *s, char **line)
{
	char *buf = fundus_malloc(s->len + 1);

	if (buf == NULL)
		return FUNDUS_ENOMEM;
	for (size_t got = 0; got < s->len;) {
		ssize_t r = pread(ix->fd, buf + got, s->len - got, s->off + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fundus_free(buf);
			return fundus_error_errno(FUNDUS_EIO, r < 0 ? errno : EIO,
						  "cannot read the index");
		}
		got += (size_t)r;
	}
	buf[s->len] = '\0';
	*line = buf;
	return 1;
}

int fundus__index_find(struct fundus__index *ix, const char *key, char **line)
{
	struct index_slot *s;
	int rc = 0;

	*line = NULL;
	pthread_mutex_lock(&ix->mu);
	s = slot_of(ix, key);
	if (s->key)
		rc = read_line(ix, s, line);
	pthread_mutex_unlock(&ix->mu);
	return rc;
}

/* Under the flock: the existing line for id or wkey, or append r. */
static int add_locked(struct fundus__index *ix, const struct fundus_record *r, const char *wkey,
		      int *added, char **line)
{
	struct index_slot *s;
	char *text = NULL, *out;
	size_t len;
	int rc, partial;

	rc = catch_up(ix, &partial);
	if (rc < 0)
		return rc;
	s = slot_of(ix, r->id);
	if (s->key == NULL && wkey)
		s = slot_of(ix, wkey);
	if (s->key)
		return read_line(ix, s, line) < 0 ? FUNDUS_EIO : 0;
	rc = fundus_record_format(r, &text, &len);
	if (rc < 0)
		return rc;
	/*
	 * Half a line at the end (left by a crash) would swallow ours: end it
	 * first, in the same write, so it stays one bad line of its own.
	 */
	out = text;
	if (partial) {
		out = fundus_malloc(len + 2);
		if (out == NULL) {
			fundus_free(text);
			return FUNDUS_ENOMEM;
		}
		out[0] = '\n';
		memcpy(out + 1, text, len + 1);
		len++;
	}
	rc = fundus_file_append_sync(ix->fd, out, len);
	if (rc == 0)
		rc = catch_up(ix, &partial);
	if (out != text)
		fundus_free(out);
	fundus_free(text);
	if (rc == 0)
		*added = 1;
	return rc;
}

int fundus__index_add(struct fundus__index *ix, const struct fundus_record *r, const char *wkey,
		      int *added, char **line)
{
	int rc;

	*added = 0;
	*line = NULL;
	if (r->id == NULL)
		return fundus_error_set(FUNDUS_EINVAL, "a record without an id");
	pthread_mutex_lock(&ix->mu);
	rc = fundus_file_lock(ix->fd, 1);
	if (rc == 0) {
		rc = add_locked(ix, r, wkey, added, line);
		flock(ix->fd, LOCK_UN);
	}
	pthread_mutex_unlock(&ix->mu);
	return rc;
}
