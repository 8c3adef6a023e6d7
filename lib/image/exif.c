/* The orientation tag of an EXIF block (see exif.h). */
#include "exif.h"

/* Byte-order-aware reads from the TIFF structure of the block. */
static unsigned rd16(const uint8_t *p, int le)
{
	return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
	return le ? (uint32_t)rd16(p, 1) | (uint32_t)rd16(p + 2, 1) << 16
		  : (uint32_t)rd16(p, 0) << 16 | (uint32_t)rd16(p + 2, 0);
}

int fundus__exif_orientation(const uint8_t *t, size_t tn)
{
	size_t ifd;
	unsigned entries;
	int le;

	if (tn < 8)
		return 0;
	if (t[0] == 'I' && t[1] == 'I')
		le = 1;
	else if (t[0] == 'M' && t[1] == 'M')
		le = 0;
	else
		return 0;
	if (rd16(t + 2, le) != 42)
		return 0;
	/* Offsets count from the TIFF header; IFD0 cannot overlap it. */
	ifd = rd32(t + 4, le);
	if (ifd < 8 || ifd > tn - 2)
		return 0;
	entries = rd16(t + ifd, le);
	for (unsigned i = 0; i < entries; i++) {
		size_t e = ifd + 2 + (size_t)i * 12;
		unsigned type;
		uint32_t count, v;

		if (tn < 12 || e > tn - 12)
			return 0;
		if (rd16(t + e, le) != 0x0112)
			continue;
		type = rd16(t + e + 2, le);
		count = rd32(t + e + 4, le);
		if (count < 1 || (type != 3 && type != 4))
			return 0;
		/* A SHORT sits in the first two bytes of the value field, in either order. */
		v = type == 3 ? rd16(t + e + 8, le) : rd32(t + e + 8, le);
		return v >= 1 && v <= 8 ? (int)v : 0;
	}
	return 0;
}
