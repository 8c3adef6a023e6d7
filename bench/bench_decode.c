/*
 * bench_decode: times JPEG decoding with libfundus at full scale and at
 * 1/2, 1/4, 1/8 (DCT-domain scaling), next to a peer decoder run as a
 * program (djpeg -scale 1/N -ppm -outfile /dev/null), each timed per run.
 *
 *     bench_decode [-n RUNS] [--peer /usr/bin/djpeg] FILE.jpg
 *
 * Each libfundus run opens the file, reads it at the scale into the
 * codec's native format and closes it, as a tool would; each peer run is
 * a whole djpeg process (start-up and writing PPM to /dev/null included),
 * which is what a shell pipeline pays for it. Prints the median and the
 * spread (min - max) in milliseconds, and the ratio of the medians.
 */
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "fundus/image.h"

extern char **environ;

#define MAX_RUNS 1000

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, min and max of n timings (sorts them). */
static void summarise(double *t, int n, double *med, double *lo, double *hi)
{
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	*med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	*lo = t[0];
	*hi = t[n - 1];
}

/* One libfundus decode of path at 1/scale; returns its time in ms, or -1. */
static double time_ours(const char *path, int scale, int *w, int *h)
{
	struct fundus_image_source *src;
	struct fundus_read_options ro;
	struct fundus_image *img;
	double t0 = now_ms(), t1;
	int rc;

	fundus_read_options_default(&ro);
	ro.scale = scale;
	ro.format = FUNDUS_PIX_NONE;
	rc = fundus_image_open(&src, path, NULL);
	if (rc == 0) {
		rc = fundus_image_read(src, &ro, &img);
		fundus_image_close(src);
	}
	t1 = now_ms();
	if (rc < 0) {
		fprintf(stderr, "bench_decode: %s: %s\n", path, fundus_errmsg());
		return -1;
	}
	*w = img->width;
	*h = img->height;
	fundus_image_free(img);
	return t1 - t0;
}

/* One peer run at 1/scale; returns its time in ms, or -1. */
static double time_peer(const char *peer, const char *path, int scale)
{
	char frac[16];
	char *argv[] = {(char *)peer, "-scale",    frac,         "-ppm",
			"-outfile",   "/dev/null", (char *)path, NULL};
	double t0, t1;
	pid_t pid;
	int st;

	snprintf(frac, sizeof frac, "1/%d", scale);
	t0 = now_ms();
	if (posix_spawn(&pid, peer, NULL, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	t1 = now_ms();
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_decode: %s failed on %s\n", peer, path);
		return -1;
	}
	return t1 - t0;
}

/*
 * The time to write a fresh buffer of n bytes once: the page faults and
 * memory traffic that returning a decoded image costs and that a peer
 * streaming its output to /dev/null does not pay.
 */
static double time_touch(size_t n)
{
	static uint8_t *volatile escape; /* so that the compiler keeps the writes */
	double t0 = now_ms(), t1;
	uint8_t *p = malloc(n);

	if (p == NULL)
		return -1;
	memset(p, 1, n);
	escape = p;
	t1 = now_ms();
	free(escape);
	return t1 - t0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_decode [-n RUNS] [--peer PROGRAM] FILE.jpg\n");
	return 2;
}

int main(int argc, char **argv)
{
	static double ours[MAX_RUNS], theirs[MAX_RUNS];
	const char *path = NULL, *peer = NULL;
	const struct fundus_image_info *info;
	struct fundus_image_source *src;
	int runs = 15, full_w = 0, full_h = 0;
	double touch = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end != '\0' || v < 1 || v > MAX_RUNS)
				return usage();
			runs = (int)v;
		} else if (strcmp(argv[i], "--peer") == 0 && i + 1 < argc) {
			peer = argv[++i];
		} else if (argv[i][0] == '-' || path != NULL) {
			return usage();
		} else {
			path = argv[i];
		}
	}
	if (path == NULL)
		return usage();
	if (fundus_image_open(&src, path, NULL) < 0) {
		fprintf(stderr, "bench_decode: %s: %s\n", path, fundus_errmsg());
		return 1;
	}
	info = fundus_image_source_info(src);
	printf("JPEG decode of %s (%d x %d, %s%s), %d runs per cell after one warm-up\n", path,
	       info->width, info->height, info->colour, info->progressive ? ", progressive" : "",
	       runs);
	fundus_image_close(src);
	printf(
	    "times in ms: median [min - max]; peer: %s per run as a process, PPM to /dev/null\n\n",
	    peer ? peer : "none");
	printf("%-6s %-11s %-24s %-24s %s\n", "scale", "output", "fundus", peer ? "peer" : "",
	       peer ? "fundus/peer" : "");
	for (int scale = 1; scale <= 8; scale *= 2) {
		double om, olo, ohi, pm = 0, plo = 0, phi = 0;
		char cell[64], out[32];
		int w = 0, h = 0;

		if (time_ours(path, scale, &w, &h) < 0)
			return 1;
		for (int r = 0; r < runs; r++)
			if ((ours[r] = time_ours(path, scale, &w, &h)) < 0)
				return 1;
		summarise(ours, runs, &om, &olo, &ohi);
		if (peer) {
			if (time_peer(peer, path, scale) < 0)
				return 1;
			for (int r = 0; r < runs; r++)
				if ((theirs[r] = time_peer(peer, path, scale)) < 0)
					return 1;
			summarise(theirs, runs, &pm, &plo, &phi);
		}
		if (scale == 1) {
			full_w = w;
			full_h = h;
		}
		snprintf(out, sizeof out, "%dx%d", w, h);
		snprintf(cell, sizeof cell, "%.1f [%.1f - %.1f]", om, olo, ohi);
		printf("1/%-4d %-11s %-24s", scale, out, cell);
		if (peer) {
			snprintf(cell, sizeof cell, "%.1f [%.1f - %.1f]", pm, plo, phi);
			printf(" %-24s %.2f", cell, om / pm);
		}
		printf("\n");
		if (scale == 1) {
			double m, lo, hi;

			for (int r = 0; r < runs; r++)
				ours[r] = time_touch((size_t)w * h * 3);
			summarise(ours, runs, &m, &lo, &hi);
			touch = m;
		}
	}
	printf("\nof the full-scale time, %.1f ms is writing a fresh %zu-byte output buffer once\n"
	       "(page faults and memory traffic), which djpeg writing to /dev/null does not pay\n",
	       touch, (size_t)full_w * full_h * 3);
	return 0;
}
