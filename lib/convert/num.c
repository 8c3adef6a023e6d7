/*
 * Numbers of the annotation formats: a strict parser, exact decimal
 * arithmetic for VOC's "+1", and the search for the shortest decimal that
 * a reader's formula turns back into exactly the native double.
 *
 * Why a search: COCO stores w = x1 - x0 and readers compute x0 + w; in
 * doubles, x0 + (x1 - x0) is not always x1, and the exact difference is
 * often long (0.7 - 0.1 is 0.59999999999999998). Among the doubles near the
 * difference, the writer takes the one with the fewest digits for which the
 * reader's sum is exactly x1 (here 0.6), so that the file is both exact and
 * what a person would write. YOLO and Open Images divide by the image size
 * and get the same treatment.
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pthread_once_t num_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

/* Makes the C numeric locale once per process. */
static void num_init(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Switches this thread to the C numeric locale; returns the one to restore. */
static locale_t c_begin(void)
{
	pthread_once(&num_once, num_init);
	return c_locale ? uselocale(c_locale) : (locale_t)0;
}

/* Gives the thread back its locale. */
static void c_end(locale_t old)
{
	if (old)
		uselocale(old);
}

/* An ASCII digit, whatever the locale. */
static int digit(int c)
{
	return c >= '0' && c <= '9';
}

/*
 * Checks the number grammar of s[0..n) (see internal.h); returns the index
 * of the decimal comma when one is used, n when none, -1 when invalid.
 */
static long check_grammar(const char *s, size_t n, int decimal_comma)
{
	size_t i = 0, mant = 0;
	long comma = (long)n;

	if (n == 0 || n > 400)
		return -1;
	if (s[i] == '+' || s[i] == '-')
		i++;
	while (i < n && digit(s[i]))
		i++, mant++;
	if (i < n && (s[i] == '.' || (decimal_comma && s[i] == ','))) {
		if (s[i] == ',')
			comma = (long)i;
		i++;
		while (i < n && digit(s[i]))
			i++, mant++;
	}
	if (mant == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && digit(s[i]))
			i++, e++;
		if (e == 0)
			return -1;
	}
	return i == n ? comma : -1;
}

int fundus__cv_parse_number(const char *s, size_t n, int decimal_comma, double *out)
{
	char buf[416];
	long comma = check_grammar(s, n, decimal_comma);
	locale_t old;
	double d;

	if (comma < 0)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if ((size_t)comma < n)
		buf[comma] = '.';
	old = c_begin();
	d = strtod(buf, NULL);
	c_end(old);
	if (!isfinite(d))
		return -1;
	*out = d;
	return 0;
}

size_t fundus__cv_format(double d, char buf[32])
{
	return fundus__json_format_number(d, buf);
}

/*
 * Decimal digits of |value| as an integer D with a scale S (value = D *
 * 10^-S), from the grammar above without a comma. Returns 0, or -1 when
 * the exponent is too large or it does not fit in cap digits.
 */
static int to_fixed(const char *s, size_t n, int *neg, char *d, size_t cap, size_t *nd, long *scale)
{
	size_t i = 0, k = 0;
	long frac = 0, e = 0;
	int esign = 1, point = 0;

	*neg = 0;
	if (s[i] == '+' || s[i] == '-')
		*neg = s[i++] == '-';
	for (; i < n && (digit(s[i]) || s[i] == '.'); i++) {
		if (s[i] == '.') {
			point = 1;
			continue;
		}
		if (k + 1 >= cap)
			return -1;
		d[k++] = s[i];
		frac += point;
	}
	if (i < n) {
		i++; /* e or E */
		if (s[i] == '+' || s[i] == '-')
			esign = s[i++] == '-' ? -1 : 1;
		for (; i < n; i++) {
			e = e * 10 + (s[i] - '0');
			if (e > 400)
				return -1;
		}
	}
	*scale = frac - esign * e;
	if (*scale < 0) {
		/* 12e3: append zeros; no scale left. */
		if (k + (size_t)(-*scale) + 1 >= cap)
			return -1;
		memset(d + k, '0', (size_t)(-*scale));
		k += (size_t)(-*scale);
		*scale = 0;
	}
	*nd = k;
	return 0;
}

int fundus__cv_decimal_add(const char *s, size_t n, int delta, char *out, size_t cap)
{
	char a[900], one[900], r[902];
	size_t na, nr, len;
	long scale;
	int neg, rneg, cmp = 0;

	if (check_grammar(s, n, 0) < 0 || (delta != 1 && delta != -1))
		return -1;
	if (to_fixed(s, n, &neg, a, sizeof a, &na, &scale) < 0 || (size_t)scale + 2 > sizeof one)
		return -1;
	/* Align: the addend is 10^scale, as scale + 1 digits. */
	{
		size_t no = (size_t)scale + 1, w = na > no ? na : no;
		int carry = 0, borrow = 0, dneg = delta < 0;

		memset(one, '0', w);
		one[w - no] = '1';
		/* Left-pad a to w digits. */
		memmove(a + (w - na), a, na);
		memset(a, '0', w - na);
		na = w;
		for (size_t i = 0; i < w && cmp == 0; i++)
			cmp = (a[i] > one[i]) - (a[i] < one[i]);
		if (neg == dneg) {
			for (size_t i = w; i-- > 0;) {
				int v = (a[i] - '0') + (one[i] - '0') + carry;

				carry = v / 10;
				r[i + 1] = (char)('0' + v % 10);
			}
			r[0] = (char)('0' + carry);
			rneg = neg;
		} else {
			/* |a - one|, the larger minus the smaller. */
			const char *big = cmp >= 0 ? a : one, *small = cmp >= 0 ? one : a;

			for (size_t i = w; i-- > 0;) {
				int v = (big[i] - '0') - (small[i] - '0') - borrow;

				borrow = v < 0;
				r[i + 1] = (char)('0' + (v + 10) % 10);
			}
			r[0] = '0';
			rneg = cmp >= 0 ? neg : dneg;
		}
		nr = w + 1;
	}
	/* Print r with the point scale digits from the right, without needless zeros. */
	{
		size_t ip = nr - (size_t)scale, first = 0, last = nr;

		while (first + 1 < ip && r[first] == '0')
			first++;
		while (last > ip && r[last - 1] == '0')
			last--;
		len = 0;
		if (rneg && !(ip - first == 1 && r[first] == '0' && last == ip)) {
			if (len + 1 >= cap)
				return -1;
			out[len++] = '-';
		}
		if (len + (ip - first) + 1 + (last - ip) + 1 > cap)
			return -1;
		memcpy(out + len, r + first, ip - first);
		len += ip - first;
		if (last > ip) {
			out[len++] = '.';
			memcpy(out + len, r + ip, last - ip);
			len += last - ip;
		}
		out[len] = '\0';
	}
	return (int)len;
}

size_t fundus__cv_format_plus_one(double x, char buf[480])
{
	char s[32];
	size_t n = fundus__cv_format(x, s);
	int k = fundus__cv_decimal_add(s, n, 1, buf, 480);

	/* Every finite double has a plain form of under 480 characters. */
	return k < 0 ? 0 : (size_t)k;
}

int fundus__cv_parse_minus_one(const char *s, size_t n, double *out)
{
	char buf[1024];
	int k = fundus__cv_decimal_add(s, n, -1, buf, sizeof buf);

	if (k < 0)
		return -1;
	return fundus__cv_parse_number(buf, (size_t)k, 0, out);
}

/* x rounded to p significant decimal digits (1 to 17), in the C locale. */
static double round_digits(double x, int p)
{
	char buf[48];
	locale_t old = c_begin();
	double r;

	snprintf(buf, sizeof buf, "%.*e", p - 1, x);
	r = strtod(buf, NULL);
	c_end(old);
	return r;
}

/* The number of significant digits the shortest form of x has. */
static int digits_of(double x)
{
	char buf[32];
	size_t n = fundus__cv_format(x, buf);
	int d = 0, lead = 1;

	for (size_t i = 0; i < n && buf[i] != 'e'; i++) {
		if (!digit(buf[i]))
			continue;
		if (lead && buf[i] == '0')
			continue;
		lead = 0;
		d++;
	}
	return d ? d : 1;
}

/* Whether a + w gives b. */
static int extent_ok(double a, double w, double b)
{
	return a + w == b;
}

double fundus__cv_extent(double a, double b)
{
	double w0 = b - a, w;
	int p, max;

	if (extent_ok(a, w0, b)) {
		if (w0 == trunc(w0))
			return w0;
		max = digits_of(w0);
		for (p = 1; p < max; p++) {
			w = round_digits(w0, p);
			if (extent_ok(a, w, b))
				return w;
		}
		return w0;
	}
	/* The difference rounded: a neighbour may still give b exactly. */
	for (int k = 1; k <= 8; k++) {
		double up = w0, down = w0;

		for (int j = 0; j < k; j++) {
			up = nextafter(up, INFINITY);
			down = nextafter(down, -INFINITY);
		}
		if (extent_ok(a, up, b))
			return up;
		if (extent_ok(a, down, b))
			return down;
	}
	return w0;
}

double fundus__cv_tolerance(double s)
{
	return fmax(1e-10, 1e-14 * s);
}

double fundus__cv_clean(double x, double tol)
{
	static const double pow10[] = {1,   1e1, 1e2, 1e3,  1e4,  1e5, 1e6,
				       1e7, 1e8, 1e9, 1e10, 1e11, 1e12};

	/*
	 * The fewest decimal places k for which round(x * 10^k) / 10^k is
	 * within tol: that quotient is the double nearest to the decimal, as
	 * long as x * 10^k stays below 2^52 (integers exact).
	 */
	for (int k = 0; k < (int)(sizeof pow10 / sizeof pow10[0]); k++) {
		double m = x * pow10[k], y;

		if (!(fabs(m) < 4503599627370496.0))
			break;
		y = round(m) / pow10[k];
		if (fabs(y - x) <= tol)
			return y + 0.0; /* a cleaned -1e-17 is 0, not -0 */
	}
	return x;
}

double fundus__cv_scale(double q, double s)
{
	return fundus__cv_clean(q * s, fundus__cv_tolerance(s));
}

double fundus__cv_ratio(double v, double s)
{
	double q0 = v / s;
	int p, max = digits_of(q0);

	for (p = 1; p <= max; p++) {
		double q = round_digits(q0, p);

		if (fundus__cv_scale(q, s) == v)
			return q;
	}
	for (int k = 1; k <= 4; k++) {
		double up = q0, down = q0;

		for (int j = 0; j < k; j++) {
			up = nextafter(up, INFINITY);
			down = nextafter(down, -INFINITY);
		}
		if (fundus__cv_scale(up, s) == v)
			return up;
		if (fundus__cv_scale(down, s) == v)
			return down;
	}
	return q0;
}

void fundus__cv_edges(double c, double w, double s, double *a, double *b)
{
	double tol = fundus__cv_tolerance(s);

	*a = fundus__cv_clean((c - w / 2) * s, tol);
	*b = fundus__cv_clean((c + w / 2) * s, tol);
}

void fundus__cv_centre(double a, double b, double s, double *c, double *w)
{
	double c0 = (a + b) / 2 / s, w0 = (b - a) / s, x, y;
	int p, max;

	max = digits_of(c0);
	if (digits_of(w0) > max)
		max = digits_of(w0);
	for (p = 1; p <= max; p++) {
		double cp = round_digits(c0, p), wp = round_digits(w0, p);

		fundus__cv_edges(cp, wp, s, &x, &y);
		if (x == a && y == b) {
			*c = cp;
			*w = wp;
			return;
		}
	}
	/* Near the full-precision values, a neighbour may still give a and b exactly. */
	for (int i = -2; i <= 2; i++)
		for (int j = -2; j <= 2; j++) {
			double cc = c0, ww = w0;

			for (int k = 0; k < abs(i); k++)
				cc = nextafter(cc, i < 0 ? -INFINITY : INFINITY);
			for (int k = 0; k < abs(j); k++)
				ww = nextafter(ww, j < 0 ? -INFINITY : INFINITY);
			fundus__cv_edges(cc, ww, s, &x, &y);
			if (x == a && y == b) {
				*c = cc;
				*w = ww;
				return;
			}
		}
	*c = c0;
	*w = w0;
}
