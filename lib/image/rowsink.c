/* Row sinks: keep or block-average decoded rows as they arrive (see rowsink.h). */
#include <string.h>

#include "rowsink.h"

int fundus__rowsink_init(struct fundus__rowsink *s, int width, int height, enum fundus_pixfmt fmt,
			 int scale)
{
	int rc;

	memset(s, 0, sizeof *s);
	if (width <= 0 || height <= 0 || scale < 1)
		return fundus_error_set(FUNDUS_EINVAL, "bad row sink %d x %d / %d", width, height,
					scale);
	s->width = width;
	s->height = height;
	s->scale = scale;
	s->channels = fundus_pixfmt_channels(fmt);
	s->bytes = fundus_pixfmt_bytes(fmt);
	rc = fundus_image_new(&s->img, (width - 1) / scale + 1, (height - 1) / scale + 1, fmt);
	if (rc < 0)
		return rc;
	if (scale > 1) {
		s->acc = fundus_calloc((size_t)s->img->width * s->channels, sizeof *s->acc);
		if (s->acc == NULL) {
			fundus__rowsink_free(s);
			return FUNDUS_ENOMEM;
		}
	}
	return 0;
}

/* Writes the averages of the finished output row oy and clears the sums. */
static void flush_row(struct fundus__rowsink *s, int oy)
{
	int c = s->channels, f = s->scale, ow = s->img->width;
	int y0 = oy * f, y1 = f < s->height - y0 ? y0 + f : s->height;
	uint8_t *d = s->img->data + (size_t)oy * s->img->stride;

	for (int x = 0; x < ow; x++) {
		int x0 = x * f, x1 = f < s->width - x0 ? x0 + f : s->width;
		uint64_t n = (uint64_t)(x1 - x0) * (uint64_t)(y1 - y0);

		for (int k = 0; k < c; k++) {
			/* Round half up; fundus_image_shrink() is this same code. */
			uint64_t v = (s->acc[(size_t)x * c + k] * 2 + n) / (2 * n);

			if (s->bytes == 2)
				((uint16_t *)d)[(size_t)x * c + k] = (uint16_t)v;
			else
				d[(size_t)x * c + k] = (uint8_t)v;
		}
	}
	memset(s->acc, 0, (size_t)ow * c * sizeof *s->acc);
}

void fundus__rowsink_put(struct fundus__rowsink *s, const uint8_t *row)
{
	int c = s->channels, f = s->scale;

	if (s->img == NULL || s->row >= s->height)
		return;
	if (f == 1) {
		memcpy(s->img->data + (size_t)s->row * s->img->stride, row, s->img->stride);
		s->row++;
		return;
	}
	for (int x = 0; x < s->width; x++) {
		uint64_t *a = s->acc + (size_t)(x / f) * c;

		if (s->bytes == 2)
			for (int k = 0; k < c; k++)
				a[k] += ((const uint16_t *)row)[(size_t)x * c + k];
		else
			for (int k = 0; k < c; k++)
				a[k] += row[(size_t)x * c + k];
	}
	s->row++;
	if (s->row % f == 0 || s->row == s->height)
		flush_row(s, (s->row - 1) / f);
}

struct fundus_image *fundus__rowsink_take(struct fundus__rowsink *s)
{
	struct fundus_image *img = NULL;

	if (s->img && s->row == s->height) {
		img = s->img;
		s->img = NULL;
	}
	fundus__rowsink_free(s);
	return img;
}

void fundus__rowsink_free(struct fundus__rowsink *s)
{
	fundus_image_free(s->img);
	fundus_free(s->acc);
	s->img = NULL;
	s->acc = NULL;
}
