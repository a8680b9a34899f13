// The most float32 multiply-adds one core does per second: twelve independent
// chains of 512-bit FMAs and nothing else (no loads). docs/performance.md uses
// it as the ceiling for fit_many's matrix products (native/many_sums.cc).
//
//   g++ -O2 -march=native benchmarks/fma_peak.cc -o /tmp/fma_peak && /tmp/fma_peak
//
// x86-64 with AVX-512 only (written in assembly so that the compiler cannot
// fold the loop away). A 2-core Zen 4 EPYC gave 117 GFLOP/s (0.27 ns an FMA).

#include <chrono>
#include <cstdio>

int main() {
#if defined(__x86_64__) && defined(__AVX512F__)
  const long iters = 100000000;
  const auto t0 = std::chrono::steady_clock::now();
  asm volatile(
      "mov %0, %%rcx\n"
      "1:\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm0\n vfmadd231ps %%zmm14, %%zmm15, %%zmm1\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm2\n vfmadd231ps %%zmm14, %%zmm15, %%zmm3\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm4\n vfmadd231ps %%zmm14, %%zmm15, %%zmm5\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm6\n vfmadd231ps %%zmm14, %%zmm15, %%zmm7\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm8\n vfmadd231ps %%zmm14, %%zmm15, %%zmm9\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm10\n vfmadd231ps %%zmm14, %%zmm15, %%zmm11\n"
      "dec %%rcx\n"
      "jnz 1b\n"
      :
      : "r"(iters)
      : "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
        "xmm10", "xmm11");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double fmas = iters * 12.0;
  std::printf("one core: %.1f GFLOP/s float32 (%.3f ns per 512-bit FMA)\n",
              fmas * 32 / s / 1e9, s / fmas * 1e9);
  return 0;
#else
  std::printf("needs x86-64 with AVX-512 (build with -march=native on such a CPU)\n");
  return 1;
#endif
}
