/* nftw() and its flags are XSI. */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fundus/image.h"
#include "testutil.h"

static char dir[4096];
static pid_t dir_owner;

/* nftw callback: removes one entry, children before their folder. */
static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	remove(path);
	return 0;
}

/*
 * Removes the scratch folder at exit, so that test runs do not pile up
 * in the build folder; FUNDUS_KEEP_TMP keeps it for a look. Forked
 * children that call exit() leave it to the process that made it.
 */
static void remove_tmpdir(void)
{
	if (getpid() != dir_owner || getenv("FUNDUS_KEEP_TMP"))
		return;
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_tmpdir(void)
{
	const char *base;

	if (dir[0])
		return dir;
	base = getenv("FUNDUS_TEST_TMP");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	mkdir(base, 0777);
	snprintf(dir, sizeof dir, "%s/fundus-test-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	dir_owner = getpid();
	atexit(remove_tmpdir);
	return dir;
}

const char *tu_path(const char *name)
{
	static char buf[8][4096];
	static int slot;
	char *p = buf[slot++ % 8];

	snprintf(p, 4096, "%s/%s", tu_tmpdir(), name);
	return p;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

const char *tu_shared(void)
{
	static char path[4096];
	const char *s = getenv("FUNDUS_SHARED");
	struct stat st;

	if (s && stat(s, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(path, sizeof path, "%s", s);
		return path;
	}
	printf("skip: ../shared is absent (set FUNDUS_SHARED to its path)\n");
	return NULL;
}

int tu_same_pixels(const struct fundus_image *a, const struct fundus_image *b)
{
	size_t row;

	if (a == NULL || b == NULL || a->width != b->width || a->height != b->height ||
	    a->format != b->format)
		return 0;
	row = (size_t)a->width * fundus_pixfmt_channels(a->format) * fundus_pixfmt_bytes(a->format);
	for (int y = 0; y < a->height; y++)
		if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride, row))
			return 0;
	return 1;
}

long tu_alloc_sweep_read(const uint8_t *data, size_t len, const struct fundus_read_options *ro)
{
	for (long n = 0; n < 100000; n++) {
		struct fundus_image_source *src = NULL;
		struct fundus_image *out = NULL;
		int rc;

		fundus_alloc_fail_after(n);
		rc = fundus_image_open_memory(&src, data, len, NULL);
		if (rc == 0)
			rc = fundus_image_read(src, ro, &out);
		fundus_image_close(src);
		fundus_alloc_fail_after(-1);
		if (rc == 0) {
			fundus_image_free(out);
			return n;
		}
		if (rc != FUNDUS_ENOMEM || out != NULL) {
			fprintf(stderr, "allocation %ld failed gave %d (%s)\n", n, rc,
				fundus_errmsg());
			return -1;
		}
	}
	return -1;
}
