/*
 * Input preparation: letterboxing a photograph to the network input and
 * normalising it, locally inside the field of view or globally.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/internal.h"

int fundus_detect_letterbox(const struct fundus_image *img, int width, int height,
			    struct fundus_image **out, struct fundus_letterbox *lb)
{
	struct fundus_image *dst = NULL, *small = NULL;
	double s;
	int w, h, x0, y0, rc;

	*out = NULL;
	if (img == NULL || img->format != FUNDUS_PIX_RGB8 || width <= 0 || height <= 0)
		return fundus_error_set(FUNDUS_EINVAL, "letterbox needs an RGB8 image and a size");
	s = fmin((double)width / img->width, (double)height / img->height);
	w = (int)lround(img->width * s);
	h = (int)lround(img->height * s);
	w = w < 1 ? 1 : w > width ? width : w;
	h = h < 1 ? 1 : h > height ? height : h;
	x0 = (width - w) / 2;
	y0 = (height - h) / 2;
	rc = fundus_image_new(&dst, width, height, FUNDUS_PIX_RGB8);
	if (rc >= 0)
		rc = fundus_image_resize(img, w, h, &small);
	if (rc < 0) {
		fundus_image_free(dst);
		return rc;
	}
	for (int y = 0; y < h; y++)
		memcpy(fundus_image_pixel(dst, x0, y0 + y), fundus_image_pixel(small, 0, y),
		       (size_t)w * 3);
	fundus_image_free(small);
	lb->scale = s;
	lb->dx = x0;
	lb->dy = y0;
	*out = dst;
	return 0;
}

/*
 * Blurs a plane in place with three box filters of radius r along rows and
 * columns (close to a Gaussian of sigma sqrt(r (r + 1)), treating the
 * outside as zero; tmp holds max(w, h) floats.
 */
static void blur(float *p, int w, int h, int r, float *tmp)
{
	float k = 1.0f / (float)(2 * r + 1);

	for (int pass = 0; pass < 3; pass++) {
		for (int y = 0; y < h; y++) {
			float *row = p + (size_t)y * w, acc = 0;

			memcpy(tmp, row, (size_t)w * sizeof *tmp);
			for (int x = 0; x < r && x < w; x++)
				acc += tmp[x];
			for (int x = 0; x < w; x++) {
				if (x + r < w)
					acc += tmp[x + r];
				if (x - r - 1 >= 0)
					acc -= tmp[x - r - 1];
				row[x] = acc * k;
			}
		}
		for (int x = 0; x < w; x++) {
			float acc = 0;

			for (int y = 0; y < h; y++)
				tmp[y] = p[(size_t)y * w + x];
			for (int y = 0; y < r && y < h; y++)
				acc += tmp[y];
			for (int y = 0; y < h; y++) {
				if (y + r < h)
					acc += tmp[y + r];
				if (y - r - 1 >= 0)
					acc -= tmp[y - r - 1];
				p[(size_t)y * w + x] = acc * k;
			}
		}
	}
}

/*
 * The field of view: pixels brighter than a fraction of the photograph's
 * bright level (the 98th percentile of max(R, G, B)), so that a darkened
 * photograph keeps the same field. Writes 0 or 1 per pixel; returns the
 * count inside.
 */
static size_t field_of_view(const struct fundus_image *img, float *mask)
{
	size_t hist[256] = {0}, total = 0, acc = 0, inside = 0;
	int hi = 255, thr;

	for (int y = 0; y < img->height; y++) {
		const uint8_t *p = fundus_image_pixel(img, 0, y);

		for (int x = 0; x < img->width; x++, p += 3) {
			int m = p[0] > p[1] ? p[0] : p[1];

			m = m > p[2] ? m : p[2];
			hist[m]++;
		}
	}
	total = (size_t)img->width * (size_t)img->height - hist[0];
	for (hi = 255; hi > 0; hi--) {
		acc += hist[hi];
		if (acc * 50 >= total)
			break;
	}
	/* at least 10 levels: above the noise of a black surround */
	thr = hi * 15 / 100;
	if (thr < 10)
		thr = 10;
	for (int y = 0; y < img->height; y++) {
		const uint8_t *p = fundus_image_pixel(img, 0, y);
		float *m = mask + (size_t)y * img->width;

		for (int x = 0; x < img->width; x++, p += 3) {
			int v = p[0] > p[1] ? p[0] : p[1];

			v = v > p[2] ? v : p[2];
			m[x] = v > thr ? 1.0f : 0.0f;
			inside += v > thr;
		}
	}
	return inside;
}

/* The coarse grid's factor for a width x height input. */
static int coarse_factor(int w, int h)
{
	return w >= 64 && h >= 64 ? 4 : 1;
}

size_t fundus_detect_normalise_scratch(int w, int h)
{
	int f = coarse_factor(w, h);
	size_t lw = (size_t)(w + f - 1) / (size_t)f, lh = (size_t)(h + f - 1) / (size_t)f;

	return (size_t)w * (size_t)h + 7 * lw * lh + (lw > lh ? lw : lh);
}

int fundus_detect_normalise(const struct fundus_net *net, const struct fundus_image *img,
			    float *out, float *scratch)
{
	struct fundus_net_input in;
	const char *pp = fundus_net_layer_option(net, -1, "preprocess");
	const char *sg = fundus_net_layer_option(net, -1, "lcn_sigma");
	size_t plane, lplane, inside;
	float *mask, *mb, *tmp, *own = NULL;
	double sigma = 0.1;
	int w, h, r, f, lw, lh;

	fundus_net_get_input(net, &in);
	if (img == NULL || img->format != FUNDUS_PIX_RGB8 || img->width != in.width ||
	    img->height != in.height || in.channels != 3)
		return fundus_error_set(FUNDUS_EINVAL, "normalise needs an RGB8 image of %dx%d",
					in.width, in.height);
	w = img->width;
	h = img->height;
	plane = (size_t)w * (size_t)h;
	if (pp == NULL || strcmp(pp, "lcn") != 0) {
		for (int c = 0; c < 3; c++) {
			float k = 1.0f / (255.0f * in.std[c]), m = in.mean[c] / in.std[c];

			for (int y = 0; y < h; y++) {
				const uint8_t *p = fundus_image_pixel(img, 0, y) + c;
				float *o = out + (size_t)c * plane + (size_t)y * w;

				for (int x = 0; x < w; x++)
					o[x] = (float)p[3 * x] * k - m;
			}
		}
		return 0;
	}
	if (scratch == NULL) {
		own = fundus_malloc(fundus_detect_normalise_scratch(w, h) * sizeof(float));
		if (own == NULL)
			return FUNDUS_ENOMEM;
		scratch = own;
	}
	if (sg)
		sigma = strtod(sg, NULL);
	mask = scratch;
	inside = field_of_view(img, mask);
	/*
	 * The local statistics vary slowly (the window is a tenth of the
	 * field): they are computed on a grid f times coarser and
	 * interpolated, which makes this cheap next to the network.
	 */
	f = coarse_factor(w, h);
	lw = (w + f - 1) / f;
	lh = (h + f - 1) / f;
	lplane = (size_t)lw * (size_t)lh;
	mb = scratch + plane;          /* 7 low planes: mask, 3 sums, 3 sums of squares */
	tmp = mb + 7 * lplane;         /* max(lw, lh) floats */
	memset(mb, 0, 7 * lplane * sizeof *mb);
	for (int y = 0; y < h; y++) {
		const uint8_t *p = fundus_image_pixel(img, 0, y);
		const float *m = mask + (size_t)y * w;
		size_t lrow = (size_t)(y / f) * lw;

		for (int x = 0; x < w; x++, p += 3) {
			size_t li = lrow + (size_t)(x / f);

			if (m[x] == 0)
				continue;
			mb[li] += 1;
			for (int c = 0; c < 3; c++) {
				float v = (float)p[c] * (1.0f / 255);

				mb[(size_t)(1 + c) * lplane + li] += v;
				mb[(size_t)(4 + c) * lplane + li] += v * v;
			}
		}
	}
	/* Three box passes of radius r: sigma^2 = r (r + 1), in coarse cells. */
	{
		double diam = sqrt((double)inside * 4 / M_PI), sp = sigma * diam / f;

		r = (int)lround((-1 + sqrt(1 + 4 * sp * sp)) / 2);
		r = r < 1 ? 1 : r;
	}
	for (int k = 0; k < 7; k++)
		blur(mb + (size_t)k * lplane, lw, lh, r, tmp);
	/* Mean and deviation per coarse cell, in place of the sums. */
	for (size_t i = 0; i < lplane; i++) {
		float n = mb[i];

		for (int c = 0; c < 3; c++) {
			float *s1 = &mb[(size_t)(1 + c) * lplane + i], *s2 = &mb[(size_t)(4 + c) * lplane + i];
			float mu = n > 1e-6f ? *s1 / n : 0, var = n > 1e-6f ? *s2 / n - mu * mu : 0;

			*s1 = mu;
			/* the floor keeps flat dark regions from blowing up noise */
			*s2 = 1.0f / sqrtf((var > 0 ? var : 0) + 0.02f * 0.02f);
		}
	}
	for (int y = 0; y < h; y++) {
		const uint8_t *p = fundus_image_pixel(img, 0, y);
		const float *m = mask + (size_t)y * w;
		float fy = ((float)y + 0.5f) / (float)f - 0.5f, ay;
		int y0 = (int)floorf(fy), y1;

		ay = fy - (float)y0;
		y0 = y0 < 0 ? 0 : y0;
		y1 = y0 + 1 < lh ? y0 + 1 : lh - 1;
		if (fy < 0)
			ay = 0;
		for (int x = 0; x < w; x++, p += 3) {
			float fx = ((float)x + 0.5f) / (float)f - 0.5f, ax;
			int x0 = (int)floorf(fx), x1;
			size_t i00, i01, i10, i11;

			if (m[x] == 0) {
				for (int c = 0; c < 3; c++)
					out[(size_t)c * plane + (size_t)y * w + x] = 0;
				continue;
			}
			ax = fx - (float)x0;
			x0 = x0 < 0 ? 0 : x0;
			x1 = x0 + 1 < lw ? x0 + 1 : lw - 1;
			if (fx < 0)
				ax = 0;
			i00 = (size_t)y0 * lw + x0;
			i01 = (size_t)y0 * lw + x1;
			i10 = (size_t)y1 * lw + x0;
			i11 = (size_t)y1 * lw + x1;
			for (int c = 0; c < 3; c++) {
				const float *mu = mb + (size_t)(1 + c) * lplane;
				const float *is = mb + (size_t)(4 + c) * lplane;
				float w00 = (1 - ax) * (1 - ay), w01 = ax * (1 - ay), w10 = (1 - ax) * ay,
				      w11 = ax * ay;
				float m_ = w00 * mu[i00] + w01 * mu[i01] + w10 * mu[i10] + w11 * mu[i11];
				float s_ = w00 * is[i00] + w01 * is[i01] + w10 * is[i10] + w11 * is[i11];
				float z = ((float)p[c] * (1.0f / 255) - m_) * s_;

				out[(size_t)c * plane + (size_t)y * w + x] = z < -4 ? -4 : z > 4 ? 4 : z;
			}
		}
	}
	fundus_free(own);
	return 0;
}
