/*
 * augment_sheet: what fundus-train's augmentation does to a photograph.
 * Decodes IMAGE as training does (the smallest scale with a long side of
 * at least 512), makes 24 augmented 192 x 192 inputs with the default
 * options and writes them as a sheet, six to a row, each with its moved
 * disc box drawn in green just outside the box (none when the disc was
 * dropped). The box is given in IMAGE's pixels, edge coordinates.
 *
 *   cc augment_sheet.c $(pkg-config --cflags --libs fundus) -o augment_sheet
 *   ./augment_sheet eye.jpg 479 1255 871 1641 sheet.jpg [SEED]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fundus/augment.h>
#include <fundus/fundus.h>

enum { SIDE = 192, COLS = 6, ROWS = 4, GAP = 4 };

/* Paints pixel (x, y) of img green if it lies inside the rectangle [x0, x1) x [y0, y1). */
static void green(struct fundus_image *img, int x, int y, int x0, int y0, int x1, int y1)
{
	uint8_t *p;

	if (x < x0 || y < y0 || x >= x1 || y >= y1)
		return;
	p = fundus_image_pixel(img, x, y);
	p[0] = 0;
	p[1] = 255;
	p[2] = 0;
}

int main(int argc, char **argv)
{
	struct fundus_image_source *src;
	struct fundus_read_options ro;
	struct fundus_image *photo, *input, *sheet;
	struct fundus_augment aug;
	struct fundus_save_options so;
	struct fundus_rng rng;
	struct fundus_box box, moved;
	double k;
	int n, orig_w;

	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: augment_sheet IMAGE X0 Y0 X1 Y1 OUT [SEED]\n");
		return 2;
	}
	if (fundus_image_open(&src, argv[1], NULL) < 0) {
		fprintf(stderr, "augment_sheet: cannot read '%s': %s\n", argv[1], fundus_errmsg());
		return 1;
	}
	/* info is borrowed from src: keep what is needed before closing it. */
	orig_w = fundus_image_source_info(src)->width;
	fundus_read_options_default(&ro);
	ro.scale = fundus_image_fit_scale(orig_w, fundus_image_source_info(src)->height, 512);
	if (fundus_image_read(src, &ro, &photo) < 0) {
		fprintf(stderr, "augment_sheet: cannot decode '%s': %s\n", argv[1],
			fundus_errmsg());
		fundus_image_close(src);
		return 1;
	}
	fundus_image_close(src);
	k = (double)photo->width / orig_w; /* the box goes to the decoded scale */
	box.x0 = strtod(argv[2], NULL) * k;
	box.y0 = strtod(argv[3], NULL) * k;
	box.x1 = strtod(argv[4], NULL) * k;
	box.y1 = strtod(argv[5], NULL) * k;
	fundus_augment_defaults(&aug);
	fundus_rng_seed(&rng, argc == 8 ? strtoull(argv[7], NULL, 10) : 1);
	if (fundus_image_new(&input, SIDE, SIDE, FUNDUS_PIX_RGB8) < 0 ||
	    fundus_image_new(&sheet, COLS * (SIDE + GAP) - GAP, ROWS * (SIDE + GAP) - GAP,
			     FUNDUS_PIX_RGB8) < 0) {
		fprintf(stderr, "augment_sheet: %s\n", fundus_errmsg());
		return 1;
	}
	memset(sheet->data, 255, sheet->stride * (size_t)sheet->height);
	for (int t = 0; t < COLS * ROWS; t++) {
		int ox = t % COLS * (SIDE + GAP), oy = t / COLS * (SIDE + GAP);

		if (fundus_augment_apply(&aug, &rng, photo, &box, NULL, 1, input, &moved, NULL,
					 &n) < 0) {
			fprintf(stderr, "augment_sheet: %s\n", fundus_errmsg());
			return 1;
		}
		for (int y = 0; y < SIDE; y++)
			memcpy(fundus_image_pixel(sheet, ox, oy + y),
			       fundus_image_pixel(input, 0, y), SIDE * 3);
		if (n == 1) {
			/* The pixels just outside the box's edges, within the thumbnail. */
			int x0 = (int)moved.x0 - 1, y0 = (int)moved.y0 - 1;
			int x1 = (int)(moved.x1 + 0.999), y1 = (int)(moved.y1 + 0.999);

			for (int x = x0; x <= x1; x++) {
				green(sheet, ox + x, oy + y0, ox, oy, ox + SIDE, oy + SIDE);
				green(sheet, ox + x, oy + y1, ox, oy, ox + SIDE, oy + SIDE);
			}
			for (int y = y0; y <= y1; y++) {
				green(sheet, ox + x0, oy + y, ox, oy, ox + SIDE, oy + SIDE);
				green(sheet, ox + x1, oy + y, ox, oy, ox + SIDE, oy + SIDE);
			}
		}
	}
	fundus_save_options_default(&so);
	so.quality = 88;
	if (fundus_image_save(sheet, argv[6], &so) < 0) {
		fprintf(stderr, "augment_sheet: cannot write '%s': %s\n", argv[6], fundus_errmsg());
		return 1;
	}
	fundus_image_free(photo);
	fundus_image_free(input);
	fundus_image_free(sheet);
	return 0;
}
