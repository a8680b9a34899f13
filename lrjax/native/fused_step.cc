// One full-batch gradient-descent step's sums for logistic regression, in one
// pass over X, as an XLA FFI custom call (registered by lrjax/_native.py).
//
// For X (m, n) row-major, labels y (m,), parameters w (n,), b ():
//   z = X·w + b,  dz = σ(z) - y,  L = y·softplus(-z) + (1 - y)·softplus(z)
// and the outputs are the sums gw = Xᵀ·dz (n,), gb = Σ dz (), loss = Σ L ().
// With the attribute linear = 1, dz = z and L = z² instead (y is not read): then
// (gw, gb) = X̃ᵀX̃·(w, b) with X̃ = [X, 1], one power-iteration product for the
// learning rate "auto" (lrjax/_solver.py), and loss = |X̃·(w, b)|².
// Each block of rows is used for both products while it is still in cache, so X
// streams from memory once per step (XLA:CPU reads it twice, and its loops run on one
// core). The rows are shared out in chunks over `threads` threads, kept alive
// between calls (thread_pool.h); the partial sums are added in a fixed order, so
// a result depends only on the inputs.
//
// dz and L use the same stable forms as lrjax._fused.dz_and_loss: with
// sign = 1 - 2y and s = sign·z, L = softplus(s) = max(s, 0) + log1p(e) and
// dz = sign·σ(s), σ(s) = 1/(1 + e) for s >= 0 else e/(1 + e), e = exp(-|s|).
// They are computed for a block of rows at a time, so the compiler can use
// glibc's vector exp/log1p (compiled with -ffast-math, linked without it so
// that the process's floating-point flags are left alone).

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include "thread_pool.h"
#include "xla/ffi/api/ffi.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define LRJAX_DOT16 1
#else
#define LRJAX_DOT16 0
#endif

namespace ffi = xla::ffi;

namespace {

constexpr int64_t kBlock = 128;  // at most this many rows form a block (dz, loss together)
constexpr int64_t kBlockBytes = 128 << 10;  // a block's rows of X, re-read from cache
constexpr int64_t kFlush = 1024;  // rows summed in T before adding into double
constexpr int64_t kAheadBytes = 64 << 10;  // bytes of X between a prefetch and its use
constexpr int64_t kInterleaveRowBytes = 1024;  // rows shorter than this interleave the passes
constexpr int64_t kChunkBytes = 1 << 20;  // rows of X a thread takes at a time

template <typename T>
void dz_and_loss(const T* z, const T* y, T* dz, T* loss, int64_t k, bool linear) {
  if (linear) {
#pragma omp simd
    for (int64_t r = 0; r < k; ++r) {
      dz[r] = z[r];
      loss[r] = z[r] * z[r];
    }
    return;
  }
#pragma omp simd
  for (int64_t r = 0; r < k; ++r) {
    const T sign = T(1) - T(2) * y[r];
    const T s = sign * z[r];
    const T e = std::exp(-std::fabs(s));
    const T sigma = (s >= T(0) ? T(1) : e) / (T(1) + e);
    dz[r] = sign * sigma;
    loss[r] = std::fmax(s, T(0)) + std::log1p(e);
  }
}

// z for four rows from the first `len` columns: four dot products sharing the loads of w.
template <typename T>
inline void dot4(const T* x0, int64_t n, const T* w, int64_t len, T* out) {
  const T *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
  T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
  for (int64_t j = 0; j < len; ++j) {
    s0 += x0[j] * w[j];
    s1 += x1[j] * w[j];
    s2 += x2[j] * w[j];
    s3 += x3[j] * w[j];
  }
  out[0] = s0;
  out[1] = s1;
  out[2] = s2;
  out[3] = s3;
}

#if LRJAX_DOT16
// z for sixteen float32 rows of at most 16 features: each row is one vector
// (its padded reach times w, whose padding is zero), and the sixteen
// horizontal sums come from one transpose-and-add tree instead of a reduction
// per row, which is most of a narrow row's cost.
inline void dot16(const float* x0, int64_t n, const float* w, float* out) {
  const __m512 wv = _mm512_loadu_ps(w);
  __m512 p[16];
  for (int i = 0; i < 16; ++i) p[i] = _mm512_mul_ps(_mm512_loadu_ps(x0 + i * n), wv);
  // Pairs of rows: each 128-bit lane holds two partial sums of each row.
  __m512 s[8];
  for (int i = 0; i < 8; ++i) {
    s[i] = _mm512_add_ps(_mm512_unpacklo_ps(p[2 * i], p[2 * i + 1]),
                         _mm512_unpackhi_ps(p[2 * i], p[2 * i + 1]));
  }
  // Quads: each 128-bit lane holds one partial sum of each of four rows.
  __m512 q[4];
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  }
  // Add the 128-bit lanes: two rounds of pairing lanes across vectors.
  __m512 h[2];
  for (int i = 0; i < 2; ++i) {
    h[i] = _mm512_add_ps(_mm512_shuffle_f32x4(q[2 * i], q[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(q[2 * i], q[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  }
  _mm512_storeu_ps(out, _mm512_add_ps(_mm512_shuffle_f32x4(h[0], h[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                      _mm512_shuffle_f32x4(h[0], h[1], _MM_SHUFFLE(3, 1, 3, 1))));
}
#endif

// a += Xᵀ·d for four rows, first `len` columns: one update of the accumulator for four rows.
template <typename T>
inline void axpy4(const T* x0, int64_t n, const T* d, int64_t len, T* a) {
  const T *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
  const T d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) a[j] += d0 * x0[j] + d1 * x1[j] + d2 * x2[j] + d3 * x3[j];
}

// Sums over rows [lo, hi) of X (m, n) into gw (n doubles, zeroed), gb and loss.
//
// The loops over a row run to `padded`, n rounded up to a whole number of
// vector lanes, with w padded by zeros: the extra lanes read the start of the
// next row, which the zeros of w (and the unused end of the accumulator) make
// harmless for finite X, and the loops need no scalar tail (a non-finite X
// gives a non-finite sum either way). Rows whose padded reach would
// pass the end of X use the exact length n instead.
template <typename T>
void rows_sums(const T* X, const T* y, const T* w_padded, T b, int64_t m, int64_t n,
               int64_t padded, int64_t lo, int64_t hi, bool linear, double* gw, double* gb,
               double* loss) {
  std::vector<T> acc(padded, T(0));
  T z[kBlock], ls[kBlock];
  double sum_dz = 0, sum_loss = 0;
  int64_t pending = 0;
  T* a = acc.data();
  const T* w = w_padded;
  const int64_t row_bytes = std::max<int64_t>(1, n * int64_t(sizeof(T)));
  const int64_t block = std::clamp<int64_t>(kBlockBytes / row_bytes / 4 * 4, 4, kBlock);
  const int64_t ahead_rows = std::max<int64_t>(4, kAheadBytes / row_bytes);
  const char* end = reinterpret_cast<const char*>(X + hi * n);
  // The last row that may read `padded` columns: its padded reach ends inside X.
  const int64_t last_padded_row = m - 1 - (padded - 1) / std::max<int64_t>(1, n);
  // Each block is used twice: its dot products (rows from memory), then, once
  // its dz is known, its Xᵀ·dz (rows from cache). Done one after the other the
  // second pass leaves the memory idle; so block i's dot products are
  // interleaved with block i-1's Xᵀ·dz, and every group of four rows both reads
  // new rows and re-reads cached ones. Measured on one core of the 2-core EPYC
  // of docs/performance.md at 200 000 x 100: 24 -> 20 ns a row (the memory
  // alone, one pass: 18 ns); with two threads 0.73 -> 0.83-0.88 of the roofline.
  // Wide rows do better in the plain order (each block's Xᵀ·dz right after its
  // dot products): the long dot products of a 4-row group keep the memory busy
  // on their own. Two threads, alternating builds, 4-5 runs each: 1000 features
  // 4.4-4.8 -> 4.2-4.5 ms at 30 000 x 1000, 500 features 4.6-5.0 -> 4.3-4.7 ms
  // at 60 000 x 500, 300 features about 3 % faster, 200 features even.
  const bool interleave = row_bytes < kInterleaveRowBytes;
  T dz_prev[kBlock];
  int64_t prev_i0 = lo, prev_k = 0;
  auto axpy_rows = [&](int64_t i0p, int64_t from, int64_t to) {
    int64_t r = from;
    for (; r + 4 <= to; r += 4) {
      axpy4(X + (i0p + r) * n, n, dz_prev + r, i0p + r + 3 <= last_padded_row ? padded : n, a);
    }
    for (; r < to; ++r) {
      const T* x = X + (i0p + r) * n;
      const T d = dz_prev[r];
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) a[j] += d * x[j];
    }
    pending += to - from;
  };
  auto flush = [&]() {
    for (int64_t j = 0; j < n; ++j) gw[j] += a[j];
    std::fill(acc.begin(), acc.end(), T(0));
    pending = 0;
  };
  for (int64_t i0 = lo; i0 < hi; i0 += block) {
    const int64_t k = std::min(block, hi - i0);
    int64_t r = 0, dotted = 0;  // rows [0, dotted) of the block already have z
    for (; r + 4 <= k; r += 4) {
      const T* x0 = X + (i0 + r) * n;
      // Ask for the rows kAheadBytes on, into L2, so that they are on their way
      // from memory while these are used (10-15% faster per core than the
      // hardware prefetcher alone; into L1 it was slower).
      const char* ahead = reinterpret_cast<const char*>(x0 + ahead_rows * n);
      for (int64_t c = 0; c < 4 * row_bytes && ahead + c < end; c += 64) {
        __builtin_prefetch(ahead + c, 0, 1);
      }
#if LRJAX_DOT16
      if constexpr (std::is_same_v<T, float>) {
        // padded == 16: a row fits one vector
        if (padded == 16 && r % 16 == 0 && r + 16 <= k && i0 + r + 15 <= last_padded_row) {
          dot16(x0, n, w, z + r);
          dotted = r + 16;
        }
      }
#endif
      if (r >= dotted) dot4(x0, n, w, i0 + r + 3 <= last_padded_row ? padded : n, z + r);
      if (interleave && r + 4 <= prev_k) {
        axpy4(X + (prev_i0 + r) * n, n, dz_prev + r,
              prev_i0 + r + 3 <= last_padded_row ? padded : n, a);
      }
    }
    const int64_t done_prev = interleave ? std::min(r, prev_k / 4 * 4) : 0;
    pending += done_prev;
    for (; r < k; ++r) {
      const T* x = X + (i0 + r) * n;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < n; ++j) s += x[j] * w[j];
      z[r] = s;
    }
    if (done_prev < prev_k) axpy_rows(prev_i0, done_prev, prev_k);
    if (pending >= kFlush) flush();
    for (r = 0; r < k; ++r) z[r] += b;
    dz_and_loss(z, y + i0, dz_prev, ls, k, linear);
    for (r = 0; r < k; ++r) {
      sum_dz += dz_prev[r];
      sum_loss += ls[r];
    }
    prev_i0 = i0;
    prev_k = k;
    if (!interleave) {
      axpy_rows(prev_i0, 0, prev_k);
      prev_k = 0;
    }
  }
  axpy_rows(prev_i0, 0, prev_k);
  flush();
  *gb = sum_dz;
  *loss = sum_loss;
}

template <ffi::DataType DT>
ffi::Error FusedSums(ffi::Buffer<DT> x, ffi::Buffer<DT> y, ffi::Buffer<DT> w, ffi::Buffer<DT> b,
                     int64_t threads, int64_t linear, ffi::ResultBuffer<DT> gw,
                     ffi::ResultBuffer<DT> gb, ffi::ResultBuffer<DT> loss) {
  using T = ffi::NativeType<DT>;
  const auto dims = x.dimensions();
  if (dims.size() != 2) {
    return ffi::Error::InvalidArgument("lrjax fused step: X must be (m, n)");
  }
  const int64_t m = dims[0], n = dims[1];
  if (y.element_count() != static_cast<size_t>(m) || w.element_count() != static_cast<size_t>(n) ||
      b.element_count() != 1) {
    return ffi::Error::InvalidArgument("lrjax fused step: expected y (m,), w (n,), b ()");
  }
  // The rows are cut into chunks of about kChunkBytes (at least one block);
  // the threads take chunks in turn from a shared counter, so a thread that
  // the OS delays does not hold the others up. Each chunk has its own partial
  // sums, added in chunk order: the result does not depend on the threads.
  const int64_t row_bytes = std::max<int64_t>(1, n * int64_t(sizeof(T)));
  const int64_t chunk = std::max<int64_t>(1, kChunkBytes / row_bytes / kBlock) * kBlock;
  const int64_t parts = std::max<int64_t>(1, (m + chunk - 1) / chunk);
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(threads, parts));

  std::vector<double> part_gw(parts * n, 0.0), part_gb(parts, 0.0), part_loss(parts, 0.0);
  const T* X = x.typed_data();
  const T* Y = y.typed_data();
  const T B = b.typed_data()[0];
  constexpr int64_t kLanes = 64 / int64_t(sizeof(T));  // one 512-bit vector
  const int64_t padded = (n + kLanes - 1) / kLanes * kLanes;
  std::vector<T> w_padded(padded, T(0));
  std::copy(w.typed_data(), w.typed_data() + n, w_padded.begin());
  const T* W = w_padded.data();
  std::atomic<int64_t> next{0};
  const std::function<void()> work = [&]() {
    for (int64_t p = next++; p < parts; p = next++) {
      const int64_t lo = p * chunk, hi = std::min(m, lo + chunk);
      if (lo < hi) rows_sums<T>(X, Y, W, B, m, n, padded, lo, hi, linear != 0, &part_gw[p * n],
                                 &part_gb[p], &part_loss[p]);
    }
  };
  lrjax::Pool::Run(workers, work);

  T* out_gw = gw->typed_data();
  double sum_gb = 0, sum_loss = 0;
  for (int64_t j = 0; j < n; ++j) {
    double s = 0;
    for (int64_t p = 0; p < parts; ++p) s += part_gw[p * n + j];
    out_gw[j] = static_cast<T>(s);
  }
  for (int64_t p = 0; p < parts; ++p) {
    sum_gb += part_gb[p];
    sum_loss += part_loss[p];
  }
  gb->typed_data()[0] = static_cast<T>(sum_gb);
  loss->typed_data()[0] = static_cast<T>(sum_loss);
  return ffi::Error::Success();
}

}  // namespace

#define LRJAX_BIND(DT)                    \
  ffi::Ffi::Bind()                        \
      .Arg<ffi::Buffer<DT>>()             \
      .Arg<ffi::Buffer<DT>>()             \
      .Arg<ffi::Buffer<DT>>()             \
      .Arg<ffi::Buffer<DT>>()             \
      .Attr<int64_t>("threads")           \
      .Attr<int64_t>("linear")            \
      .Ret<ffi::Buffer<DT>>()             \
      .Ret<ffi::Buffer<DT>>()             \
      .Ret<ffi::Buffer<DT>>()

XLA_FFI_DEFINE_HANDLER_SYMBOL(LrjaxFusedSumsF32, FusedSums<ffi::F32>, LRJAX_BIND(ffi::F32));
XLA_FFI_DEFINE_HANDLER_SYMBOL(LrjaxFusedSumsF64, FusedSums<ffi::F64>, LRJAX_BIND(ffi::F64));
