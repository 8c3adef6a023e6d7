/*
 * Pixel-exactness of the TIFF decoder on real files: every TIFF of the
 * DRIVE images under $FUNDUS_SHARED/data/drive/images decodes to exactly
 * the RGB that libtiff's own tiff2rgba gives. Skips (77) when the shared
 * data or tiff2rgba is absent.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <tiffio.h>
#include <unistd.h>

#include "fundus/image.h"
#include "harness.h"
#include "testutil.h"

static char dir[4096];

/* Runs tiff2rgba on in, writing out; returns 0 on success. */
static int tiff2rgba(const char *in, const char *out)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		execlp("tiff2rgba", "tiff2rgba", in, out, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Compares fundus's rgb8 decode of path with libtiff's RGBA of ref; returns bad pixels. */
static long compare(const char *path, const char *ref, int *w, int *h)
{
	struct fundus_image *img;
	TIFF *tif;
	uint32_t rw, rh, *raster;
	long bad = 0;

	if (fundus_image_load(path, NULL, &img) < 0) {
		fprintf(stderr, "%s: %s\n", path, fundus_errmsg());
		return -1;
	}
	tif = TIFFOpen(ref, "r");
	if (tif == NULL) {
		fundus_image_free(img);
		return -1;
	}
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &rw);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &rh);
	raster = malloc((size_t)rw * rh * 4);
	if (raster == NULL || (int)rw != img->width || (int)rh != img->height ||
	    !TIFFReadRGBAImageOriented(tif, rw, rh, raster, ORIENTATION_TOPLEFT, 1)) {
		bad = -1;
	} else {
		for (uint32_t y = 0; y < rh; y++)
			for (uint32_t x = 0; x < rw; x++) {
				uint32_t v = raster[(size_t)y * rw + x];
				const uint8_t *p = fundus_image_pixel(img, (int)x, (int)y);

				bad += p[0] != TIFFGetR(v) || p[1] != TIFFGetG(v) ||
				       p[2] != TIFFGetB(v);
			}
	}
	*w = (int)rw;
	*h = (int)rh;
	free(raster);
	TIFFClose(tif);
	fundus_image_free(img);
	return bad;
}

TEST(drive_images_match_tiff2rgba)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int files = 0;

	CHECK(d != NULL);
	while ((e = readdir(d)) != NULL) {
		char in[4600], out[4600];
		size_t n = strlen(e->d_name);
		long bad;
		int w = 0, h = 0;

		if (n < 4 || strcmp(e->d_name + n - 4, ".tif") != 0)
			continue;
		snprintf(in, sizeof in, "%s/%s", dir, e->d_name);
		snprintf(out, sizeof out, "%s", tu_path("ref.tif"));
		if (tiff2rgba(in, out) != 0) {
			closedir(d);
			HARNESS_FAIL("tiff2rgba %s failed", in);
		}
		bad = compare(in, out, &w, &h);
		if (bad != 0) {
			closedir(d);
			HARNESS_FAIL("%s: %ld pixels differ from tiff2rgba", e->d_name, bad);
		}
		files++;
	}
	closedir(d);
	printf("  %d DRIVE images decode exactly as tiff2rgba gives them\n", files);
	CHECK_INT_GE(files, 40);
}

int main(int argc, char **argv)
{
	const char *shared = tu_shared();

	if (shared == NULL)
		return TU_SKIP;
	snprintf(dir, sizeof dir, "%s/data/drive/images", shared);
	if (access(dir, R_OK) != 0) {
		printf("skip: %s is absent\n", dir);
		return TU_SKIP;
	}
	if (system("command -v tiff2rgba >/dev/null 2>&1") != 0) {
		printf("skip: tiff2rgba (libtiff-tools) is not installed\n");
		return TU_SKIP;
	}
	TIFFSetWarningHandler(NULL);
	RUN(drive_images_match_tiff2rgba);
	return harness_done();
}
