/*
 * Helpers of bench/ingest:
 *
 *   bench_ingest slide PATH [SIDE]   writes an Aperio-style SVS file of
 *       SIDE x SIDE pixels (default 100000) with levels at 1, 4, 16, 64...
 *       down to below 2000 pixels. The file is sparse in the TIFF sense:
 *       each level stores the 16 tiles of one synthetic photograph, and
 *       every tile of the level points at one of them, so the file is a
 *       few tens of megabytes whatever SIDE is, while a reader sees (and
 *       OpenSlide decodes) a full slide of that size.
 *   bench_ingest rss COMMAND [ARG]...  runs a command and prints its peak
 *       resident memory ("peak_rss_kb N") and wall time ("seconds S").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fundus/fundus.h"
#include "fundus/synth.h"

#define TILE  256
#define ATLAS 4 /* tiles stored per level: ATLAS x ATLAS */

static FILE *out;
static long pos;

static void put16(unsigned v)
{
	fputc((int)(v & 255), out), fputc((int)(v >> 8 & 255), out);
	pos += 2;
}

static void put32(unsigned long v)
{
	for (int i = 0; i < 4; i++)
		fputc((int)(v >> (8 * i) & 255), out);
	pos += 4;
}

/* One IFD entry: tag, type (3 SHORT, 4 LONG, 2 ASCII), count, value or offset. */
static void entry(unsigned tag, unsigned type, unsigned long count, unsigned long value)
{
	put16(tag), put16(type), put32(count);
	if (type == 3 && count == 1)
		put16((unsigned)value), put16(0);
	else
		put32(value);
}

static int write_slide(const char *path, long side)
{
	struct fundus_synth_params p;
	struct fundus_image *photo = NULL;
	long sizes[12];
	int nlev = 0;
	char desc[256];

	for (long s = side; nlev < 12; s = (s + 3) / 4) {
		sizes[nlev++] = s;
		if (s < 2000)
			break;
	}
	fundus_synth_params_default(&p);
	p.width = p.height = TILE * ATLAS;
	if (fundus_synth_image(&p, 1, &photo, NULL) < 0) {
		fprintf(stderr, "bench_ingest: cannot paint: %s\n", fundus_errmsg());
		return 1;
	}
	out = fopen(path, "wb");
	if (out == NULL) {
		perror(path);
		return 1;
	}
	snprintf(desc, sizeof desc,
		 "Aperio Image Library v12.0.0\r\n%ldx%ld [0,0 %ldx%ld] (256x256) RGB|AppMag = 40|"
		 "MPP = 0.2500",
		 side, side, side, side);
	/* Header; the first IFD's offset is patched at the end of each level. */
	fputs("II", out);
	pos = 2;
	put16(42);
	long next_at = pos;
	put32(0);
	for (int l = 0; l < nlev; l++) {
		long tiles_x = (sizes[l] + TILE - 1) / TILE, ntiles = tiles_x * tiles_x;
		long tile_at[ATLAS * ATLAS], bps_at, desc_at = 0, offs_at, cnts_at, ifd_at;
		size_t tbytes = (size_t)TILE * TILE * 3;
		int nent = l == 0 ? 13 : 12;

		/* The stored tiles: the photograph, shifted per level so levels differ. */
		for (int t = 0; t < ATLAS * ATLAS; t++) {
			int tx = t % ATLAS, ty = t / ATLAS;

			tile_at[t] = pos;
			for (int y = 0; y < TILE; y++) {
				const uint8_t *row = fundus_image_pixel(
				    photo, tx * TILE, (ty * TILE + y + 37 * l) % (TILE * ATLAS));

				fwrite(row, 1, (size_t)TILE * 3, out);
			}
			pos += (long)tbytes;
		}
		bps_at = pos;
		put16(8), put16(8), put16(8);
		if (l == 0) {
			desc_at = pos;
			fwrite(desc, 1, strlen(desc) + 1, out);
			pos += (long)strlen(desc) + 1;
		}
		if (pos & 1)
			fputc(0, out), pos++;
		offs_at = pos;
		for (long i = 0; i < ntiles; i++) {
			long ty = i / tiles_x, tx = i % tiles_x;

			put32((unsigned long)tile_at[(ty % ATLAS) * ATLAS + tx % ATLAS]);
		}
		cnts_at = pos;
		for (long i = 0; i < ntiles; i++)
			put32(tbytes);
		/* The IFD, and the link to it from the previous one. */
		ifd_at = pos;
		fseek(out, next_at, SEEK_SET);
		fputc((int)(ifd_at & 255), out), fputc((int)(ifd_at >> 8 & 255), out);
		fputc((int)(ifd_at >> 16 & 255), out), fputc((int)(ifd_at >> 24 & 255), out);
		fseek(out, pos, SEEK_SET);
		put16((unsigned)nent);
		entry(254, 4, 1, l == 0 ? 0 : 1);
		entry(256, 4, 1, (unsigned long)sizes[l]);
		entry(257, 4, 1, (unsigned long)sizes[l]);
		entry(258, 3, 3, (unsigned long)bps_at);
		entry(259, 3, 1, 1);
		entry(262, 3, 1, 2);
		if (l == 0)
			entry(270, 2, strlen(desc) + 1, (unsigned long)desc_at);
		entry(277, 3, 1, 3);
		entry(284, 3, 1, 1);
		entry(322, 3, 1, TILE);
		entry(323, 3, 1, TILE);
		entry(324, 4, (unsigned long)ntiles, (unsigned long)offs_at);
		entry(325, 4, (unsigned long)ntiles, (unsigned long)cnts_at);
		next_at = pos;
		put32(0);
	}
	fundus_image_free(photo);
	if (fclose(out) != 0) {
		perror(path);
		return 1;
	}
	printf("slide %s: %ld x %ld, %d levels, %ld bytes\n", path, side, side, nlev, pos);
	return 0;
}

static int run_rss(char **argv)
{
	struct rusage ru;
	struct timespec t0, t1;
	int status;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid == 0) {
		execvp(argv[0], argv);
		perror(argv[0]);
		_exit(127);
	}
	if (pid < 0 || wait4(pid, &status, 0, &ru) != pid) {
		perror("fork");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("peak_rss_kb %ld\nseconds %.3f\n", ru.ru_maxrss,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "slide") == 0)
		return write_slide(argv[2], argc > 3 ? strtol(argv[3], NULL, 10) : 100000);
	if (argc >= 3 && strcmp(argv[1], "rss") == 0)
		return run_rss(argv + 2);
	fprintf(stderr, "usage: bench_ingest slide PATH [SIDE] | bench_ingest rss COMMAND...\n");
	return 2;
}
