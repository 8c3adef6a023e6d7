/* nftw() and its flags are XSI. */
#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
