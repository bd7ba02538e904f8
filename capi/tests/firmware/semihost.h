/*
 * Output and exit over semihosting (ARM's debug channel; QEMU implements
 * it): what the C firmware (main.c, bench.c) prints and how it ends.
 */
#ifndef SDPA_FIRMWARE_SEMIHOST_H
#define SDPA_FIRMWARE_SEMIHOST_H

#include <stdint.h>

void print(const char *s);
void print_uint(unsigned long n);
/* "0x" and 16 hex digits. */
void print_hex64(uint64_t n);
/* Ends QEMU with status 0 if ok, else 1. */
void stop(int ok);

#endif
