/* Semihosting output and exit for the C firmware; see semihost.h. */
#include "semihost.h"

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void print(const char *s) { semihost(0x04, s); } /* SYS_WRITE0 */

void print_uint(unsigned long n) {
    char text[24];
    int i = 22;
    text[23] = 0;
    do {
        text[i--] = (char)('0' + n % 10);
        n /= 10;
    } while (n && i >= 0);
    print(text + i + 1);
}

void print_hex64(uint64_t n) {
    char text[19];
    text[0] = '0';
    text[1] = 'x';
    for (int i = 0; i < 16; i++) text[17 - i] = "0123456789abcdef"[(n >> (4 * i)) & 0xF];
    text[18] = 0;
    print(text);
}

void stop(int ok) {
    /* SYS_EXIT: ADP_Stopped_ApplicationExit ends QEMU with status 0, RunTimeErrorUnknown with 1. */
    semihost(0x18, (const void *)(uintptr_t)(ok ? 0x20026 : 0x20023));
    for (;;) {
    }
}
