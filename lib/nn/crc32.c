/* CRC-32 as in zlib, PNG and Ethernet (reflected polynomial 0xedb88320). */
#include "nn/internal.h"

/* The table for one byte at a time, computed on first use. */
static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* Fills the table. */
static void make_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		table[i] = c;
	}
}

uint32_t fundus__crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;

	pthread_once(&table_once, make_table);
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
