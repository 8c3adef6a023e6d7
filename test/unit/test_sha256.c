/* Unit tests of SHA-256: the FIPS 180-2 vectors, pieces, files, sha256sum. */
#include <stdio.h>
#include <string.h>

#include "fundus/core.h"
#include "fundus/rng.h"
#include "fundus/sha256.h"
#include "harness.h"
#include "testutil.h"

/* The hexadecimal digest of len bytes. */
static const char *hex_of(const void *data, size_t len)
{
	static char hex[FUNDUS_SHA256_HEX];
	uint8_t d[FUNDUS_SHA256_BYTES];

	fundus_sha256(data, len, d);
	fundus_sha256_hex(d, hex);
	return hex;
}

TEST(fips_180_2_vectors)
{
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	const char *four = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
			   "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

	CHECK_STR_EQ(hex_of("abc", 3),
		     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_STR_EQ(hex_of("", 0),
		     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_STR_EQ(hex_of(two, strlen(two)),
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CHECK_STR_EQ(hex_of(four, strlen(four)),
		     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(million_a_in_pieces)
{
	static uint8_t a[1000000];
	struct fundus_sha256 s;
	uint8_t d[FUNDUS_SHA256_BYTES];
	char hex[FUNDUS_SHA256_HEX];
	size_t off = 0, step = 1;

	memset(a, 'a', sizeof a);
	CHECK_STR_EQ(hex_of(a, sizeof a),
		     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* The same in pieces of every length from 1 up, across block edges. */
	fundus_sha256_init(&s);
	while (off < sizeof a) {
		size_t n = step < sizeof a - off ? step : sizeof a - off;

		fundus_sha256_update(&s, a + off, n);
		off += n;
		step = step % 131 + 1;
	}
	fundus_sha256_final(&s, d);
	fundus_sha256_hex(d, hex);
	CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Every length around the padding edges: one call against a byte at a time. */
TEST(padding_edges_agree)
{
	uint8_t buf[200], d1[FUNDUS_SHA256_BYTES], d2[FUNDUS_SHA256_BYTES];

	for (int i = 0; i < 200; i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= 200; len++) {
		struct fundus_sha256 s;

		fundus_sha256(buf, len, d1);
		fundus_sha256_init(&s);
		for (size_t i = 0; i < len; i++)
			fundus_sha256_update(&s, buf + i, 1);
		fundus_sha256_final(&s, d2);
		CHECK_INT_EQ(memcmp(d1, d2, sizeof d1), 0);
	}
}

/* A random file of an odd size, against the sha256sum program. */
TEST(file_against_sha256sum)
{
	static uint8_t data[3 * 1048576 + 77];
	struct fundus_rng rng;
	uint8_t d[FUNDUS_SHA256_BYTES];
	char hex[FUNDUS_SHA256_HEX], cmd[4200], line[200] = "";
	const char *path = tu_path("random.bin");
	FILE *p;

	fundus_rng_seed(&rng, 42);
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)fundus_rng_u64(&rng);
	CHECK_INT_EQ(tu_write_file(path, data, sizeof data), 0);
	CHECK_OK(fundus_sha256_file(path, d));
	fundus_sha256_hex(d, hex);
	CHECK_STR_EQ(hex, hex_of(data, sizeof data));
	snprintf(cmd, sizeof cmd, "sha256sum '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	if (fgets(line, sizeof line, p) == NULL)
		line[0] = '\0';
	pclose(p);
	if (line[0] == '\0') {
		printf("note: sha256sum not found, compared with the one-call hash only\n");
		return;
	}
	line[64] = '\0';
	CHECK_STR_EQ(hex, line);
	CHECK_INT_EQ(fundus_sha256_file(tu_path("absent"), d), FUNDUS_ENOENT);
}

int main(int argc, char **argv)
{
	RUN(fips_180_2_vectors);
	RUN(million_a_in_pieces);
	RUN(padding_edges_agree);
	RUN(file_against_sha256sum);
	return harness_done();
}
