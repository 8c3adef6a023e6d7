/* Whole-file reads, mappings, atomic replacement, synced appends, locks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fundus/core.h"
#include "fundus/file.h"

static int errno_code(int e)
{
	return e == ENOENT || e == ENOTDIR ? FUNDUS_ENOENT : e == ENOMEM ? FUNDUS_ENOMEM : FUNDUS_EIO;
}

/* Reads all of fd into a growing buffer, at most max bytes. */
static int read_fd(int fd, size_t max, uint8_t **data, size_t *len)
{
	size_t cap = 65536, n = 0;
	uint8_t *buf = fundus_malloc(cap + 1);

	if (buf == NULL)
		return FUNDUS_ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			uint8_t *nb;

			if (cap > max) {
				fundus_free(buf);
				return fundus_error_set(FUNDUS_ELIMIT, "larger than %zu bytes", max);
			}
			cap *= 2;
			nb = fundus_realloc(buf, cap + 1);
			if (nb == NULL) {
				fundus_free(buf);
				return FUNDUS_ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fundus_free(buf);
			return fundus_error_errno(FUNDUS_EIO, errno, "read failed");
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		fundus_free(buf);
		return fundus_error_set(FUNDUS_ELIMIT, "larger than %zu bytes", max);
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

int fundus_file_read(const char *path, size_t max_bytes, uint8_t **data, size_t *len)
{
	int fd, rc;

	*data = NULL;
	*len = 0;
	if (strcmp(path, "-") == 0)
		return read_fd(STDIN_FILENO, max_bytes, data, len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fundus_error_errno(errno_code(errno), errno, "cannot open");
	rc = read_fd(fd, max_bytes, data, len);
	close(fd);
	return rc;
}

int fundus_file_map(const char *path, struct fundus_file_map **out)
{
	struct fundus_file_map *m;
	struct stat st;
	int fd, rc;

	*out = NULL;
	m = fundus_calloc(1, sizeof *m);
	if (m == NULL)
		return FUNDUS_ENOMEM;
	if (strcmp(path, "-") == 0) {
		rc = read_fd(STDIN_FILENO, SIZE_MAX / 2, (uint8_t **)&m->data, &m->size);
		if (rc < 0) {
			fundus_free(m);
			return rc;
		}
		*out = m;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fundus_free(m);
		return fundus_error_errno(errno_code(errno), errno, "cannot open");
	}
	if (fstat(fd, &st) < 0) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot stat");
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = fundus_error_set(FUNDUS_EINVAL, "is a directory");
		goto fail;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p != MAP_FAILED) {
			m->data = p;
			m->size = (size_t)st.st_size;
			m->mapped = 1;
			close(fd);
			*out = m;
			return 0;
		}
	}
	rc = read_fd(fd, SIZE_MAX / 2, (uint8_t **)&m->data, &m->size);
	if (rc < 0)
		goto fail;
	close(fd);
	*out = m;
	return 0;
fail:
	close(fd);
	fundus_free(m);
	return rc;
}

void fundus_file_unmap(struct fundus_file_map *m)
{
	if (m == NULL)
		return;
	if (m->mapped)
		munmap((void *)m->data, m->size);
	else
		fundus_free((void *)m->data);
	fundus_free(m);
}

struct fundus_atomic_file {
	FILE *f;
	char *path;
	char *tmp;
};

/* fsyncs the folder that holds path, so that a rename in it is durable. */
static int sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int fd;

	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* Not fatal: some file systems refuse to open folders. */
	fsync(fd);
	close(fd);
	return 0;
}

/* Tells apart the temporary files of one process; with the pid, of all. */
static atomic_ulong tmp_serial;

int fundus_atomic_open(struct fundus_atomic_file **out, const char *path)
{
	struct fundus_atomic_file *af;
	size_t n = strlen(path) + 48;
	int fd, e = 0;

	*out = NULL;
	af = fundus_calloc(1, sizeof *af);
	if (af == NULL)
		return FUNDUS_ENOMEM;
	af->path = fundus_strdup(path);
	af->tmp = fundus_malloc(n);
	if (af->path == NULL || af->tmp == NULL) {
		fundus_atomic_abort(af);
		return FUNDUS_ENOMEM;
	}
	/*
	 * Not mkstemp(): it makes the file 0600, and setting the mode a plain
	 * create gives needs the umask, which only umask() reads, by changing
	 * it for the whole process while other threads may be creating files.
	 * O_EXCL with mode 0666 lets the kernel apply the umask; a name left by
	 * a crashed process with the same pid is skipped.
	 */
	for (int attempt = 0;; attempt++) {
		snprintf(af->tmp, n, "%s.tmp%ld.%lu", path, (long)getpid(),
			 atomic_fetch_add(&tmp_serial, 1));
		fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		e = errno;
		if (fd >= 0 || e != EEXIST || attempt == 100)
			break;
	}
	if (fd < 0) {
		af->tmp[0] = '\0';
		fundus_atomic_abort(af);
		return fundus_error_errno(errno_code(e), e, "cannot create a temporary file");
	}
	af->f = fdopen(fd, "wb");
	if (af->f == NULL) {
		e = errno;
		close(fd);
		fundus_atomic_abort(af);
		return fundus_error_errno(FUNDUS_EIO, e, "cannot open a stream");
	}
	*out = af;
	return 0;
}

FILE *fundus_atomic_stream(struct fundus_atomic_file *af)
{
	return af->f;
}

int fundus_atomic_commit(struct fundus_atomic_file *af)
{
	int rc = 0;

	if (fflush(af->f) != 0 || ferror(af->f))
		rc = fundus_error_errno(FUNDUS_EIO, errno, "write failed");
	else if (fsync(fileno(af->f)) != 0)
		rc = fundus_error_errno(FUNDUS_EIO, errno, "fsync failed");
	if (fclose(af->f) != 0 && rc == 0)
		rc = fundus_error_errno(FUNDUS_EIO, errno, "close failed");
	af->f = NULL;
	if (rc == 0 && rename(af->tmp, af->path) != 0)
		rc = fundus_error_errno(FUNDUS_EIO, errno, "cannot rename into place");
	if (rc == 0) {
		sync_parent(af->path);
		af->tmp[0] = '\0';
	}
	fundus_atomic_abort(af);
	return rc;
}

void fundus_atomic_abort(struct fundus_atomic_file *af)
{
	if (af == NULL)
		return;
	if (af->f)
		fclose(af->f);
	if (af->tmp && af->tmp[0])
		unlink(af->tmp);
	fundus_free(af->tmp);
	fundus_free(af->path);
	fundus_free(af);
}

int fundus_file_write_atomic(const char *path, const void *data, size_t len)
{
	struct fundus_atomic_file *af;
	int rc = fundus_atomic_open(&af, path);

	if (rc < 0)
		return rc;
	if (len && fwrite(data, 1, len, af->f) != len) {
		rc = fundus_error_errno(FUNDUS_EIO, errno, "write failed");
		fundus_atomic_abort(af);
		return rc;
	}
	return fundus_atomic_commit(af);
}

int fundus_file_open_append(const char *path, int *fd)
{
	*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (*fd < 0)
		return fundus_error_errno(errno_code(errno), errno, "cannot open for appending");
	return 0;
}

/*
 * Takes back the w bytes a short write left at the end of the file, so that
 * it stays a sequence of whole records. The size before the write is no
 * guide: another process may have appended in between, and cutting there
 * would drop its record. The descriptor's offset is just past our bytes.
 */
static int undo_short_write(int fd, size_t w)
{
	off_t end = lseek(fd, 0, SEEK_CUR);
	struct stat st;

	if (end < 0 || (uint64_t)end < w || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return fundus_error_set(FUNDUS_EIO, "short write (%zu bytes), not undone", w);
	if (st.st_size != end)
		return fundus_error_set(FUNDUS_EIO,
					"short write (%zu bytes), not undone: the file grew since",
					w);
	if (ftruncate(fd, end - (off_t)w) != 0)
		return fundus_error_errno(FUNDUS_EIO, errno, "short write and cannot truncate");
	return 0;
}

int fundus_file_append_sync(int fd, const void *data, size_t len)
{
	ssize_t w;

	do
		w = write(fd, data, len);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return fundus_error_errno(FUNDUS_EIO, errno, "write failed");
	if ((size_t)w != len) {
		int rc = w > 0 ? undo_short_write(fd, (size_t)w) : 0;

		return rc < 0 ? rc
			      : fundus_error_set(FUNDUS_EIO,
						 "write failed: only %zu of %zu bytes written",
						 (size_t)w, len);
	}
	if (fdatasync(fd) != 0 && errno != EINVAL && errno != EROFS)
		return fundus_error_errno(FUNDUS_EIO, errno, "fdatasync failed");
	return 0;
}

int fundus_file_lock(int fd, int wait)
{
	int r;

	do
		r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EWOULDBLOCK)
			return fundus_error_set(FUNDUS_EBUSY, "locked by another process");
		return fundus_error_errno(FUNDUS_EIO, errno, "cannot lock");
	}
	return 0;
}

int fundus_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	struct stat st;

	if (n == 0 || n >= sizeof buf)
		return fundus_error_set(FUNDUS_EINVAL, "bad folder name");
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] == '/' || buf[i] == '\0') {
			char c = buf[i];

			buf[i] = '\0';
			/* The caller names the folder; the reason is errno's alone. */
			if (mkdir(buf, 0777) != 0 && errno != EEXIST)
				return fundus_error_errno(errno_code(errno), errno, "%s", "");
			buf[i] = c;
		}
	}
	/* EEXIST above also means a file of that name, which is no folder. */
	if (stat(path, &st) != 0)
		return fundus_error_errno(errno_code(errno), errno, "%s", "");
	if (!S_ISDIR(st.st_mode))
		return fundus_error_set(FUNDUS_EEXIST, "exists and is not a folder");
	return 0;
}
