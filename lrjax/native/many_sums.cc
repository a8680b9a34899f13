// The sums of one gradient-descent step for K logistic regressions at once
// (lrjax.fit_many), as an XLA FFI custom call (registered by lrjax/_native.py).
//
// For X (m, n) row-major, labels y (m,), the K models' weights W (n, K) and
// biases b (K,), and optional example weights V (m, K):
//   Z = X·W + b,  dZ = σ(Z) - y,  L = y·softplus(-Z) + (1 - y)·softplus(Z)
// (dZ and L times V where V is given), and the outputs are the column sums
// G = Xᵀ·dZ (n, K), gb = Σ dZ (K,) and loss = Σ L (K,).
// With the attribute linear = 1, dZ = Z and L = Z² (times V; y is not read): then
// G and gb hold X̃ᵀVX̃·[W; b] with X̃ = [X, 1], the weighted power-iteration
// product of the learning rate "auto" (lrjax/_solver.py).
//
// With K models a step is two matrix products of 2·m·n·K flops each, so it is
// bound by arithmetic, not by reading X: at 200 000 x 100 and K = 64 the
// products are 5.1 GFLOP against 80 MB of X. The kernel therefore works like a
// small matrix-multiply library, with one difference: a block of rows of X is
// used for both products while it is in cache, so X is read from memory once
// per step and Z never leaves the cache. Both products run in register tiles:
//   Z tile:  kTile rows of X times one vector of L models, looping over the n features;
//   G tile:  kTile features times one vector of L models, looping over the block's rows.
// Each inner step is kTile fused multiply-adds of a broadcast element of X
// with one vector (of W, or of dZ): no horizontal sums, no transposes. On the
// 2-core Zen 4 EPYC of docs/performance.md the two products ran at 92 GFLOP/s
// a core (a standalone C++ test, 200 000 x 96, K = 64), 79 % of the 117 GFLOP/s
// that a loop of nothing but independent 512-bit multiply-adds reaches there.
//
// L is one 512-bit vector of models (16 in float32), or a half or a quarter of
// one when K is that small. K is padded to a multiple of L with zero columns of
// W (their results are not returned). Rows are cut into chunks with their own
// partial sums, added in chunk order at the end, so a result does not depend
// on the threads.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

#include "thread_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kTile = 8;  // rows of X (Z tile) or features (G tile) held in registers
constexpr int64_t kBlockBytes = 256 << 10;  // a block's rows of X and of Z, re-read from L2
constexpr int64_t kFlushRows = 1024;  // rows summed in T before adding into double
constexpr int64_t kMaxParts = 16;  // chunks of rows, taken by the threads in turn
constexpr int64_t kMinChunkRows = 64;  // rows in a chunk, at least
constexpr int64_t kAheadBytes = 64 << 10;  // bytes of X between a prefetch and its use

// Z[r, c0:c0+L] = x[r]·W[:, c0:c0+L] + b[c0:c0+L] for R rows (R <= kTile): R·L
// accumulators, which start from b.
template <typename T, int L, int R>
inline void z_tile(const T* x, int64_t n, const T* W, const T* b, int64_t Kp, int64_t c0, T* Z) {
  T acc[R][L];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < L; ++c) acc[r][c] = b[c0 + c];
  }
  for (int64_t j = 0; j < n; ++j) {
    const T* w = W + j * Kp + c0;
    for (int r = 0; r < R; ++r) {
      const T xr = x[r * n + j];
#pragma omp simd
      for (int c = 0; c < L; ++c) acc[r][c] += xr * w[c];
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < L; ++c) Z[r * Kp + c0 + c] = acc[r][c];
  }
}

// G[j0:j0+R, c0:c0+L] += Σ_i x[i, j0:j0+R]ᵀ·dZ[i, c0:c0+L] over the `rows` rows of a block.
template <typename T, int L, int R>
inline void g_tile(const T* x, int64_t n, int64_t rows, const T* dZ, int64_t Kp, int64_t j0,
                   int64_t c0, T* G) {
  T acc[R][L];
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < L; ++c) acc[r][c] = G[(j0 + r) * Kp + c0 + c];
  }
  for (int64_t i = 0; i < rows; ++i) {
    const T* d = dZ + i * Kp + c0;
    const T* xi = x + i * n + j0;
    for (int r = 0; r < R; ++r) {
      const T xr = xi[r];
#pragma omp simd
      for (int c = 0; c < L; ++c) acc[r][c] += xr * d[c];
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < L; ++c) G[(j0 + r) * Kp + c0 + c] = acc[r][c];
  }
}

// The tiles above for a run-time count of rows/features below kTile (the edges).
template <typename T, int L, int R = kTile - 1>
inline void z_edge(int rows, const T* x, int64_t n, const T* W, const T* b, int64_t Kp, int64_t c0,
                   T* Z) {
  if constexpr (R > 0) {
    if (rows == R) return z_tile<T, L, R>(x, n, W, b, Kp, c0, Z);
    z_edge<T, L, R - 1>(rows, x, n, W, b, Kp, c0, Z);
  }
}

template <typename T, int L, int R = kTile - 1>
inline void g_edge(int feats, const T* x, int64_t n, int64_t rows, const T* dZ, int64_t Kp,
                   int64_t j0, int64_t c0, T* G) {
  if constexpr (R > 0) {
    if (feats == R) return g_tile<T, L, R>(x, n, rows, dZ, Kp, j0, c0, G);
    g_edge<T, L, R - 1>(feats, x, n, rows, dZ, Kp, j0, c0, G);
  }
}

// log1p(e) for 0 <= e <= 1, the only range the loss needs. In float32 it is
// 2·atanh(t) = 2·(t + t³/3 + ... + t¹⁵/15) with t = e/(2 + e) <= 1/3 (the terms
// left out add less than t¹⁶/17 · 9/8 < 2e-9 relative): within 2 ulp of log1p
// over the whole range. With K models there are m·K losses a step; this series
// took the loop of dz_block from 1.02 to 0.68 ns an element against glibc's
// vector log1pf, and a step at 1 000 000 x 10, K = 64 from 64 to 57 ms
// (200 000 x 100: 35 to 32.5 ms). float64 keeps std::log1p.
template <typename T>
inline T log1p_unit(T e) {
  if constexpr (std::is_same_v<T, float>) {
    const float t = e / (2.0f + e), u = t * t;
    float p = 1.0f / 15;
    for (const float c : {1.0f / 13, 1.0f / 11, 1.0f / 9, 1.0f / 7, 1.0f / 5, 1.0f / 3, 1.0f}) {
      p = p * u + c;
    }
    return 2.0f * t * p;
  } else {
    return std::log1p(e);
  }
}

// s[c] += Σ_r A[r, c] in double for a block (k rows of Kp values), L columns at
// a time with four rows in flight: the accumulators stay in registers and the
// additions do not wait on each other. Per-row loops over a run-time Kp (here,
// for the signs and for + b) left K <= 8 (Kp = 4 or 8) to scalar code: at
// 1 000 000 x 10, K = 4 took 10.7-11.6 ms a step with them, 4.5-5.6 ms without.
template <typename T, int L>
inline void add_columns(const T* A, int64_t k, int64_t Kp, double* s) {
  for (int64_t c0 = 0; c0 < Kp; c0 += L) {
    double acc[4][L] = {};
    int64_t r = 0;
    for (; r + 4 <= k; r += 4) {
      for (int q = 0; q < 4; ++q) {
#pragma omp simd
        for (int c = 0; c < L; ++c) acc[q][c] += double(A[(r + q) * Kp + c0 + c]);
      }
    }
    for (; r < k; ++r) {
#pragma omp simd
      for (int c = 0; c < L; ++c) acc[0][c] += double(A[r * Kp + c0 + c]);
    }
    for (int c = 0; c < L; ++c) s[c0 + c] += (acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c]);
  }
}

// dZ and L in place of Z for a block of k rows (Kp models each), the same
// stable forms as lrjax._fused.dz_and_loss: sign = 1 - 2y, s = sign·z,
// e = exp(-|s|), L = softplus(s) = max(s, 0) + log1p(e), dz = sign·σ(s); times
// the example weights V (k, K) where given (with `linear`: Z itself and Z², times V).
// Adds them into the column sums, in
// double: m equal float32 losses summed in float32 drift by up to m·2⁻²⁴.
// One loop over the whole block, so that narrow K still fills the vectors of
// exp and log1p; `sign` and `ls` are scratch for k·Kp values.
template <typename T, int L>
inline void dz_block(T* Z, const T* y, const T* V, int64_t k, int64_t K, int64_t Kp, T* sign,
                     T* ls, double* sum_dz, double* sum_loss, bool linear) {
  if (linear) {  // dZ = Z, L = Z²
#pragma omp simd
    for (int64_t i = 0; i < k * Kp; ++i) ls[i] = Z[i] * Z[i];
  } else {
    for (int64_t r = 0; r < k; ++r) {
      const T s = T(1) - T(2) * y[r];
      for (int64_t c0 = 0; c0 < Kp; c0 += L) {
#pragma omp simd
        for (int c = 0; c < L; ++c) sign[r * Kp + c0 + c] = s;
      }
    }
#pragma omp simd
    for (int64_t i = 0; i < k * Kp; ++i) {
      const T s = sign[i] * Z[i];
      const T e = std::exp(-std::fabs(s));
      const T sigma = (s >= T(0) ? T(1) : e) / (T(1) + e);
      Z[i] = sign[i] * sigma;
      ls[i] = std::fmax(s, T(0)) + log1p_unit(e);
    }
  }
  for (int64_t r = 0; V != nullptr && r < k; ++r) {
#pragma omp simd
    for (int64_t c = 0; c < K; ++c) {
      Z[r * Kp + c] *= V[r * K + c];
      ls[r * Kp + c] *= V[r * K + c];
    }
  }
  add_columns<T, L>(Z, k, Kp, sum_dz);
  add_columns<T, L>(ls, k, Kp, sum_loss);
}

// Sums over rows [lo, hi) into G (n·Kp doubles), gb and loss (Kp doubles each),
// all zeroed; the tiles are L models wide and Kp is a multiple of L.
template <typename T, int L>
void rows_sums(const T* X, const T* y, const T* W, const T* b, const T* V, int64_t n, int64_t K,
               int64_t Kp, int64_t lo, int64_t hi, bool linear, double* G, double* gb,
               double* loss) {
  const int64_t row_bytes = std::max<int64_t>(1, n * int64_t(sizeof(T)));
  // A block's rows of X and Z both stay in cache for the second product.
  const int64_t per_row = (n + Kp) * int64_t(sizeof(T));
  const int64_t block = std::clamp<int64_t>(kBlockBytes / per_row / kTile * kTile, kTile,
                                            (hi - lo + kTile - 1) / kTile * kTile);
  std::vector<T> acc(n * Kp, T(0));
  const std::unique_ptr<T[]> scratch(new T[3 * block * Kp]);  // Z, sign and ls, uninitialised
  T *Zb = scratch.get(), *sign = Zb + block * Kp, *ls = sign + block * Kp;
  int64_t pending = 0;
  auto flush = [&]() {
    for (int64_t i = 0; i < n * Kp; ++i) G[i] += acc[i];
    std::fill(acc.begin(), acc.end(), T(0));
    pending = 0;
  };
  const char* end = reinterpret_cast<const char*>(X + hi * n);
  for (int64_t i0 = lo; i0 < hi; i0 += block) {
    const int64_t k = std::min(block, hi - i0);
    const T* x = X + i0 * n;
    // Z = X·W for the block (rows from memory, W from cache), then + b.
    int64_t r = 0;
    for (; r + kTile <= k; r += kTile) {
      // Ask for the rows kAheadBytes on, so they come from memory while these are used.
      const char* ahead = reinterpret_cast<const char*>(x + r * n) + kAheadBytes;
      for (int64_t c = 0; c < kTile * row_bytes && ahead + c < end; c += 64) {
        __builtin_prefetch(ahead + c, 0, 1);
      }
      for (int64_t c = 0; c < Kp; c += L) {
        z_tile<T, L, kTile>(x + r * n, n, W, b, Kp, c, Zb + r * Kp);
      }
    }
    for (int64_t c = 0; r < k && c < Kp; c += L) {
      z_edge<T, L>(int(k - r), x + r * n, n, W, b, Kp, c, Zb + r * Kp);
    }
    dz_block<T, L>(Zb, y + i0, V == nullptr ? nullptr : V + i0 * K, k, K, Kp, sign, ls, gb, loss,
                   linear);
    // acc += Xᵀ·dZ for the block (rows of X again, now from cache).
    int64_t j = 0;
    for (; j + kTile <= n; j += kTile) {
      for (int64_t c = 0; c < Kp; c += L) g_tile<T, L, kTile>(x, n, k, Zb, Kp, j, c, acc.data());
    }
    for (int64_t c = 0; j < n && c < Kp; c += L) {
      g_edge<T, L>(int(n - j), x, n, k, Zb, Kp, j, c, acc.data());
    }
    pending += k;
    if (pending >= kFlushRows) flush();
  }
  flush();
}

template <ffi::DataType DT>
ffi::Error ManySums(ffi::Buffer<DT> x, ffi::Buffer<DT> y, ffi::Buffer<DT> w, ffi::Buffer<DT> b,
                    ffi::Buffer<DT> v, int64_t threads, int64_t linear, ffi::ResultBuffer<DT> g,
                    ffi::ResultBuffer<DT> gb, ffi::ResultBuffer<DT> loss) {
  using T = ffi::NativeType<DT>;
  const auto dims = x.dimensions();
  const auto wdims = w.dimensions();
  if (dims.size() != 2 || wdims.size() != 2 || wdims[0] != dims[1]) {
    return ffi::Error::InvalidArgument("lrjax many sums: expected X (m, n) and W (n, K)");
  }
  const int64_t m = dims[0], n = dims[1], K = wdims[1];
  const bool weighted = v.element_count() != 0;
  if (y.element_count() != static_cast<size_t>(m) || b.element_count() != static_cast<size_t>(K) ||
      (weighted && v.element_count() != static_cast<size_t>(m * K))) {
    return ffi::Error::InvalidArgument(
        "lrjax many sums: expected y (m,), b (K,) and weights (m, K) or empty");
  }
  // Tiles one 512-bit vector of models wide; a quarter or half of that when K
  // is that small, so that K = 1 does not pay for 16 models (float32).
  constexpr int64_t kLanes = 64 / int64_t(sizeof(T));
  const int64_t lanes = K <= kLanes / 4 ? kLanes / 4 : K <= kLanes / 2 ? kLanes / 2 : kLanes;
  const int64_t Kp = (K + lanes - 1) / lanes * lanes;
  const auto sums = lanes == kLanes       ? rows_sums<T, kLanes>
                    : lanes == kLanes / 2 ? rows_sums<T, kLanes / 2>
                                          : rows_sums<T, kLanes / 4>;
  std::vector<T> W(n * Kp, T(0)), B(Kp, T(0));
  for (int64_t j = 0; j < n; ++j) std::copy_n(w.typed_data() + j * K, K, &W[j * Kp]);
  std::copy_n(b.typed_data(), K, B.begin());

  // kMaxParts chunks (fewer when m is small), whatever the threads: a step is
  // bound by arithmetic, so small X gets split over the cores too, and many
  // chunks would cost more than their rows, since each has n·K partial sums to
  // zero and add (100 000 x 1000, K = 64: 96 chunks of 4 MiB took 186 ms a
  // step, 16 chunks 142 ms).
  const int64_t chunk_rows = std::max((m + kMaxParts - 1) / kMaxParts, kMinChunkRows);
  const int64_t chunk = (chunk_rows + kTile - 1) / kTile * kTile;
  const int64_t parts = std::max<int64_t>(1, (m + chunk - 1) / chunk);
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(threads, parts));
  std::vector<double> part_g(parts * n * Kp, 0.0), part_s(parts * 2 * Kp, 0.0);
  const T *X = x.typed_data(), *Y = y.typed_data();
  const T* V = weighted ? v.typed_data() : nullptr;
  std::atomic<int64_t> next{0};
  const std::function<void()> work = [&]() {
    for (int64_t p = next++; p < parts; p = next++) {
      const int64_t lo = p * chunk, hi = std::min(m, lo + chunk);
      double* s = &part_s[p * 2 * Kp];
      if (lo < hi) sums(X, Y, W.data(), B.data(), V, n, K, Kp, lo, hi, linear != 0,
                        &part_g[p * n * Kp], s, s + Kp);
    }
  };
  lrjax::Pool::Run(workers, work);

  T *out_g = g->typed_data(), *out_gb = gb->typed_data(), *out_loss = loss->typed_data();
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t c = 0; c < K; ++c) {
      double s = 0;
      for (int64_t p = 0; p < parts; ++p) s += part_g[(p * n + j) * Kp + c];
      out_g[j * K + c] = static_cast<T>(s);
    }
  }
  for (int64_t c = 0; c < K; ++c) {
    double sg = 0, sl = 0;
    for (int64_t p = 0; p < parts; ++p) {
      sg += part_s[p * 2 * Kp + c];
      sl += part_s[p * 2 * Kp + Kp + c];
    }
    out_gb[c] = static_cast<T>(sg);
    out_loss[c] = static_cast<T>(sl);
  }
  return ffi::Error::Success();
}

}  // namespace

#define LRJAX_BIND_MANY(DT)               \
  ffi::Ffi::Bind()                        \
      .Arg<ffi::Buffer<DT>>()             \
      .Arg<ffi::Buffer<DT>>()             \
      .Arg<ffi::Buffer<DT>>()             \
      .Arg<ffi::Buffer<DT>>()             \
      .Arg<ffi::Buffer<DT>>()             \
      .Attr<int64_t>("threads")           \
      .Attr<int64_t>("linear")            \
      .Ret<ffi::Buffer<DT>>()             \
      .Ret<ffi::Buffer<DT>>()             \
      .Ret<ffi::Buffer<DT>>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(LrjaxManySumsF32, ManySums<ffi::F32>, LRJAX_BIND_MANY(ffi::F32));
XLA_FFI_DEFINE_HANDLER_SYMBOL(LrjaxManySumsF64, ManySums<ffi::F64>, LRJAX_BIND_MANY(ffi::F64));
