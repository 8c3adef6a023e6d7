/* Placeholder, replaced by the real codec in the same change series. */
#include "codec.h"

static int is_a(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }
static int header(struct fundus_image_source *s) { (void)s; return FUNDUS_EUNSUPPORTED; }
static int rd(struct fundus_image_source *s, const struct fundus_read_options *o, struct fundus_image **out) { (void)s; (void)o; *out = NULL; return FUNDUS_EUNSUPPORTED; }
const struct fundus__codec fundus__codec_tiff = { "tiff", is_a, header, NULL, rd, NULL, NULL };
