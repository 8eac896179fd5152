/* Independent check of `sasnet bench --ceilings`: f32 FMA throughput with 16 independent
 * zmm accumulator chains per thread, on 1 thread and on NTHREADS threads at once.
 *
 *   gcc -O3 -funroll-all-loops -mavx512f -pthread bench/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak 2
 *
 * Prints GFLOP/s (an FMA is 2 FLOP) for 1 thread and for all threads together. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 16
#define ITERS 200000000L

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void *work(void *out) {
    __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    __m512 a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps((float)i);
    double t0 = now();
    for (long it = 0; it < ITERS; it++) {
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    double dt = now() - t0;
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += _mm512_reduce_add_ps(a[i]);
    if (s == 12345.0f) puts("");
    *(double *)out = ITERS * (double)CHAINS * 16 * 2 / dt / 1e9;
    return NULL;
}

static double run(int n) {
    pthread_t th[64];
    double g[64], sum = 0;
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, work, &g[i]);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL), sum += g[i];
    return sum;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2;
    if (n < 1 || n > 64) return 1;
    printf("1 thread: %.1f GFLOP/s\n", run(1));
    printf("%d threads: %.1f GFLOP/s\n", n, run(n));
    return 0;
}
