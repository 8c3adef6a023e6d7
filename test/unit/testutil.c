#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

const char *tu_tmpdir(void)
{
	static char dir[4096];
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
