// Worker threads that live from one call of the kernel to the next.
//
// Training calls the kernel once per step, every few milliseconds for large X
// and every few tens of microseconds for X of a few MiB. Starting and joining a
// std::thread costs 25-60 us on a small VM, and a core that went idle between
// calls wakes slowly, so a new thread per call costs a large share of a step
// for mid-sized X. The workers here stay: after a call they spin for kSpin
// (the next step of a training loop comes well within it), then sleep on a
// condition variable until the next call.
//
// One call uses the pool at a time. A call that finds it busy (two JAX
// computations calling the kernel at once) starts its own threads, as before.

#ifndef LRJAX_NATIVE_THREAD_POOL_H_
#define LRJAX_NATIVE_THREAD_POOL_H_

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace lrjax {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class Pool {
 public:
  // Runs `fn` on the calling thread and on `count - 1` other threads at once,
  // and returns when every one of them has returned.
  static void Run(int64_t count, const std::function<void()>& fn) {
    if (count <= 1) {
      fn();
      return;
    }
    Pool& pool = Instance();
    std::unique_lock<std::mutex> busy(pool.run_mu_, std::try_to_lock);
    if (busy.owns_lock() && count - 1 <= kMaxWorkers) {
      pool.RunHere(count - 1, fn);
    } else {
      RunFresh(count, fn);
    }
  }

 private:
  static constexpr auto kSpin = std::chrono::microseconds(300);
  static constexpr int kCountBits = 16;  // state_ = epoch << kCountBits | workers wanted
  static constexpr int64_t kMaxWorkers = (int64_t{1} << kCountBits) - 1;

  // The process's pool. It is never destroyed: its threads may still be
  // asleep in it while the process exits. A forked child gets a new one
  // (the parent's workers do not exist in it).
  static Pool& Instance() {
    static std::mutex mu;
    static Pool* pool = nullptr;
    static pid_t owner = 0;
    std::lock_guard<std::mutex> lock(mu);
    if (pool == nullptr || owner != getpid()) {
      pool = new Pool();
      owner = getpid();
    }
    return *pool;
  }

  static void RunFresh(int64_t count, const std::function<void()>& fn) {
    std::vector<std::thread> threads;
    threads.reserve(count - 1);
    for (int64_t t = 1; t < count; ++t) threads.emplace_back(fn);
    fn();
    for (auto& t : threads) t.join();
  }

  // Workers 1..helpers run fn with the caller. A worker reads the epoch and
  // the count in one atomic load, and the caller waits for every worker it
  // asked for, so a worker never runs the fn of a call that has returned.
  void RunHere(int64_t helpers, const std::function<void()>& fn) {
    while (workers_ < helpers) {
      std::thread(&Pool::Loop, this, ++workers_, Epoch(state_.load())).detach();
    }
    fn_ = &fn;
    remaining_.store(helpers, std::memory_order_relaxed);
    {
      // Under mu_, so that a worker between its last check and its wait cannot miss the call.
      std::lock_guard<std::mutex> lock(mu_);
      const uint64_t next = (Epoch(state_.load()) + 1) << kCountBits;
      state_.store(next | static_cast<uint64_t>(helpers), std::memory_order_release);
    }
    cv_.notify_all();
    fn();
    for (int i = 0; remaining_.load(std::memory_order_acquire) != 0; ++i) {
      if (i < 4096) {
        cpu_relax();
      } else {
        std::this_thread::yield();  // a worker is waiting for a core: give it ours
      }
    }
    fn_ = nullptr;
  }

  void Loop(int64_t index, uint64_t seen) {
    for (;;) {
      const uint64_t state = WaitForCall(seen);
      seen = Epoch(state);
      if (index <= static_cast<int64_t>(state & kMaxWorkers)) {
        (*fn_)();
        remaining_.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  uint64_t WaitForCall(uint64_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int i = 1;; ++i) {
      const uint64_t state = state_.load(std::memory_order_acquire);
      if (Epoch(state) != seen) return state;
      if (i % 256 == 0 && std::chrono::steady_clock::now() > until) break;
      cpu_relax();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return Epoch(state_.load(std::memory_order_acquire)) != seen; });
    return state_.load(std::memory_order_acquire);
  }

  static uint64_t Epoch(uint64_t state) { return state >> kCountBits; }

  std::mutex run_mu_;  // held by the call using the pool
  std::mutex mu_;      // guards sleeping: see RunHere
  std::condition_variable cv_;
  std::atomic<uint64_t> state_{0};
  std::atomic<int64_t> remaining_{0};
  const std::function<void()>* fn_ = nullptr;
  int64_t workers_ = 0;
};

}  // namespace lrjax

#endif  // LRJAX_NATIVE_THREAD_POOL_H_
