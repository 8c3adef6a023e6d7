/*
 * Internal: the elementary functions the synthetic fundus needs (exp, log,
 * sin, cos, atan2, ...), written with + - * / and sqrt only.
 *
 * Why not libm: a photograph must be the same, pixel for pixel, on every
 * machine. IEEE 754 makes + - * / and sqrt exact to the last bit, but the C
 * library's exp or cos may differ by an ulp between versions and between
 * the FMA and non-FMA code paths glibc picks at run time, and one ulp in a
 * vessel's heading can move a pixel. These are accurate to about 1e-12
 * relative (atan to about 1e-10), far below what 8-bit pixels show, and
 * cheaper than libm's.
 */
#ifndef FUNDUS_SYNTH_DMATH_H
#define FUNDUS_SYNTH_DMATH_H

#include <math.h>
#include <stdint.h>

#define DM_PI     3.14159265358979323846
#define DM_LN2_HI 6.93147180369123816490e-01
#define DM_LN2_LO 1.90821492927058770002e-10

/* e^x. */
static inline double dm_exp(double x)
{
	double n, r, p;

	if (x < -700)
		return 0;
	if (x > 700)
		x = 700;
	n = floor(x * 1.44269504088896340736 + 0.5);
	r = x - n * DM_LN2_HI - n * DM_LN2_LO;
	/* Taylor series to r^12 / 12!: |r| <= 0.35, error below 1e-15. */
	p = 1.0 / 479001600;
	p = p * r + 1.0 / 39916800;
	p = p * r + 1.0 / 3628800;
	p = p * r + 1.0 / 362880;
	p = p * r + 1.0 / 40320;
	p = p * r + 1.0 / 5040;
	p = p * r + 1.0 / 720;
	p = p * r + 1.0 / 120;
	p = p * r + 1.0 / 24;
	p = p * r + 1.0 / 6;
	p = p * r + 0.5;
	p = p * r + 1;
	p = p * r + 1;
	if (n > -1000 && n < 1000) {
		/* Scale by 2^n through the exponent bits: exact, like ldexp, and faster. */
		union {
			uint64_t u;
			double d;
		} two;

		two.u = (uint64_t)(n + 1023) << 52;
		return p * two.d;
	}
	return ldexp(p, (int)n);
}

/* Natural logarithm, x > 0 (returns -745 for x <= 0). */
static inline double dm_log(double x)
{
	int e;
	double m, f, s, s2, t;

	if (!(x > 0))
		return -745;
	m = frexp(x, &e);
	if (m < 0.70710678118654752440) {
		m *= 2;
		e--;
	}
	f = m - 1;
	s = f / (2 + f);
	s2 = s * s;
	/* 2 atanh(s) = 2 (s + s^3/3 + ...); |s| <= 0.172. */
	t = 1.0 / 19;
	t = t * s2 + 1.0 / 17;
	t = t * s2 + 1.0 / 15;
	t = t * s2 + 1.0 / 13;
	t = t * s2 + 1.0 / 11;
	t = t * s2 + 1.0 / 9;
	t = t * s2 + 1.0 / 7;
	t = t * s2 + 1.0 / 5;
	t = t * s2 + 1.0 / 3;
	t = t * s2 + 1;
	return 2 * s * t + e * DM_LN2_HI + e * DM_LN2_LO;
}

/* x^y for x > 0. */
static inline double dm_pow(double x, double y)
{
	return x > 0 ? dm_exp(y * dm_log(x)) : 0;
}

/* sin and cos of x at once, for |x| up to about 1e6. */
static inline void dm_sincos(double x, double *sn, double *cs)
{
	double q = floor(x * (2 / DM_PI) + 0.5), r, r2, s, c;
	long k = (long)q;

	/* Cody-Waite reduction by pi/2: a 33-bit head (exact products) and the rest. */
	r = x - q * 1.57079632673412561417e+00;
	r -= q * 6.07710050650619224932e-11;
	r2 = r * r;
	s = -1.0 / 1307674368000;
	s = s * r2 + 1.0 / 6227020800;
	s = s * r2 - 1.0 / 39916800;
	s = s * r2 + 1.0 / 362880;
	s = s * r2 - 1.0 / 5040;
	s = s * r2 + 1.0 / 120;
	s = s * r2 - 1.0 / 6;
	s = r + r * r2 * s;
	c = 1.0 / 87178291200;
	c = c * r2 - 1.0 / 479001600;
	c = c * r2 + 1.0 / 3628800;
	c = c * r2 - 1.0 / 40320;
	c = c * r2 + 1.0 / 720;
	c = c * r2 - 1.0 / 24;
	c = c * r2 + 0.5;
	c = 1 - r2 * c;
	switch (k & 3) {
	case 0:
		*sn = s;
		*cs = c;
		break;
	case 1:
		*sn = c;
		*cs = -s;
		break;
	case 2:
		*sn = -s;
		*cs = -c;
		break;
	default:
		*sn = -c;
		*cs = s;
		break;
	}
}

static inline double dm_sin(double x)
{
	double s, c;

	dm_sincos(x, &s, &c);
	return s;
}

static inline double dm_cos(double x)
{
	double s, c;

	dm_sincos(x, &s, &c);
	return c;
}

/* atan(x) for |x| <= 1. */
static inline double dm_atan1(double x)
{
	/* atan(x) = 2 atan(x / (1 + sqrt(1 + x^2))) halves the argument twice,
	 * to |x| <= 0.199, where the series converges fast. */
	double y = x / (1 + sqrt(1 + x * x)), y2, t;

	y = y / (1 + sqrt(1 + y * y));
	y2 = y * y;
	t = -1.0 / 23;
	t = t * y2 + 1.0 / 21;
	t = t * y2 - 1.0 / 19;
	t = t * y2 + 1.0 / 17;
	t = t * y2 - 1.0 / 15;
	t = t * y2 + 1.0 / 13;
	t = t * y2 - 1.0 / 11;
	t = t * y2 + 1.0 / 9;
	t = t * y2 - 1.0 / 7;
	t = t * y2 + 1.0 / 5;
	t = t * y2 - 1.0 / 3;
	t = t * y2 + 1;
	return 4 * y * t;
}

/* The angle of (x, y), in (-pi, pi]; 0 for (0, 0). */
static inline double dm_atan2(double y, double x)
{
	double ax = fabs(x), ay = fabs(y), a;

	if (ax == 0 && ay == 0)
		return 0;
	a = ay <= ax ? dm_atan1(ay / ax) : DM_PI / 2 - dm_atan1(ax / ay);
	if (x < 0)
		a = DM_PI - a;
	return y < 0 ? -a : a;
}

/* acos(x) for x in [-1, 1]. */
static inline double dm_acos(double x)
{
	x = x < -1 ? -1 : x > 1 ? 1 : x;
	return dm_atan2(sqrt((1 - x) * (1 + x)), x);
}

/* Cube root of x >= 0. */
static inline double dm_cbrt(double x)
{
	return x > 0 ? dm_exp(dm_log(x) / 3) : 0;
}

#endif
