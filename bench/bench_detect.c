/*
 * bench_detect: the decode rates that fundus-detect's rate is compared
 * with, in images per second over a list of files, with T threads each
 * taking whole files as fundus-detect's workers do.
 *
 *     bench_detect [-n RUNS] [-j T] [-s SCALE | -m MODEL] FILE...
 *
 * Each image is read into memory, hashed (SHA-256, the record's id) and
 * decoded from memory to RGB8, exactly the work fundus-detect does before
 * the network; the network itself is left out. SCALE is the decode scale
 * (1: full resolution); with -m, each image's scale is the one
 * fundus_detector_scale() gives for that model, as in fundus-detect.
 * Prints the median rate and the spread of the runs, and the median rate by
 * CPU time (images per second of T cores' CPU time: what T cores of its
 * own would give, when other work shares the machine):
 *
 *     decode 1/8: median 112.3 images/s [108.0 - 115.2] over 150 images, 2 threads, 5 runs
 *       by CPU time: median 118.0 images/s on 2 cores of its own
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "fundus/detect.h"
#include "fundus/file.h"
#include "fundus/image.h"
#include "fundus/sha256.h"

#define MAX_RUNS 100

static char **files;
static int nfiles, fixed_scale = 1;
static struct fundus_detector *det;
static atomic_int next, failed;
static atomic_long pixels;

/* Ascending order of doubles, for qsort. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Reads, hashes and decodes files until none is left. */
static void *worker(void *arg)
{
	(void)arg;
	for (int i; (i = atomic_fetch_add(&next, 1)) < nfiles;) {
		struct fundus_image_source *src;
		struct fundus_read_options ro;
		struct fundus_image *img;
		uint8_t digest[FUNDUS_SHA256_BYTES], *data;
		size_t len;

		if (fundus_file_read(files[i], (size_t)1 << 30, &data, &len) < 0) {
			fprintf(stderr, "bench_detect: cannot read %s: %s\n", files[i],
				fundus_errmsg());
			atomic_fetch_add(&failed, 1);
			continue;
		}
		fundus_sha256(data, len, digest);
		fundus_read_options_default(&ro);
		img = NULL;
		if (fundus_image_open_memory(&src, data, len, NULL) == 0) {
			const struct fundus_image_info *info = fundus_image_source_info(src);

			ro.scale = det ? fundus_detector_scale(det, info->width, info->height)
				       : fixed_scale;
			if (fundus_image_read(src, &ro, &img) < 0)
				img = NULL;
			fundus_image_close(src);
		}
		if (img != NULL) {
			atomic_fetch_add(&pixels, (long)img->width * img->height);
			fundus_image_free(img);
		} else {
			fprintf(stderr, "bench_detect: cannot decode %s: %s\n", files[i],
				fundus_errmsg());
			atomic_fetch_add(&failed, 1);
		}
		fundus_free(data);
	}
	return NULL;
}

/* CPU seconds the process has used, all threads. */
static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec * 1e-6;
}

/*
 * One pass over all files with t threads; returns images per second of
 * wall time, and in *cpu_rate those per second of t cores' CPU time: the
 * rate on t cores of its own, when other work shares the machine.
 */
static double pass(int t, double *cpu_rate)
{
	pthread_t th[64];
	double t0, c0;

	atomic_store(&next, 0);
	atomic_store(&pixels, 0);
	t0 = fundus_now();
	c0 = cpu_seconds();
	for (int i = 0; i < t; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	*cpu_rate = nfiles / ((cpu_seconds() - c0) / t);
	return nfiles / (fundus_now() - t0);
}

/* The usage line, and the misuse status. */
static int usage(void)
{
	fprintf(stderr,
		"usage: bench_detect [-n RUNS] [-j THREADS] [-s SCALE | -m MODEL] FILE...\n");
	return 2;
}

int main(int argc, char **argv)
{
	static double rate[MAX_RUNS], crate[MAX_RUNS];
	int runs = 5, threads = 2, i;
	char what[64];

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		char *end;
		long v;

		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "-m") == 0) {
			if (fundus_detector_load(&det, argv[++i]) < 0) {
				fprintf(stderr, "bench_detect: %s: %s\n", argv[i], fundus_errmsg());
				return 1;
			}
			continue;
		}
		v = strtol(argv[i + 1], &end, 10);
		if (*end != '\0' || v < 1)
			return usage();
		if (strcmp(argv[i], "-n") == 0 && v <= MAX_RUNS)
			runs = (int)v;
		else if (strcmp(argv[i], "-j") == 0 && v <= 64)
			threads = (int)v;
		else if (strcmp(argv[i], "-s") == 0 && (v == 1 || v == 2 || v == 4 || v == 8))
			fixed_scale = (int)v;
		else
			return usage();
		i++;
	}
	files = argv + i;
	nfiles = argc - i;
	if (nfiles < 1)
		return usage();
	pass(threads, &crate[0]); /* warm-up: the files into the page cache */
	if (atomic_load(&failed)) {
		/* Each named above; the timed runs would only fail on them again. */
		fprintf(stderr, "bench_detect: %d of %d images failed\n", atomic_load(&failed),
			nfiles);
		return 1;
	}
	for (int r = 0; r < runs; r++)
		rate[r] = pass(threads, &crate[r]);
	qsort(rate, (size_t)runs, sizeof *rate, cmp_double);
	qsort(crate, (size_t)runs, sizeof *crate, cmp_double);
	if (det)
		snprintf(what, sizeof what, "decode at the model's scale");
	else
		snprintf(what, sizeof what, "decode 1/%d", fixed_scale);
	printf("%s: median %.1f images/s [%.1f - %.1f] over %d images (%.2f Mpixel each), %d "
	       "threads, %d runs\n",
	       what, runs % 2 ? rate[runs / 2] : (rate[runs / 2 - 1] + rate[runs / 2]) / 2, rate[0],
	       rate[runs - 1], nfiles, atomic_load(&pixels) / 1e6 / nfiles, threads, runs);
	printf("  by CPU time: median %.1f images/s on %d cores of its own\n",
	       runs % 2 ? crate[runs / 2] : (crate[runs / 2 - 1] + crate[runs / 2]) / 2, threads);
	fundus_detector_free(det);
	return 0;
}
