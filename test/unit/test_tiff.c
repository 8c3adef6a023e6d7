/*
 * Unit tests of the TIFF codec: compressions x layouts x depths x colours x
 * planar configurations written with libtiff and decoded exactly;
 * min-is-white, palettes, low bit depths, CMYK through the RGBA path;
 * pages, pyramids (reduced-resolution IFDs and SubIFDs), the Orientation
 * tag; region and scaled reads; a huge sparse tiled image read by region;
 * hostile files; allocation failures; the encoder and the pyramid writer.
 * Every fixture is written here at run time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "fundus/image.h"
#include "fundus/rng.h"
#include "harness.h"
#include "image/codec.h"
#include "testutil.h"

static struct fundus_image *noise(int w, int h, enum fundus_pixfmt fmt, uint64_t seed)
{
	struct fundus_image *img;
	struct fundus_rng rng;

	if (fundus_image_new(&img, w, h, fmt) < 0)
		return NULL;
	fundus_rng_seed(&rng, seed);
	for (size_t i = 0; i < img->stride * (size_t)h; i++)
		img->data[i] = (uint8_t)fundus_rng_u64(&rng);
	return img;
}

/* A smooth image (gradients), which JPEG keeps close. */
static struct fundus_image *smooth(int w, int h, enum fundus_pixfmt fmt)
{
	struct fundus_image *rgb, *img;

	if (fundus_image_new(&rgb, w, h, FUNDUS_PIX_RGBA8) < 0)
		return NULL;
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			uint8_t *p = fundus_image_pixel(rgb, x, y);

			p[0] = (uint8_t)(x * 255 / w);
			p[1] = (uint8_t)(y * 255 / h);
			p[2] = (uint8_t)((x + y) * 127 / (w + h) + 60);
			p[3] = 255;
		}
	if (fundus_image_convert(rgb, fmt, &img) < 0)
		img = NULL;
	fundus_image_free(rgb);
	return img;
}

/* Largest and mean absolute difference of two 8-bit images of one format. */
static int max_diff(const struct fundus_image *a, const struct fundus_image *b, double *mean)
{
	int m = 0;
	double sum = 0;
	size_t n = (size_t)a->width * fundus_pixfmt_channels(a->format);

	for (int y = 0; y < a->height; y++)
		for (size_t i = 0; i < n; i++) {
			int d = abs(a->data[(size_t)y * a->stride + i] -
				    b->data[(size_t)y * b->stride + i]);

			m = d > m ? d : m;
			sum += d;
		}
	*mean = sum / ((double)n * a->height);
	return m;
}

/* How a fixture is written with libtiff directly. */
struct wopts {
	uint16_t compression; /* 0: none */
	int tile;             /* tile size, 0 for strips */
	int separate;         /* planar configuration separate */
	uint16_t photo;       /* 0: from the format */
	int white;            /* min-is-white (whose code is 0) */
	int cmyk;             /* separated CMYK, four samples, no alpha */
	uint32_t rps;         /* rows per strip, 0: 7 */
	uint16_t orientation; /* 0: no tag */
	uint32_t subfiletype;
	int nsubifd; /* SubIFDs that follow this IFD */
};

/* Writes img (samples as stored) as the current IFD; returns 0 or -1. */
static int write_dir(TIFF *tif, const struct fundus_image *img, const struct wopts *o)
{
	int c = fundus_pixfmt_channels(img->format), b = fundus_pixfmt_bytes(img->format);
	int planes = o->separate ? c : 1, spp = o->separate ? 1 : c;
	uint16_t comp = o->compression ? o->compression : COMPRESSION_NONE;
	uint32_t rps = o->rps ? o->rps : 7;
	uint8_t *buf;
	size_t px = (size_t)spp * b;
	int ok = 1;

	TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)img->width);
	TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)img->height);
	TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8 * b);
	TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, c);
	TIFFSetField(tif, TIFFTAG_PLANARCONFIG,
		     o->separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
	TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
		     o->cmyk    ? PHOTOMETRIC_SEPARATED
		     : o->white ? PHOTOMETRIC_MINISWHITE
		     : o->photo ? o->photo
		     : c >= 3   ? PHOTOMETRIC_RGB
				: PHOTOMETRIC_MINISBLACK);
	TIFFSetField(tif, TIFFTAG_COMPRESSION, comp);
	if (comp == COMPRESSION_JPEG)
		TIFFSetField(tif, TIFFTAG_JPEGQUALITY, 95);
	if (o->orientation)
		TIFFSetField(tif, TIFFTAG_ORIENTATION, o->orientation);
	if (o->subfiletype)
		TIFFSetField(tif, TIFFTAG_SUBFILETYPE, o->subfiletype);
	if (o->nsubifd) {
		uint64_t offs[8] = {0};

		TIFFSetField(tif, TIFFTAG_SUBIFD, (uint16_t)o->nsubifd, offs);
	}
	if (o->cmyk)
		TIFFSetField(tif, TIFFTAG_INKSET, INKSET_CMYK);
	if ((c == 2 || c == 4) && !o->cmyk) {
		uint16_t e = EXTRASAMPLE_UNASSALPHA;

		TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &e);
	}
	if (o->tile) {
		size_t tsize = (size_t)o->tile * o->tile * px;

		TIFFSetField(tif, TIFFTAG_TILEWIDTH, o->tile);
		TIFFSetField(tif, TIFFTAG_TILELENGTH, o->tile);
		buf = calloc(1, tsize);
		for (int k = 0; k < planes && ok; k++)
			for (int ty = 0; ty < img->height && ok; ty += o->tile)
				for (int tx = 0; tx < img->width && ok; tx += o->tile) {
					memset(buf, 0, tsize);
					for (int y = ty; y < ty + o->tile && y < img->height; y++)
						for (int x = tx; x < tx + o->tile && x < img->width;
						     x++) {
							const uint8_t *s =
							    fundus_image_pixel(img, x, y);
							uint8_t *d =
							    buf + ((size_t)(y - ty) * o->tile +
								   (x - tx)) *
								      px;

							memcpy(
							    d,
							    s + (o->separate ? (size_t)k * b : 0),
							    px);
						}
					ok = TIFFWriteEncodedTile(tif,
								  TIFFComputeTile(tif, (uint32_t)tx,
										  (uint32_t)ty, 0,
										  (uint16_t)k),
								  buf, (tmsize_t)tsize) >= 0;
				}
	} else {
		uint32_t nstrips = (img->height + rps - 1) / rps;

		TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
		buf = calloc(1, (size_t)img->width * rps * px);
		for (int k = 0; k < planes && ok; k++)
			for (uint32_t s = 0; s < nstrips && ok; s++) {
				uint32_t y0 = s * rps, n = 0;

				for (uint32_t y = y0; y < y0 + rps && y < (uint32_t)img->height;
				     y++, n++)
					for (int x = 0; x < img->width; x++)
						memcpy(buf + ((size_t)n * img->width + x) * px,
						       fundus_image_pixel(img, x, (int)y) +
							   (o->separate ? (size_t)k * b : 0),
						       px);
				ok = TIFFWriteEncodedStrip(
					 tif, k * nstrips + s, buf,
					 (tmsize_t)((size_t)n * img->width * px)) >= 0;
			}
	}
	free(buf);
	return ok && TIFFWriteDirectory(tif) ? 0 : -1;
}

/* Writes one image to a scratch file; returns the path or NULL. */
static const char *write_tiff(const char *name, const struct fundus_image *img,
			      const struct wopts *o)
{
	const char *path = tu_path(name);
	TIFF *tif = TIFFOpen(path, "w");
	int rc;

	if (tif == NULL)
		return NULL;
	rc = write_dir(tif, img, o);
	TIFFClose(tif);
	return rc == 0 ? path : NULL;
}

/* Reads a whole file with fundus in its native format (or fmt). */
static int load(const char *path, enum fundus_pixfmt fmt, struct fundus_image **out)
{
	struct fundus_read_options ro;

	fundus_read_options_default(&ro);
	ro.format = fmt;
	return fundus_image_load(path, &ro, out);
}

/* libtiff's own RGBA decode of a file (the reference), as rgba8. */
static struct fundus_image *libtiff_rgba(const char *path)
{
	TIFF *tif = TIFFOpen(path, "r");
	uint32_t w, h, *raster;
	struct fundus_image *img = NULL;

	if (tif == NULL)
		return NULL;
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
	raster = malloc((size_t)w * h * 4);
	if (raster && TIFFReadRGBAImageOriented(tif, w, h, raster, ORIENTATION_TOPLEFT, 1) &&
	    fundus_image_new(&img, (int)w, (int)h, FUNDUS_PIX_RGBA8) == 0)
		for (size_t i = 0; i < (size_t)w * h; i++) {
			img->data[4 * i] = (uint8_t)TIFFGetR(raster[i]);
			img->data[4 * i + 1] = (uint8_t)TIFFGetG(raster[i]);
			img->data[4 * i + 2] = (uint8_t)TIFFGetB(raster[i]);
			img->data[4 * i + 3] = (uint8_t)TIFFGetA(raster[i]);
		}
	free(raster);
	TIFFClose(tif);
	return img;
}

/* Checks region and scaled reads of one file against crops and shrinks of a full read. */
static int check_regions(const char *path, int level, uint64_t seed)
{
	struct fundus_image_source *src;
	struct fundus_image *full = NULL;
	struct fundus_read_options ro;
	struct fundus_rng rng;
	int bad = 0;

	if (fundus_image_open(&src, path, NULL) < 0)
		return -1;
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	ro.level = level;
	if (fundus_image_read(src, &ro, &full) < 0) {
		fundus_image_close(src);
		return -1;
	}
	fundus_rng_seed(&rng, seed);
	for (int t = 0; t < 12 && !bad; t++) {
		struct fundus_image *got = NULL, *crop = NULL, *want = NULL;
		int x = (int)fundus_rng_below(&rng, (uint32_t)full->width);
		int y = (int)fundus_rng_below(&rng, (uint32_t)full->height);
		int w = 1 + (int)fundus_rng_below(&rng, (uint32_t)(full->width - x));
		int h = 1 + (int)fundus_rng_below(&rng, (uint32_t)(full->height - y));
		int scale = t < 5 ? 1 : 2 + (int)fundus_rng_below(&rng, 6);

		if (t == 5)
			x = y = 0, w = full->width, h = full->height;
		ro.region.x = x, ro.region.y = y, ro.region.w = w, ro.region.h = h;
		ro.scale = scale;
		if (fundus_image_read(src, &ro, &got) < 0 ||
		    fundus_image_crop(full, x, y, w, h, &crop) < 0 ||
		    fundus_image_shrink(crop, scale, &want) < 0 || !tu_same_pixels(want, got)) {
			fprintf(stderr, "%s: region %d,%d %dx%d scale %d differs: %s\n", path, x, y,
				w, h, scale, fundus_errmsg());
			bad = 1;
		}
		fundus_image_free(got);
		fundus_image_free(crop);
		fundus_image_free(want);
	}
	fundus_image_free(full);
	fundus_image_close(src);
	return bad ? -1 : 0;
}

TEST(compressions_layouts_depths_colours_planes)
{
	static const uint16_t comps[] = {COMPRESSION_NONE,          COMPRESSION_LZW,
					 COMPRESSION_ADOBE_DEFLATE, COMPRESSION_DEFLATE,
					 COMPRESSION_PACKBITS,      COMPRESSION_JPEG};
	static const enum fundus_pixfmt fmts[] = {FUNDUS_PIX_GRAY8, FUNDUS_PIX_RGB8,
						  FUNDUS_PIX_RGBA8, FUNDUS_PIX_GRAY16,
						  FUNDUS_PIX_RGB16, FUNDUS_PIX_RGBA16};
	int written = 0, jpeg_written = 0, n = 0;

	for (size_t ci = 0; ci < sizeof comps / sizeof comps[0]; ci++)
		for (int tiled = 0; tiled < 2; tiled++)
			for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++)
				for (int sep = 0; sep < 2; sep++) {
					enum fundus_pixfmt fmt = fmts[fi];
					int jpeg = comps[ci] == COMPRESSION_JPEG;
					struct wopts o = {.compression = comps[ci],
							  .tile = tiled ? 16 : 0,
							  .separate = sep,
							  .rps = 8};
					struct fundus_image *img, *got = NULL;
					const struct fundus_image_info *info;
					struct fundus_image_source *src;
					const char *path;
					char name[64];

					if (jpeg && fundus_pixfmt_bytes(fmt) == 2)
						continue; /* libtiff's JPEG is 8-bit here */
					if (sep && fundus_pixfmt_channels(fmt) == 1)
						continue; /* the same as contiguous */
					img = jpeg ? smooth(45, 37, fmt) : noise(45, 37, fmt, n);
					snprintf(name, sizeof name, "m%d.tif", n++);
					CHECK(img != NULL);
					path = write_tiff(name, img, &o);
					if (path == NULL) {
						/* Only JPEG may be beyond what libtiff writes. */
						CHECK(jpeg);
						fundus_image_free(img);
						continue;
					}
					written++;
					jpeg_written += jpeg;
					CHECK_OK(fundus_image_open(&src, path, NULL));
					info = fundus_image_source_info(src);
					CHECK_STR_EQ(info->format, "tiff");
					CHECK_INT_EQ(info->width, 45);
					CHECK_INT_EQ(info->height, 37);
					CHECK_INT_EQ(info->bits, 8 * fundus_pixfmt_bytes(fmt));
					CHECK_INT_EQ(info->channels, fundus_pixfmt_channels(fmt));
					CHECK_INT_EQ(info->has_alpha, fmt == FUNDUS_PIX_RGBA8 ||
									  fmt == FUNDUS_PIX_RGBA16);
					CHECK_INT_EQ(info->pages, 1);
					CHECK_INT_EQ(info->levels, 1);
					fundus_image_close(src);
					CHECK_OK(load(path, FUNDUS_PIX_NONE, &got));
					if (jpeg) {
						double mean;
						int m = max_diff(img, got, &mean);

						if (got->format != fmt || m > 40 || mean > 2.5)
							HARNESS_FAIL(
							    "%s: JPEG too far: max %d mean "
							    "%.2f",
							    name, m, mean);
					} else if (!tu_same_pixels(img, got)) {
						HARNESS_FAIL("%s: comp %u tiled %d %s separate %d: "
							     "pixels differ",
							     name, comps[ci], tiled,
							     fundus_pixfmt_name(fmt), sep);
					}
					if (check_regions(path, 0, (uint64_t)n) < 0)
						HARNESS_FAIL("%s: region reads differ", name);
					fundus_image_free(img);
					fundus_image_free(got);
				}
	/* 4 compressions x 2 layouts x (2 + 4 + 4 + ...) and some JPEG. */
	CHECK_INT_EQ(written - jpeg_written, 5 * 2 * 10);
	CHECK_INT_GE(jpeg_written, 4);
	printf("  %d files, %d of them JPEG\n", written, jpeg_written);
}

/* Writes raw samples of any bit depth as one strip; returns the path. */
static const char *write_raw(const char *name, int w, int h, int bps, uint16_t photo,
			     const uint8_t *packed, size_t len, const uint16_t *cmap)
{
	const char *path = tu_path(name);
	TIFF *tif = TIFFOpen(path, "w");
	int ok;

	TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w);
	TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h);
	TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, bps);
	TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
	TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, photo);
	TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, h);
	TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_LZW);
	if (cmap)
		TIFFSetField(tif, TIFFTAG_COLORMAP, cmap, cmap + (1 << bps), cmap + 2 * (1 << bps));
	ok = TIFFWriteEncodedStrip(tif, 0, (void *)packed, (tmsize_t)len) >= 0 &&
	     TIFFWriteDirectory(tif);
	TIFFClose(tif);
	return ok ? path : NULL;
}

/* Packs w x h samples of bps bits, rows byte-aligned. */
static uint8_t *pack(const uint8_t *v, int w, int h, int bps, size_t *len)
{
	size_t row = ((size_t)w * bps + 7) / 8;
	uint8_t *p = calloc(row, (size_t)h);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			size_t bit = (size_t)x * bps;

			p[(size_t)y * row + bit / 8] |=
			    (uint8_t)(v[(size_t)y * w + x] << (8 - bps - bit % 8));
		}
	*len = row * h;
	return p;
}

TEST(gray_bit_depths_and_min_is_white)
{
	const int w = 29, h = 11;

	for (int bps = 1; bps <= 8; bps *= 2)
		for (int white = 0; white < 2; white++) {
			uint8_t v[29 * 11], *packed;
			struct fundus_image *got;
			struct fundus_rng rng;
			size_t len;
			const char *path;
			int max = (1 << bps) - 1, bad = 0;

			fundus_rng_seed(&rng, (uint64_t)(bps * 2 + white));
			for (int i = 0; i < w * h; i++)
				v[i] = (uint8_t)fundus_rng_below(&rng, (uint32_t)max + 1);
			packed = pack(v, w, h, bps, &len);
			path = write_raw("g.tif", w, h, bps,
					 white ? PHOTOMETRIC_MINISWHITE : PHOTOMETRIC_MINISBLACK,
					 packed, len, NULL);
			CHECK(path != NULL);
			CHECK_OK(load(path, FUNDUS_PIX_NONE, &got));
			CHECK_INT_EQ(got->format, FUNDUS_PIX_GRAY8);
			for (int i = 0; i < w * h; i++) {
				int want = v[i] * 255 / max;

				if (white)
					want = 255 - want;
				bad += got->data[(size_t)(i / w) * got->stride + i % w] != want;
			}
			if (bad)
				HARNESS_FAIL("%d-bit %s: %d pixels differ", bps,
					     white ? "min-is-white" : "min-is-black", bad);
			fundus_image_free(got);
			free(packed);
		}
	/* 16-bit min-is-white inverts over 65535. */
	{
		struct fundus_image *img = noise(20, 9, FUNDUS_PIX_GRAY16, 1), *got;
		struct wopts o = {.white = 1};
		const char *path = write_tiff("w16.tif", img, &o);

		CHECK(path != NULL);
		CHECK_OK(load(path, FUNDUS_PIX_NONE, &got));
		for (int y = 0; y < 9; y++)
			for (int x = 0; x < 20; x++)
				CHECK_INT_EQ(*(uint16_t *)fundus_image_pixel(got, x, y),
					     65535 - *(uint16_t *)fundus_image_pixel(img, x, y));
		fundus_image_free(img);
		fundus_image_free(got);
	}
}

TEST(palettes)
{
	const int w = 23, h = 13;

	for (int bps = 1; bps <= 8; bps *= 2)
		for (int wide = 0; wide < 2; wide++) {
			int n = 1 << bps;
			uint16_t cmap[3 * 256];
			uint8_t v[23 * 13], *packed;
			struct fundus_image *got;
			struct fundus_image_source *src;
			struct fundus_read_options ro;
			struct fundus_rng rng;
			size_t len;
			const char *path;
			int bad = 0;

			/* A 16-bit map (c * 257) or an old-style 8-bit one. */
			for (int i = 0; i < n; i++) {
				cmap[i] = (uint16_t)((i * 37 % 256) * (wide ? 257 : 1));
				cmap[n + i] = (uint16_t)((255 - i % 256) * (wide ? 257 : 1));
				cmap[2 * n + i] = (uint16_t)((i * 11 % 256) * (wide ? 257 : 1));
			}
			fundus_rng_seed(&rng, (uint64_t)bps);
			for (int i = 0; i < w * h; i++)
				v[i] = (uint8_t)fundus_rng_below(&rng, (uint32_t)n);
			packed = pack(v, w, h, bps, &len);
			path =
			    write_raw("p.tif", w, h, bps, PHOTOMETRIC_PALETTE, packed, len, cmap);
			CHECK(path != NULL);
			CHECK_OK(fundus_image_open(&src, path, NULL));
			CHECK_STR_EQ(fundus_image_source_info(src)->colour, "palette");
			CHECK_INT_EQ(fundus_image_source_info(src)->channels, 3);
			CHECK_INT_EQ(fundus_image_source_info(src)->bits, bps);
			fundus_read_options_default(&ro);
			ro.format = FUNDUS_PIX_NONE;
			CHECK_OK(fundus_image_read(src, &ro, &got));
			fundus_image_close(src);
			CHECK_INT_EQ(got->format, FUNDUS_PIX_RGB8);
			for (int i = 0; i < w * h; i++) {
				const uint8_t *p = fundus_image_pixel(got, i % w, i / w);

				bad += p[0] != cmap[v[i]] / (wide ? 257 : 1) ||
				       p[1] != cmap[n + v[i]] / (wide ? 257 : 1) ||
				       p[2] != cmap[2 * n + v[i]] / (wide ? 257 : 1);
			}
			if (bad)
				HARNESS_FAIL("%d-bit palette (wide %d): %d pixels differ", bps,
					     wide, bad);
			fundus_image_free(got);
			free(packed);
		}
}

TEST(cmyk_goes_through_libtiff_rgba)
{
	/* Strips and tiles: libtiff's RGBA offsets inside them are fragile. */
	for (int k = 0; k < 4; k++) {
		struct fundus_image *img =
		    noise(33, 21, k & 1 ? FUNDUS_PIX_RGBA16 : FUNDUS_PIX_RGBA8, (uint64_t)k);
		struct fundus_image *got, *want, *rgb;
		struct wopts o = {
		    .cmyk = 1, .compression = COMPRESSION_LZW, .tile = k & 2 ? 16 : 0, .rps = 5};
		const char *path;

		CHECK(img != NULL);
		path = write_tiff("cmyk.tif", img, &o);
		CHECK(path != NULL);
		if (k & 1) {
			/* libtiff's RGBA interface has no 16-bit CMYK: refused at open. */
			struct fundus_image_source *src;

			CHECK_INT_EQ(fundus_image_open(&src, path, NULL), FUNDUS_EUNSUPPORTED);
			CHECK_STR_CONTAINS(fundus_errmsg(), "cmyk 16-bit");
			fundus_image_free(img);
			continue;
		}
		CHECK_OK(load(path, FUNDUS_PIX_NONE, &got));
		CHECK_INT_EQ(got->format, FUNDUS_PIX_RGB8);
		want = libtiff_rgba(path);
		CHECK(want != NULL);
		CHECK_OK(fundus_image_convert(want, FUNDUS_PIX_RGB8, &rgb));
		if (!tu_same_pixels(rgb, got))
			HARNESS_FAIL("CMYK %d bits tiled %d differs from libtiff", k & 1 ? 16 : 8,
				     (k & 2) != 0);
		if (check_regions(path, 0, (uint64_t)k) != 0)
			HARNESS_FAIL("CMYK %d bits tiled %d: region reads differ", k & 1 ? 16 : 8,
				     (k & 2) != 0);
		fundus_image_free(rgb);
		fundus_image_free(img);
		fundus_image_free(got);
		fundus_image_free(want);
	}
}

TEST(jpeg_ycbcr_equals_libtiff)
{
	struct fundus_image *img = smooth(70, 50, FUNDUS_PIX_RGB8), *got, *want, *rgb;
	struct fundus_save_options so;
	uint8_t *data;
	size_t len;
	const char *path = tu_path("ycc.tif");

	CHECK(img != NULL);
	fundus_save_options_default(&so);
	so.type = FUNDUS_IMAGE_TIFF;
	so.compression = 3;
	CHECK_OK(fundus_image_encode(img, &so, &data, &len));
	CHECK_INT_EQ(tu_write_file(path, data, len), 0);
	fundus_free(data);
	{
		struct fundus_image_source *src;

		CHECK_OK(fundus_image_open(&src, path, NULL));
		CHECK_STR_EQ(fundus_image_source_info(src)->colour, "ycbcr");
		fundus_image_close(src);
	}
	CHECK_OK(load(path, FUNDUS_PIX_NONE, &got));
	want = libtiff_rgba(path);
	CHECK(want != NULL);
	CHECK_OK(fundus_image_convert(want, FUNDUS_PIX_RGB8, &rgb));
	CHECK(tu_same_pixels(rgb, got));
	CHECK_INT_EQ(check_regions(path, 0, 5), 0);
	fundus_image_free(img);
	fundus_image_free(got);
	fundus_image_free(want);
	fundus_image_free(rgb);
}

TEST(pages)
{
	static const enum fundus_pixfmt fmts[] = {FUNDUS_PIX_RGB8, FUNDUS_PIX_GRAY16,
						  FUNDUS_PIX_RGBA8};
	struct fundus_image *img[3];
	struct fundus_image_source *src;
	struct fundus_image_info info;
	const char *path = tu_path("pages.tif");
	TIFF *tif = TIFFOpen(path, "w");

	for (int i = 0; i < 3; i++) {
		struct wopts o = {.compression = COMPRESSION_LZW,
				  .subfiletype = FILETYPE_PAGE,
				  .tile = i == 1 ? 32 : 0};

		img[i] = noise(40 + 10 * i, 30 - 5 * i, fmts[i], (uint64_t)i);
		CHECK_INT_EQ(write_dir(tif, img[i], &o), 0);
	}
	TIFFClose(tif);
	CHECK_OK(fundus_image_open(&src, path, NULL));
	CHECK_INT_EQ(fundus_image_source_info(src)->pages, 3);
	CHECK_INT_EQ(fundus_image_source_info(src)->levels, 1);
	for (int i = 0; i < 3; i++) {
		struct fundus_read_options ro;
		struct fundus_image *got;

		CHECK_OK(fundus_image_page_info(src, i, &info));
		CHECK_INT_EQ(info.width, 40 + 10 * i);
		CHECK_INT_EQ(info.height, 30 - 5 * i);
		CHECK_INT_EQ(info.pages, 3);
		CHECK_INT_EQ(info.channels, fundus_pixfmt_channels(fmts[i]));
		fundus_read_options_default(&ro);
		ro.page = i;
		ro.format = FUNDUS_PIX_NONE;
		CHECK_OK(fundus_image_read(src, &ro, &got));
		CHECK(tu_same_pixels(img[i], got));
		fundus_image_free(got);
	}
	/* Back to page 0 after the others. */
	{
		struct fundus_image *got;
		struct fundus_read_options ro;

		fundus_read_options_default(&ro);
		CHECK_OK(fundus_image_read(src, &ro, &got));
		CHECK(tu_same_pixels(img[0], got));
		fundus_image_free(got);
	}
	CHECK_INT_EQ(fundus_image_page_info(src, 3, &info), FUNDUS_EINVAL);
	fundus_image_close(src);
	/* Past max_pages. */
	{
		struct fundus_image_limits lim;

		fundus_image_limits_default(&lim);
		lim.max_pages = 2;
		CHECK_INT_EQ(fundus_image_open(&src, path, &lim), FUNDUS_ELIMIT);
		CHECK_STR_CONTAINS(fundus_errmsg(), "more than 2 pages");
	}
	for (int i = 0; i < 3; i++)
		fundus_image_free(img[i]);
}

TEST(pyramid_of_reduced_ifds)
{
	struct fundus_image *lv[4];
	const struct fundus_image_info *info;
	struct fundus_image_source *src;
	struct fundus_read_options ro;
	struct fundus_image *full2, *region, *crop;
	const char *path = tu_path("pyr.tif");
	uint8_t *data;
	size_t len;

	lv[0] = noise(300, 200, FUNDUS_PIX_RGB8, 1);
	for (int i = 1; i < 4; i++)
		CHECK_OK(fundus_image_shrink(lv[i - 1], 2, &lv[i]));
	CHECK_OK(fundus__tiff_write_pyramid((const struct fundus_image *const *)lv, 4, 32,
					    "Aperio Image Library v0 test", &data, &len));
	CHECK_INT_EQ(tu_write_file(path, data, len), 0);
	CHECK_OK(fundus_image_open_memory(&src, data, len, NULL));
	info = fundus_image_source_info(src);
	CHECK_INT_EQ(info->pages, 1);
	CHECK_INT_EQ(info->levels, 4);
	CHECK_INT_EQ(info->level[0].width, 300);
	CHECK_INT_EQ(info->level[1].width, 150);
	CHECK_INT_EQ(info->level[2].width, 75);
	CHECK_INT_EQ(info->level[2].height, 50);
	CHECK_INT_EQ(info->level[3].width, 38);
	CHECK_NEAR(info->level[1].downsample, 2.0, 1e-9);
	CHECK_NEAR(info->level[2].downsample, 4.0, 1e-9);
	CHECK_NEAR(info->level[3].downsample, 300.0 / 38, 1e-9);
	fundus_read_options_default(&ro);
	for (int i = 0; i < 4; i++) {
		struct fundus_image *got;

		ro.level = i;
		CHECK_OK(fundus_image_read(src, &ro, &got));
		CHECK(tu_same_pixels(lv[i], got));
		fundus_image_free(got);
	}
	ro.level = 2;
	CHECK_OK(fundus_image_read(src, &ro, &full2));
	ro.region.x = 33, ro.region.y = 7, ro.region.w = 40, ro.region.h = 41;
	CHECK_OK(fundus_image_read(src, &ro, &region));
	CHECK_OK(fundus_image_crop(full2, 33, 7, 40, 41, &crop));
	CHECK(tu_same_pixels(crop, region));
	{
		struct fundus_image *none;

		ro.region.x = 70, ro.region.w = 10;
		CHECK_INT_EQ(fundus_image_read(src, &ro, &none), FUNDUS_EINVAL);
		ro.region.w = 0, ro.region.h = 0;
		ro.level = 4;
		CHECK_INT_EQ(fundus_image_read(src, &ro, &none), FUNDUS_EINVAL);
	}
	fundus_image_close(src);
	CHECK_INT_EQ(check_regions(path, 1, 11), 0);
	/* The layout Aperio uses, as libtiff sees it. */
	{
		TIFF *tif = TIFFOpen(path, "r");
		char *desc = NULL;
		uint32_t type = 0;

		CHECK(tif != NULL);
		CHECK(TIFFIsTiled(tif));
		CHECK(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc));
		CHECK_STR_EQ(desc, "Aperio Image Library v0 test");
		CHECK(TIFFReadDirectory(tif));
		CHECK(TIFFGetField(tif, TIFFTAG_SUBFILETYPE, &type));
		CHECK_INT_EQ(type, FILETYPE_REDUCEDIMAGE);
		CHECK(TIFFIsTiled(tif));
		CHECK_INT_EQ(TIFFNumberOfDirectories(tif), 4);
		TIFFClose(tif);
	}
	fundus_free(data);
	CHECK_INT_EQ(fundus__tiff_write_pyramid((const struct fundus_image *const *)lv, 4, 20, NULL,
						&data, &len),
		     FUNDUS_EINVAL);
	CHECK(data == NULL);
	fundus_image_free(full2);
	fundus_image_free(region);
	fundus_image_free(crop);
	for (int i = 0; i < 4; i++)
		fundus_image_free(lv[i]);
}

TEST(pyramid_of_subifds_and_pages)
{
	/* Two pages, each with two SubIFD levels, and a mask IFD to skip. */
	struct fundus_image *lv[2][3], *mask = noise(8, 8, FUNDUS_PIX_GRAY8, 99);
	struct fundus_image_source *src;
	struct fundus_image_info info;
	const char *path = tu_path("sub.tif");
	TIFF *tif = TIFFOpen(path, "w");

	for (int pg = 0; pg < 2; pg++) {
		lv[pg][0] = noise(128 + 32 * pg, 96, pg ? FUNDUS_PIX_GRAY16 : FUNDUS_PIX_RGB8,
				  (uint64_t)pg);
		CHECK_OK(fundus_image_shrink(lv[pg][0], 2, &lv[pg][1]));
		CHECK_OK(fundus_image_shrink(lv[pg][1], 2, &lv[pg][2]));
		{
			struct wopts o0 = {.compression = COMPRESSION_ADOBE_DEFLATE,
					   .tile = 32,
					   .subfiletype = FILETYPE_PAGE,
					   .nsubifd = 2};
			struct wopts o1 = {.compression = COMPRESSION_LZW,
					   .tile = 16,
					   .subfiletype = FILETYPE_REDUCEDIMAGE};

			CHECK_INT_EQ(write_dir(tif, lv[pg][0], &o0), 0);
			CHECK_INT_EQ(write_dir(tif, lv[pg][1], &o1), 0);
			CHECK_INT_EQ(write_dir(tif, lv[pg][2], &o1), 0);
		}
		if (pg == 0) {
			struct wopts om = {.subfiletype = FILETYPE_MASK};

			CHECK_INT_EQ(write_dir(tif, mask, &om), 0);
		}
	}
	TIFFClose(tif);
	CHECK_OK(fundus_image_open(&src, path, NULL));
	CHECK_INT_EQ(fundus_image_source_info(src)->pages, 2);
	for (int pg = 0; pg < 2; pg++) {
		CHECK_OK(fundus_image_page_info(src, pg, &info));
		CHECK_INT_EQ(info.levels, 3);
		CHECK_INT_EQ(info.level[0].width, 128 + 32 * pg);
		CHECK_INT_EQ(info.level[2].height, 24);
		CHECK_NEAR(info.level[2].downsample, 4.0, 1e-9);
		for (int l = 0; l < 3; l++) {
			struct fundus_read_options ro;
			struct fundus_image *got;

			fundus_read_options_default(&ro);
			ro.page = pg;
			ro.level = l;
			ro.format = FUNDUS_PIX_NONE;
			CHECK_OK(fundus_image_read(src, &ro, &got));
			if (!tu_same_pixels(lv[pg][l], got))
				HARNESS_FAIL("page %d level %d differs", pg, l);
			fundus_image_free(got);
		}
	}
	fundus_image_close(src);
	fundus_image_free(mask);
	for (int pg = 0; pg < 2; pg++)
		for (int l = 0; l < 3; l++)
			fundus_image_free(lv[pg][l]);
}

TEST(orientation_tag)
{
	for (int orient = 1; orient <= 8; orient++) {
		struct fundus_image *img = noise(37, 19, FUNDUS_PIX_RGB8, (uint64_t)orient);
		struct fundus_image *got, *want, *crop, *region, *kept;
		struct fundus_image_source *src;
		const struct fundus_image_info *info;
		struct fundus_read_options ro;
		struct wopts o = {.orientation = (uint16_t)orient, .tile = orient % 2 ? 16 : 0};
		char name[32];
		const char *path;
		int swap = orient >= 5;

		snprintf(name, sizeof name, "o%d.tif", orient);
		path = write_tiff(name, img, &o);
		CHECK(path != NULL);
		CHECK_OK(fundus_image_open(&src, path, NULL));
		info = fundus_image_source_info(src);
		CHECK_INT_EQ(info->orientation, orient);
		CHECK_INT_EQ(info->width, swap ? 19 : 37);
		CHECK_INT_EQ(info->level[0].width, swap ? 19 : 37);
		fundus_read_options_default(&ro);
		ro.format = FUNDUS_PIX_NONE;
		CHECK_OK(fundus_image_read(src, &ro, &got));
		CHECK_OK(fundus_image_orient(img, orient, &want));
		CHECK(tu_same_pixels(want, got));
		ro.region.x = 3, ro.region.y = 4, ro.region.w = 9, ro.region.h = 13;
		CHECK_OK(fundus_image_read(src, &ro, &region));
		CHECK_OK(fundus_image_crop(want, 3, 4, 9, 13, &crop));
		CHECK(tu_same_pixels(crop, region));
		memset(&ro.region, 0, sizeof ro.region);
		ro.keep_orientation = 1;
		CHECK_OK(fundus_image_read(src, &ro, &kept));
		CHECK(tu_same_pixels(img, kept));
		fundus_image_close(src);
		fundus_image_free(img);
		fundus_image_free(got);
		fundus_image_free(want);
		fundus_image_free(crop);
		fundus_image_free(region);
		fundus_image_free(kept);
	}
}

TEST(huge_sparse_tiled_image_read_by_region)
{
	/*
	 * 100000 x 100000 pixels of which only one 1024 x 1024 tile exists:
	 * a region read inside that tile must not touch the others (they
	 * would fail to decode), and must stay within a 2-Mpixel limit that a
	 * whole decode would pass 5000 times over.
	 */
	const char *path = tu_path("sparse.tif");
	TIFF *tif = TIFFOpen(path, "w");
	struct fundus_image *tile = noise(1024, 1024, FUNDUS_PIX_GRAY8, 5), *got, *crop;
	struct fundus_image_limits lim;
	struct fundus_image_source *src;
	struct fundus_read_options ro;

	CHECK(tif && tile);
	TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, 100000);
	TIFFSetField(tif, TIFFTAG_IMAGELENGTH, 100000);
	TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 8);
	TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, 1);
	TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
	TIFFSetField(tif, TIFFTAG_TILEWIDTH, 1024);
	TIFFSetField(tif, TIFFTAG_TILELENGTH, 1024);
	TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
	CHECK(TIFFWriteEncodedTile(tif, TIFFComputeTile(tif, 50 * 1024, 40 * 1024, 0, 0),
				   tile->data, 1024 * 1024) > 0);
	CHECK(TIFFWriteDirectory(tif));
	TIFFClose(tif);
	fundus_image_limits_default(&lim);
	lim.max_pixels = 2 << 20;
	CHECK_OK(fundus_image_open(&src, path, &lim));
	CHECK_INT_EQ(fundus_image_source_info(src)->width, 100000);
	fundus_read_options_default(&ro);
	ro.format = FUNDUS_PIX_NONE;
	CHECK_INT_EQ(fundus_image_read(src, &ro, &got), FUNDUS_ELIMIT);
	ro.region.x = 50 * 1024 + 100, ro.region.y = 40 * 1024 + 200;
	ro.region.w = 700, ro.region.h = 600;
	CHECK_OK(fundus_image_read(src, &ro, &got));
	CHECK_OK(fundus_image_crop(tile, 100, 200, 700, 600, &crop));
	CHECK(tu_same_pixels(crop, got));
	fundus_image_free(got);
	/* A region that touches a missing tile fails cleanly. */
	ro.region.x -= 200;
	CHECK(fundus_image_read(src, &ro, &got) < 0);
	CHECK(got == NULL);
	fundus_image_close(src);
	fundus_image_free(tile);
	fundus_image_free(crop);
}

TEST(encoder_every_format_and_compression)
{
	static const enum fundus_pixfmt fmts[] = {
	    FUNDUS_PIX_GRAY8,  FUNDUS_PIX_GRAYA8,  FUNDUS_PIX_RGB8,  FUNDUS_PIX_RGBA8,
	    FUNDUS_PIX_GRAY16, FUNDUS_PIX_GRAYA16, FUNDUS_PIX_RGB16, FUNDUS_PIX_RGBA16};
	struct fundus_save_options so;

	fundus_save_options_default(&so);
	so.type = FUNDUS_IMAGE_TIFF;
	for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
		for (int comp = -1; comp <= 3; comp++) {
			int c = fundus_pixfmt_channels(fmts[f]);
			struct fundus_image *img =
			    comp == 3 ? smooth(300, 70, fmts[f]) : noise(300, 70, fmts[f], f);
			struct fundus_image *got = NULL;
			struct fundus_image_source *src;
			const struct fundus_image_info *info;
			struct fundus_read_options ro;
			uint8_t *data;
			size_t len;
			int rc;

			so.compression = comp;
			rc = fundus_image_encode(img, &so, &data, &len);
			if (comp == 3 && fundus_pixfmt_bytes(fmts[f]) == 2) {
				CHECK_INT_EQ(rc, FUNDUS_EINVAL);
				fundus_image_free(img);
				continue;
			}
			if (rc < 0)
				HARNESS_FAIL("%s compression %d: %s", fundus_pixfmt_name(fmts[f]),
					     comp, fundus_errmsg());
			CHECK_OK(fundus_image_open_memory(&src, data, len, NULL));
			info = fundus_image_source_info(src);
			CHECK_INT_EQ(info->channels, c);
			CHECK_INT_EQ(info->has_alpha, c == 2 || c == 4);
			fundus_read_options_default(&ro);
			ro.format = FUNDUS_PIX_NONE;
			CHECK_OK(fundus_image_read(src, &ro, &got));
			fundus_image_close(src);
			if (comp == 3) {
				double mean;
				int m = max_diff(img, got, &mean);

				if (m > 40 || mean > 2.5)
					HARNESS_FAIL("%s JPEG: max %d mean %.2f",
						     fundus_pixfmt_name(fmts[f]), m, mean);
			} else if (!tu_same_pixels(img, got)) {
				HARNESS_FAIL("%s compression %d differs",
					     fundus_pixfmt_name(fmts[f]), comp);
			}
			fundus_image_free(got);
			fundus_image_free(img);
			fundus_free(data);
		}
	{
		struct fundus_image *img = noise(4, 4, FUNDUS_PIX_RGB8, 1);
		uint8_t *data;
		size_t len;

		so.compression = 4;
		CHECK_INT_EQ(fundus_image_encode(img, &so, &data, &len), FUNDUS_EINVAL);
		CHECK(data == NULL);
		/* -1 is the default; other negative values are mistakes, as for PNG. */
		so.compression = -5;
		CHECK_INT_EQ(fundus_image_encode(img, &so, &data, &len), FUNDUS_EINVAL);
		CHECK(data == NULL);
		fundus_image_free(img);
	}
}

/* A little-endian TIFF from raw IFD entries, for hostile files. */
struct ent {
	uint16_t tag, type;
	uint32_t count, value;
};

static size_t put_ifd(uint8_t *f, size_t at, const struct ent *e, int n, uint32_t next)
{
	f[at] = (uint8_t)n, f[at + 1] = 0;
	for (int i = 0; i < n; i++) {
		uint8_t *p = f + at + 2 + 12 * i;

		p[0] = (uint8_t)e[i].tag, p[1] = (uint8_t)(e[i].tag >> 8);
		p[2] = (uint8_t)e[i].type, p[3] = 0;
		memcpy(p + 4, &e[i].count, 4);
		memcpy(p + 8, &e[i].value, 4); /* little-endian host */
	}
	memcpy(f + at + 2 + 12 * n, &next, 4);
	return at + 2 + 12 * (size_t)n + 4;
}

/* Opens and reads a buffer; returns the first negative code or 0. */
static int open_read(const uint8_t *data, size_t len, const struct fundus_image_limits *lim)
{
	struct fundus_image_source *src;
	struct fundus_image *img = NULL;
	int rc = fundus_image_open_memory(&src, data, len, lim);

	if (rc < 0)
		return rc;
	rc = fundus_image_read(src, NULL, &img);
	fundus_image_close(src);
	fundus_image_free(img);
	return rc;
}

TEST(hostile_files)
{
	uint8_t f[512] = {'I', 'I', 42, 0, 8, 0, 0, 0};
	struct ent e[] = {
	    {256, 3, 1, 8},   /* ImageWidth */
	    {257, 3, 1, 8},   /* ImageLength */
	    {258, 3, 1, 8},   /* BitsPerSample */
	    {259, 3, 1, 1},   /* Compression none */
	    {262, 3, 1, 1},   /* min-is-black */
	    {273, 4, 1, 300}, /* StripOffsets */
	    {277, 3, 1, 1},   /* SamplesPerPixel */
	    {278, 3, 1, 8},   /* RowsPerStrip */
	    {279, 4, 1, 64},  /* StripByteCounts */
	};
	struct fundus_image_limits lim;
	struct fundus_image *img;
	size_t end;
	int rc;

	/* The valid file first: 8 x 8 pixels at 300. */
	memset(f + 8, 0, sizeof f - 8);
	end = put_ifd(f, 8, e, 9, 0);
	for (int i = 0; i < 64; i++)
		f[300 + i] = (uint8_t)(i * 4);
	CHECK_INT_EQ(open_read(f, 364, NULL), 0);
	/* Every truncation fails cleanly (or, once the pixels are whole, works). */
	for (size_t cut = 0; cut < 364; cut++) {
		rc = open_read(f, cut, NULL);
		if (cut < 300 + 64 && cut >= end && rc == 0)
			HARNESS_FAIL("cut at %zu decoded", cut);
	}
	/* Strips outside the file. */
	e[5].value = 100000;
	put_ifd(f, 8, e, 9, 0);
	rc = open_read(f, 364, NULL);
	CHECK_INT_EQ(rc, FUNDUS_EFORMAT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "strip 0 lies outside the file");
	printf("  strips outside: %s\n", fundus_errmsg());
	e[5].value = 300;
	/* A circular IFD chain: the IFD points at itself, then at an earlier one. */
	put_ifd(f, 8, e, 9, 8);
	rc = open_read(f, 364, NULL);
	CHECK(rc < 0);
	CHECK_STR_CONTAINS(fundus_errmsg(), "loops");
	printf("  self loop: %s\n", fundus_errmsg());
	end = put_ifd(f, 8, e, 9, 200);
	put_ifd(f, 200, e, 9, 8);
	rc = open_read(f, 364, NULL);
	CHECK(rc < 0);
	CHECK_STR_CONTAINS(fundus_errmsg(), "loops");
	printf("  two-IFD loop: %s\n", fundus_errmsg());
	/* A header claiming 100000 x 100000: open works, a whole read is refused. */
	e[0].type = 4, e[0].value = 100000;
	e[1].type = 4, e[1].value = 100000;
	e[7].type = 4, e[7].value = 100000;
	put_ifd(f, 8, e, 9, 0);
	CHECK_INT_EQ(open_read(f, 364, NULL), FUNDUS_ELIMIT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "100000 x 100000");
	fundus_image_limits_default(&lim);
	lim.max_width = 50000;
	CHECK_INT_EQ(open_read(f, 364, &lim), FUNDUS_ELIMIT);
	CHECK_STR_CONTAINS(fundus_errmsg(), "limit");
	/* Thousands of samples per pixel: one tile would be far past the limits. */
	{
		struct ent t[] = {
		    {256, 3, 1, 8},   {257, 3, 1, 8},       {258, 3, 1, 8},  {259, 3, 1, 1},
		    {262, 3, 1, 1},   {277, 3, 1, 4000},    {322, 3, 1, 16}, {323, 3, 1, 16},
		    {324, 4, 1, 300}, {325, 4, 1, 1024000},
		};
		struct fundus_image_source *src;

		put_ifd(f, 8, t, 10, 0);
		fundus_image_limits_default(&lim);
		lim.max_pixels = 1000;
		CHECK_OK(fundus_image_open_memory(&src, f, 364, &lim));
		CHECK_INT_EQ(fundus_image_read(src, NULL, &img), FUNDUS_ELIMIT);
		CHECK_STR_CONTAINS(fundus_errmsg(), "a TIFF tile of 1024000 bytes");
		fundus_image_close(src);
	}
	/* Only a transparency mask: no image. */
	{
		struct ent e2[10];

		memcpy(e2 + 1, e, sizeof e);
		e2[0] = (struct ent){254, 4, 1, FILETYPE_MASK};
		put_ifd(f, 8, e2, 10, 0);
		CHECK_INT_EQ(open_read(f, 364, NULL), FUNDUS_EFORMAT);
		CHECK_STR_CONTAINS(fundus_errmsg(), "only transparency masks");
	}
	/* Unsupported sample formats are named. */
	e[0].type = 3, e[0].value = 8;
	e[1].type = 3, e[1].value = 8;
	e[7].type = 3, e[7].value = 8;
	{
		struct ent e2[10];

		memcpy(e2, e, sizeof e);
		e2[9] = (struct ent){339, 3, 1, 3}; /* SampleFormat float */
		e2[2].value = 32;
		put_ifd(f, 8, e2, 10, 0);
		CHECK_INT_EQ(open_read(f, 364, NULL), FUNDUS_EUNSUPPORTED);
		CHECK_STR_CONTAINS(fundus_errmsg(), "sample format");
	}
	CHECK_INT_EQ(open_read(f, 0, NULL), FUNDUS_EFORMAT);
	CHECK_INT_EQ(open_read(f, 4, NULL), FUNDUS_EFORMAT);
	(void)img;
}

TEST(truncated_and_corrupted_real_encodings)
{
	static const int comps[] = {1, 2, 3};

	for (size_t k = 0; k < sizeof comps / sizeof comps[0]; k++) {
		struct fundus_image *img = smooth(64, 48, FUNDUS_PIX_RGB8);
		struct fundus_save_options so;
		uint8_t *data, *bad;
		size_t len;
		int fails = 0;

		fundus_save_options_default(&so);
		so.type = FUNDUS_IMAGE_TIFF;
		so.compression = comps[k];
		CHECK_OK(fundus_image_encode(img, &so, &data, &len));
		for (size_t cut = 0; cut < len; cut += 1 + cut / 24) {
			int rc = open_read(data, cut, NULL);

			fails += rc < 0;
			CHECK(rc <= 0);
		}
		CHECK_INT_GT(fails, 10);
		bad = malloc(len);
		for (size_t i = 0; i < len; i += 1 + i / 64) {
			memcpy(bad, data, len);
			bad[i] ^= 0x5a;
			(void)open_read(bad, len, NULL);
		}
		free(bad);
		fundus_free(data);
		fundus_image_free(img);
	}
}

/* Reads a whole scratch file into a malloc'd buffer. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	d = malloc((size_t)n);
	if (d && fread(d, 1, (size_t)n, f) != (size_t)n) {
		free(d);
		d = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return d;
}

TEST(allocation_failures_are_clean)
{
	struct fundus_image *img = noise(40, 30, FUNDUS_PIX_RGBA8, 2), *lv[2];
	struct wopts strips = {.compression = COMPRESSION_LZW},
		     tiles = {.compression = COMPRESSION_ADOBE_DEFLATE, .tile = 16, .separate = 1};
	struct fundus_read_options ro;
	const char *p1 = write_tiff("a1.tif", img, &strips),
		   *p2 = write_tiff("a2.tif", img, &tiles);
	uint8_t *d1, *d2, *pyr;
	size_t l1, l2, lp;

	CHECK(p1 && p2);
	d1 = slurp(p1, &l1);
	d2 = slurp(p2, &l2);
	fundus_read_options_default(&ro);
	CHECK_INT_GT(tu_alloc_sweep_read(d1, l1, &ro), 2);
	CHECK_INT_GT(tu_alloc_sweep_read(d2, l2, &ro), 2);
	ro.scale = 3;
	ro.region.x = 5, ro.region.y = 3, ro.region.w = 30, ro.region.h = 20;
	CHECK_INT_GT(tu_alloc_sweep_read(d1, l1, &ro), 2);
	CHECK_INT_GT(tu_alloc_sweep_read(d2, l2, &ro), 2);
	/* The encoder and the pyramid writer. */
	lv[0] = img;
	CHECK_OK(fundus_image_shrink(img, 2, &lv[1]));
	for (long n = 0;; n++) {
		struct fundus_save_options so;
		uint8_t *d;
		size_t l;
		int rc, rc2;

		fundus_save_options_default(&so);
		so.type = FUNDUS_IMAGE_TIFF;
		fundus_alloc_fail_after(n);
		rc = fundus_image_encode(img, &so, &d, &l);
		fundus_alloc_fail_after(-1);
		if (rc == 0)
			fundus_free(d);
		fundus_alloc_fail_after(n);
		rc2 = fundus__tiff_write_pyramid((const struct fundus_image *const *)lv, 2, 16, "x",
						 &pyr, &lp);
		fundus_alloc_fail_after(-1);
		if (rc2 == 0)
			fundus_free(pyr);
		CHECK(rc == 0 || rc == FUNDUS_ENOMEM);
		CHECK(rc2 == 0 || rc2 == FUNDUS_ENOMEM);
		if (rc == 0 && rc2 == 0)
			break;
	}
	free(d1);
	free(d2);
	fundus_image_free(img);
	fundus_image_free(lv[1]);
}

int main(int argc, char **argv)
{
	/* The fixtures' writers may warn; the decoder's handlers are per handle. */
	TIFFSetWarningHandler(NULL);
	RUN(compressions_layouts_depths_colours_planes);
	RUN(gray_bit_depths_and_min_is_white);
	RUN(palettes);
	RUN(cmyk_goes_through_libtiff_rgba);
	RUN(jpeg_ycbcr_equals_libtiff);
	RUN(pages);
	RUN(pyramid_of_reduced_ifds);
	RUN(pyramid_of_subifds_and_pages);
	RUN(orientation_tag);
	RUN(huge_sparse_tiled_image_read_by_region);
	RUN(encoder_every_format_and_compression);
	RUN(hostile_files);
	RUN(truncated_and_corrupted_real_encodings);
	RUN(allocation_failures_are_clean);
	return harness_done();
}
