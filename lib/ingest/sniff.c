/*
 * Encrypted files: a clinic's export is sometimes wrapped in encryption,
 * which no image codec recognises. Naming the wrapper tells the user what
 * to do ("decrypt it first") where "not an image" would mislead.
 */
#include <string.h>

#include "internal.h"

/* An OpenPGP packet that starts an encrypted message (RFC 4880 / 9580). */
static int pgp_packet(const uint8_t *d, size_t len)
{
	size_t v;

	if (len < 4)
		return 0;
	/* Old-format tags 1 (public-key encrypted session key) and 3 (symmetric). */
	if (d[0] == 0x84 || d[0] == 0x85 || d[0] == 0x8c || d[0] == 0x8d)
		v = d[0] & 1 ? 3 : 2;
	else if (d[0] == 0xc1 || d[0] == 0xc3) /* new format, tags 1 and 3 */
		v = d[1] < 192 ? 2 : 3;
	else
		return 0;
	return v < len && d[v] >= 3 && d[v] <= 6;
}

const char *fundus__sniff_encrypted(const uint8_t *d, size_t len)
{
	static const char armor[] = "-----BEGIN PGP MESSAGE-----";
	static const char age[] = "age-encryption.org/v1";

	if (len >= 8 && memcmp(d, "Salted__", 8) == 0)
		return "OpenSSL-encrypted data";
	if (len >= sizeof armor - 1 && memcmp(d, armor, sizeof armor - 1) == 0)
		return "an OpenPGP message";
	if (len >= sizeof age - 1 && memcmp(d, age, sizeof age - 1) == 0)
		return "an age-encrypted file";
	/* A ZIP entry whose general-purpose flag says encrypted. */
	if (len >= 8 && memcmp(d, "PK\3\4", 4) == 0 && (d[6] & 1))
		return "an encrypted ZIP archive";
	if (pgp_packet(d, len))
		return "an OpenPGP message";
	return NULL;
}
