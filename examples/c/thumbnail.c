/*
 * thumbnail: libfundus from C. Reads any photograph fundus reads (JPEG,
 * PNG, TIFF), decoding no more pixels than a thumbnail needs, and writes a
 * PNG no larger than the given size.
 *
 *   cc thumbnail.c $(pkg-config --cflags --libs fundus) -o thumbnail
 *   ./thumbnail eye.jpg 256 thumb.png
 */
#include <stdio.h>
#include <stdlib.h>

#include <fundus/fundus.h>

int main(int argc, char **argv)
{
	struct fundus_image_source *src;
	struct fundus_read_options ro;
	struct fundus_image *img, *thumb;
	const struct fundus_image_info *info;
	int side, w, h, src_w, src_h;

	if (argc != 4 || (side = (int)strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: thumbnail IMAGE SIZE OUT.png\n");
		return 2;
	}
	if (fundus_image_open(&src, argv[1], NULL) < 0) {
		fprintf(stderr, "thumbnail: cannot read '%s': %s\n", argv[1], fundus_errmsg());
		return 1;
	}
	/* info is borrowed from src: keep what is needed before closing it. */
	info = fundus_image_source_info(src);
	src_w = info->width;
	src_h = info->height;
	fundus_read_options_default(&ro);
	/* Let the decoder shrink by up to 8 for free, then resample the rest. */
	ro.scale = fundus_image_fit_scale(info->width, info->height, side);
	if (fundus_image_read(src, &ro, &img) < 0) {
		fprintf(stderr, "thumbnail: cannot decode '%s': %s\n", argv[1], fundus_errmsg());
		fundus_image_close(src);
		return 1;
	}
	fundus_image_close(src);
	w = img->width >= img->height ? side : (int)((double)side * img->width / img->height + 0.5);
	h = img->width >= img->height ? (int)((double)side * img->height / img->width + 0.5) : side;
	if (fundus_image_resize(img, w < 1 ? 1 : w, h < 1 ? 1 : h, &thumb) < 0 ||
	    fundus_image_save(thumb, argv[3], NULL) < 0) {
		fprintf(stderr, "thumbnail: cannot write '%s': %s\n", argv[3], fundus_errmsg());
		return 1;
	}
	printf("%s: %d x %d -> %s: %d x %d\n", argv[1], src_w, src_h, argv[3],
	       thumb->width, thumb->height);
	fundus_image_free(img);
	fundus_image_free(thumb);
	return 0;
}
