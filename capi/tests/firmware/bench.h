/*
 * Instruction-count benchmark (issue 13), part of the C firmware: sdpa's C
 * ABI and the C peer on the same five workloads, each call between the
 * marker functions bench_start / bench_stop (see bench.c).
 */
#ifndef SDPA_FIRMWARE_BENCH_H
#define SDPA_FIRMWARE_BENCH_H

/* Runs and checks every workload; returns the number of failed checks. */
unsigned bench_run(void);

#endif
