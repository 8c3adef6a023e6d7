/*
 * The content key of an image file: the same "sha256:<hex>" that
 * fundus-ingest writes as a record's "id", so a file hashed here and an
 * ingested copy of it meet in one key. The hash is the core's.
 */
#include "fundus/convert.h"
#include "fundus/sha256.h"

void fundus_convert_sha256_hex(const void *data, size_t len, char hex[65])
{
	uint8_t digest[FUNDUS_SHA256_BYTES];

	fundus_sha256(data, len, digest);
	fundus_sha256_hex(digest, hex);
}
