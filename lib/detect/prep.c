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
	thr = hi * 15 / 100;
	if (thr < 3)
		thr = 3;
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

int fundus_detect_normalise(const struct fundus_net *net, const struct fundus_image *img,
			    float *out, float *scratch)
{
	struct fundus_net_input in;
	const char *pp = fundus_net_layer_option(net, -1, "preprocess");
	const char *sg = fundus_net_layer_option(net, -1, "lcn_sigma");
	size_t plane, inside;
	float *mask, *mb, *s1, *s2, *tmp, *own = NULL;
	double sigma = 0.05;
	int w, h, r;

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
		own = fundus_malloc(plane * FUNDUS__NORM_SCRATCH * sizeof(float));
		if (own == NULL)
			return FUNDUS_ENOMEM;
		scratch = own;
	}
	if (sg)
		sigma = strtod(sg, NULL);
	mask = scratch;
	mb = scratch + plane;
	s1 = scratch + 2 * plane;
	s2 = scratch + 3 * plane;
	tmp = scratch + 4 * plane; /* max(w, h) <= plane floats */
	inside = field_of_view(img, mask);
	/* Three box passes of radius r: sigma^2 = r (r + 1). */
	{
		double diam = sqrt((double)inside * 4 / M_PI), sp = sigma * diam;

		r = (int)lround((-1 + sqrt(1 + 4 * sp * sp)) / 2);
		if (r < 1)
			r = 1;
	}
	memcpy(mb, mask, plane * sizeof *mb);
	blur(mb, w, h, r, tmp);
	for (int c = 0; c < 3; c++) {
		float *o = out + (size_t)c * plane;

		for (int y = 0; y < h; y++) {
			const uint8_t *p = fundus_image_pixel(img, 0, y) + c;
			size_t row = (size_t)y * w;

			for (int x = 0; x < w; x++) {
				float v = (float)p[3 * x] * (1.0f / 255) * mask[row + x];

				s1[row + x] = v;
				s2[row + x] = v * v;
			}
		}
		blur(s1, w, h, r, tmp);
		blur(s2, w, h, r, tmp);
		for (int y = 0; y < h; y++) {
			const uint8_t *p = fundus_image_pixel(img, 0, y) + c;
			size_t row = (size_t)y * w;

			for (int x = 0; x < w; x++) {
				size_t i = row + x;
				float v, mu, var, z;

				if (mask[i] == 0 || mb[i] < 1e-3f) {
					o[i] = 0;
					continue;
				}
				v = (float)p[3 * x] * (1.0f / 255);
				mu = s1[i] / mb[i];
				var = s2[i] / mb[i] - mu * mu;
				/* the floor keeps flat dark regions from blowing up noise */
				z = (v - mu) / sqrtf((var > 0 ? var : 0) + 0.02f * 0.02f);
				o[i] = z < -4 ? -4 : z > 4 ? 4 : z;
			}
		}
	}
	fundus_free(own);
	return 0;
}
