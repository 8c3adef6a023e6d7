/*
 * fundus/sha256.h: SHA-256 (FIPS 180-4), for content-addressed files.
 *
 * A record's "id" is "sha256:" followed by the 64 lowercase hexadecimal
 * digits of the SHA-256 of the stored image file's bytes
 * (fundus-formats(5)); these functions compute it, in one call or
 * incrementally over data that arrives in pieces.
 *
 *     struct fundus_sha256 h;
 *     uint8_t digest[FUNDUS_SHA256_BYTES];
 *     char hex[FUNDUS_SHA256_HEX];
 *     fundus_sha256_init(&h);
 *     fundus_sha256_update(&h, part1, len1);
 *     fundus_sha256_update(&h, part2, len2);
 *     fundus_sha256_final(&h, digest);
 *     fundus_sha256_hex(digest, hex);       // "e3b0c442..."
 *
 * The state is a plain struct the caller owns (no allocation); one state
 * is used by one thread at a time. None of these functions can fail,
 * except fundus_sha256_file(), which reads a file.
 */
#ifndef FUNDUS_SHA256_H
#define FUNDUS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FUNDUS_SHA256_BYTES 32 /* a digest */
#define FUNDUS_SHA256_HEX   65 /* its hexadecimal form and the NUL */

/* The running state of one hash; its members are private. */
struct fundus_sha256 {
	uint32_t h[8];
	uint64_t bytes;  /* message length so far */
	uint8_t buf[64]; /* a partial block */
	size_t fill;     /* bytes in buf */
};

/* Starts a new hash. */
void fundus_sha256_init(struct fundus_sha256 *s);

/* Adds len bytes of data (data may be NULL when len is 0). */
void fundus_sha256_update(struct fundus_sha256 *s, const void *data, size_t len);

/* Finishes the hash into digest; s must be initialised again before reuse. */
void fundus_sha256_final(struct fundus_sha256 *s, uint8_t digest[FUNDUS_SHA256_BYTES]);

/* Hashes one buffer. */
void fundus_sha256(const void *data, size_t len, uint8_t digest[FUNDUS_SHA256_BYTES]);

/* Writes the 64 lowercase hexadecimal digits of digest and a NUL into hex. */
void fundus_sha256_hex(const uint8_t digest[FUNDUS_SHA256_BYTES], char hex[FUNDUS_SHA256_HEX]);

/*
 * Hashes a whole file ("-" for standard input), reading it in pieces of
 * 1 MiB, into digest. Returns 0, FUNDUS_ENOENT, FUNDUS_EIO or FUNDUS_ENOMEM.
 */
int fundus_sha256_file(const char *path, uint8_t digest[FUNDUS_SHA256_BYTES]);

#ifdef __cplusplus
}
#endif
#endif
