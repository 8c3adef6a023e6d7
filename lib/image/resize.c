/*
 * Resampling. Shrinking averages the exact source area under each
 * destination pixel, so fine vessels do not alias into noise; enlarging is
 * bilinear. Both are separable: a horizontal pass into a float buffer, then
 * a vertical pass.
 */
#include <math.h>
#include <string.h>

#include "codec.h"
#include "rowsink.h"

/* One destination sample as a weighted run of source samples. */
struct taps {
	int *first;   /* first source index per destination index */
	int *count;   /* number of source samples */
	float *w;     /* weights, max_taps per destination index */
	int max_taps;
};

static void taps_free(struct taps *t)
{
	fundus_free(t->first);
	fundus_free(t->count);
	fundus_free(t->w);
}

/* Computes the taps that map n source samples to m destination samples. */
static int taps_make(struct taps *t, int n, int m)
{
	double ratio = (double)n / m;

	memset(t, 0, sizeof *t);
	t->max_taps = ratio > 1 ? (int)ceil(ratio) + 2 : 2;
	t->first = fundus_calloc((size_t)m, sizeof *t->first);
	t->count = fundus_calloc((size_t)m, sizeof *t->count);
	t->w = fundus_calloc((size_t)m, (size_t)t->max_taps * sizeof *t->w);
	if (!t->first || !t->count || !t->w) {
		taps_free(t);
		return FUNDUS_ENOMEM;
	}
	for (int i = 0; i < m; i++) {
		float *w = t->w + (size_t)i * t->max_taps;

		if (ratio > 1) {
			/* Area: source interval [i * ratio, (i + 1) * ratio). */
			double a = i * ratio, b = (i + 1) * ratio;
			int s0 = (int)floor(a), s1 = (int)ceil(b);
			double sum = 0;

			if (s1 > n)
				s1 = n;
			t->first[i] = s0;
			t->count[i] = s1 - s0;
			for (int s = s0; s < s1; s++) {
				double lo = s > a ? s : a, hi = s + 1 < b ? s + 1 : b;

				w[s - s0] = (float)(hi - lo);
				sum += hi - lo;
			}
			for (int k = 0; k < t->count[i]; k++)
				w[k] = (float)(w[k] / sum);
		} else {
			/* Bilinear with pixel centres aligned. */
			double c = (i + 0.5) * ratio - 0.5;
			int s0 = (int)floor(c);
			double f = c - s0;

			if (s0 < 0) {
				s0 = 0;
				f = 0;
			}
			if (s0 >= n - 1) {
				s0 = n - 1;
				f = 0;
			}
			t->first[i] = s0;
			t->count[i] = f > 0 ? 2 : 1;
			w[0] = (float)(1 - f);
			w[1] = (float)f;
		}
	}
	return 0;
}

static inline float load(const uint8_t *p, int b, size_t k)
{
	return b == 2 ? (float)((const uint16_t *)p)[k] : (float)p[k];
}

static inline void store(uint8_t *p, int b, size_t k, float v)
{
	float max = b == 2 ? 65535.f : 255.f;

	v = v < 0 ? 0 : v > max ? max : v;
	if (b == 2)
		((uint16_t *)p)[k] = (uint16_t)(v + 0.5f);
	else
		p[k] = (uint8_t)(v + 0.5f);
}

int fundus_image_resize(const struct fundus_image *src, int width, int height,
			struct fundus_image **out)
{
	struct fundus_image *dst = NULL;
	struct taps tx, ty;
	float *row = NULL;
	int c = fundus_pixfmt_channels(src->format), b = fundus_pixfmt_bytes(src->format);
	size_t tmp_len;
	int rc;

	*out = NULL;
	if (width <= 0 || height <= 0)
		return fundus_error_set(FUNDUS_EINVAL, "bad target size %d x %d", width, height);
	if (width == src->width && height == src->height)
		return fundus_image_dup(src, out);
	rc = fundus_image_new(&dst, width, height, src->format);
	if (rc < 0)
		return rc;
	if (taps_make(&tx, src->width, width) < 0) {
		fundus_image_free(dst);
		return FUNDUS_ENOMEM;
	}
	if (taps_make(&ty, src->height, height) < 0) {
		taps_free(&tx);
		fundus_image_free(dst);
		return FUNDUS_ENOMEM;
	}
	/* Horizontally resampled copies of all source rows: height x width x c floats. */
	if (fundus_size_mul3(&tmp_len, (size_t)src->height, (size_t)width, (size_t)c) < 0 ||
	    (row = fundus_calloc(tmp_len, sizeof *row)) == NULL) {
		rc = FUNDUS_ENOMEM;
		goto done;
	}
	for (int y = 0; y < src->height; y++) {
		const uint8_t *s = src->data + (size_t)y * src->stride;
		float *r = row + (size_t)y * width * c;

		for (int x = 0; x < width; x++) {
			const float *w = tx.w + (size_t)x * tx.max_taps;

			for (int k = 0; k < c; k++) {
				float acc = 0;

				for (int t = 0; t < tx.count[x]; t++)
					acc += w[t] * load(s, b, (size_t)(tx.first[x] + t) * c + k);
				r[(size_t)x * c + k] = acc;
			}
		}
	}
	for (int y = 0; y < height; y++) {
		const float *w = ty.w + (size_t)y * ty.max_taps;
		uint8_t *d = dst->data + (size_t)y * dst->stride;

		for (size_t i = 0; i < (size_t)width * c; i++) {
			float acc = 0;

			for (int t = 0; t < ty.count[y]; t++)
				acc += w[t] * row[(size_t)(ty.first[y] + t) * width * c + i];
			store(d, b, i, acc);
		}
	}
	*out = dst;
	dst = NULL;
	rc = 0;
done:
	fundus_free(row);
	taps_free(&tx);
	taps_free(&ty);
	fundus_image_free(dst);
	return rc;
}

int fundus_image_shrink(const struct fundus_image *src, int factor, struct fundus_image **out)
{
	struct fundus__rowsink sink;
	int rc;

	*out = NULL;
	if (factor < 1)
		return fundus_error_set(FUNDUS_EINVAL, "bad shrink factor %d", factor);
	if (factor == 1)
		return fundus_image_dup(src, out);
	/* The row sink is the one block average: codecs that reduce while decoding use it too. */
	rc = fundus__rowsink_init(&sink, src->width, src->height, src->format, factor);
	if (rc < 0)
		return rc;
	for (int y = 0; y < src->height; y++)
		fundus__rowsink_put(&sink, src->data + (size_t)y * src->stride);
	*out = fundus__rowsink_take(&sink);
	return 0;
}
