/* internal.h: the random draw of one augmentation, shared with the tests (internal). */
#ifndef FUNDUS_AUGMENT_INTERNAL_H
#define FUNDUS_AUGMENT_INTERNAL_H

#include <stdint.h>

#include "fundus/augment.h"

/* Everything one call of fundus_augment_apply() draws from its rng. */
struct fundus__augment_draw {
	/* Geometry: dst = fwd * (src, 1), inv the inverse, in edge coordinates. */
	double fwd[2][3], inv[2][3];
	double zoom, angle; /* angle in radians */
	int flip_h, flip_v;
	double tx, ty; /* dst pixels */
	/* Photometry. */
	float mix[3][3];  /* channel matrix, desaturation included */
	float gain;       /* global gain, darkening included */
	float black;      /* levels subtracted after the gain */
	float illum_k;    /* strength of the illumination field */
	float q[5];       /* field q = q0 X + q1 Y + q2 X^2 + q3 Y^2 + q4 X Y - q_mid, */
	float q_mid;      /* X, Y in [-1, 1] across dst, spanning about [-1, 1]; */
			  /* the gain is multiplied by 1 + illum_k q */
	float gamma[3];   /* exponent per channel */
	float contrast;   /* slope of the S-curve at mid-gray */
	float blur_sigma; /* 0 for no blur */
	float noise;      /* sigma in levels; 0 for none */
	uint64_t noise_seed;
	float dim;        /* fraction of the objects' brightness taken away; 0 for none */
};

/*
 * Draws the parameters of one call for a src_w x src_h photograph and a
 * dst_w x dst_h input, advancing rng exactly as fundus_augment_apply()
 * does. a must have passed fundus_augment_apply()'s checks.
 */
void fundus__augment_draw(const struct fundus_augment *a, struct fundus_rng *rng, int src_w,
			  int src_h, int dst_w, int dst_h, struct fundus__augment_draw *d);

#endif
