/*
 * Internal: the orientation tag of an EXIF block, shared by the codecs
 * that carry EXIF (JPEG in APP1, PNG in eXIf), so that one file's
 * orientation means the same whatever the container.
 */
#ifndef FUNDUS_IMAGE_EXIF_H
#define FUNDUS_IMAGE_EXIF_H

#include <stddef.h>
#include <stdint.h>

/*
 * The Orientation (tag 0x0112 of IFD0, 1 to 8) of the EXIF block p of n
 * bytes, which starts with the TIFF header ("II*\0" or "MM\0*"), or 0 when
 * it holds none or is malformed. Every read is checked against n; SHORT
 * as the standard says and LONG from a few sloppy writers are accepted.
 */
int fundus__exif_orientation(const uint8_t *p, size_t n);

#endif
