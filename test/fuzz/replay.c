/*
 * Runs a libFuzzer target as a plain program: over every file in the
 * folders or files named on the command line, and over a few built-in
 * inputs, so that the targets are exercised in every test build (with the
 * sanitizers when those are on) without clang's fuzzer runtime.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL)
		return 0;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		LLVMFuzzerTestOneInput(buf, (size_t)n);
		/* Every prefix of a seed is a truncated file: the commonest damage. */
		for (long cut = n / 7; cut > 0 && cut < n; cut += n / 7 + 1)
			LLVMFuzzerTestOneInput(buf, (size_t)cut);
	}
	free(buf);
	fclose(f);
	return 1;
}

int main(int argc, char **argv)
{
	static const uint8_t builtin[][8] = {{0}, {0xff, 0xd8, 0xff}, {0x89, 'P', 'N', 'G'},
					     {'I', 'I', 42, 0}, {'{', '}'}};
	int files = 0;

	for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
		for (size_t n = 0; n <= 8; n++)
			LLVMFuzzerTestOneInput(builtin[i], n);
	for (int a = 1; a < argc; a++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[a], &st) != 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			files += run_file(argv[a]);
			continue;
		}
		d = opendir(argv[a]);
		while (d && (e = readdir(d)) != NULL) {
			char p[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
			files += run_file(p);
		}
		if (d)
			closedir(d);
	}
	printf("replayed %d corpus files\n", files);
	return 0;
}
