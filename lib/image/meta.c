/* Codec-specific metadata of an opened image (the meta entry of a codec). */
#include "codec.h"

int fundus__image_meta(struct fundus_image_source *src, int page, unsigned flags,
		       struct cJSON *meta)
{
	if (page < 0 || page >= src->info.pages)
		return fundus_error_set(FUNDUS_EINVAL, "page %d does not exist (the file has %d)",
					page, src->info.pages);
	if (src->codec->meta == NULL)
		return 0;
	return src->codec->meta(src, page, flags, meta);
}
