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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <fundus/augment.h>
#include <fundus/draw.h>
#include <fundus/fundus.h>

enum { SIDE = 192, COLS = 6, ROWS = 4 };

int main(int argc, char **argv)
{
	struct fundus_image_source *src;
	struct fundus_read_options ro;
	struct fundus_image *photo, *input;
	struct fundus_sheet *sheet;
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
	    fundus_draw_sheet_new(&sheet, COLS * ROWS, COLS, SIDE, SIDE, 0) < 0) {
		fprintf(stderr, "augment_sheet: %s\n", fundus_errmsg());
		return 1;
	}
	for (int t = 0; t < COLS * ROWS; t++) {
		if (fundus_augment_apply(&aug, &rng, photo, &box, NULL, 1, input, &moved, NULL,
					 &n) < 0) {
			fprintf(stderr, "augment_sheet: %s\n", fundus_errmsg());
			return 1;
		}
		if (n == 1) {
			/* The pixels just outside the box's edges, within the input. */
			static const uint8_t green[3] = {0, 255, 0};
			struct fundus_box out = {floor(moved.x0) - 1, floor(moved.y0) - 1,
						 ceil(moved.x1) + 1, ceil(moved.y1) + 1};

			fundus_draw_rect(input, &out, 1, green);
		}
		/* The input is the cell's size: put copies it as it is. */
		if (fundus_draw_sheet_put(sheet, t, input, NULL, NULL) < 0) {
			fprintf(stderr, "augment_sheet: %s\n", fundus_errmsg());
			return 1;
		}
	}
	fundus_save_options_default(&so);
	so.quality = 88;
	if (fundus_image_save(fundus_draw_sheet_image(sheet), argv[6], &so) < 0) {
		fprintf(stderr, "augment_sheet: cannot write '%s': %s\n", argv[6], fundus_errmsg());
		return 1;
	}
	fundus_image_free(photo);
	fundus_image_free(input);
	fundus_draw_sheet_free(sheet);
	return 0;
}
