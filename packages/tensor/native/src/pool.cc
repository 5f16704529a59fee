#include "pool.h"

#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>
#if defined(__linux__)
#include <sched.h>
#endif

namespace atelier {
namespace {

int default_threads() {
  if (const char* env = std::getenv("ATELIER_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

thread_local bool in_task = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Tasks are claimed from one 64-bit word, (job generation << 32) | next task, so a worker that wakes late
// can never claim a task of a later job with a stale job pointer. The caller claims tasks too and then waits
// only for tasks in flight, not for every worker to wake up: on a busy machine a descheduled worker costs
// nothing (its share is taken by whoever runs).
class Pool {
 public:
  explicit Pool(int n) { start(n); }
  ~Pool() { stop(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    std::lock_guard<std::mutex> owner(run_mu_);
    stop();
    start(n);
  }

  void run(int ntasks, const std::function<void(int, int)>& fn) {
    if (ntasks <= 0) return;
    // Serial: one thread, one task, a nested call, or another JS thread (worker_threads) already running
    // a job on the pool.
    std::unique_lock<std::mutex> owner(run_mu_, std::try_to_lock);
    if (nthreads_ == 1 || ntasks == 1 || in_task || !owner.owns_lock()) {
      bool was = in_task;
      in_task = true;
      for (int t = 0; t < ntasks; ++t) fn(t, 0);
      in_task = was;
      return;
    }
    const uint64_t gen = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    // Close the word under the new generation first (next = all ones: nothing claimable), so a straggler
    // of the previous job cannot claim a task while job_ / ntasks_ change.
    state_.store((gen << 32) | 0xffffffffu, std::memory_order_seq_cst);
    job_ = &fn;
    ntasks_ = ntasks;
    done_.store(0, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_.store(gen << 32, std::memory_order_release);  // publishes job_ and ntasks_
    }
    cv_.notify_all();
    in_task = true;
    drain(gen, 0);
    in_task = false;
    // Tasks claimed by workers may still be running: spin briefly, then sleep until the last one ends
    // (on a busy machine a descheduled worker would otherwise make this thread burn its core waiting).
    for (int spins = 0; spins < 4000 && done_.load(std::memory_order_acquire) != ntasks; ++spins) cpu_relax();
    if (done_.load(std::memory_order_acquire) != ntasks) {
      std::unique_lock<std::mutex> lock(done_mu_);
      waiting_.store(true, std::memory_order_seq_cst);
      done_cv_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == ntasks; });
      waiting_.store(false, std::memory_order_relaxed);
    }
  }

 private:
  // Claims and runs tasks of job `gen` until none are left (or a newer job has replaced it).
  void drain(uint64_t gen, int tid) {
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      if ((s >> 32) != gen) return;
      const uint32_t t = static_cast<uint32_t>(s & 0xffffffffu);
      if (t == 0xffffffffu) {  // the caller is still publishing this job: wait for it to open
        cpu_relax();
        continue;
      }
      if (t >= static_cast<uint32_t>(ntasks_)) return;
      if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) continue;
      (*job_)(static_cast<int>(t), tid);
      if (done_.fetch_add(1, std::memory_order_seq_cst) + 1 == ntasks_ && tid != 0 &&
          waiting_.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(done_mu_);  // the caller is (about to be) asleep: wake it
        done_cv_.notify_one();
      }
    }
  }

  void worker(int tid) {
    in_task = true;
    uint64_t seen = state_.load(std::memory_order_acquire) >> 32;
    for (;;) {
      // Spin briefly for back-to-back kernels, then sleep.
      uint64_t gen = seen;
      for (int spins = 0; spins < 2000 && !quit_.load(std::memory_order_relaxed); ++spins) {
        gen = state_.load(std::memory_order_acquire) >> 32;
        if (gen != seen) break;
        cpu_relax();
      }
      if (gen == seen) {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return (state_.load(std::memory_order_acquire) >> 32) != seen || quit_.load(); });
        gen = state_.load(std::memory_order_acquire) >> 32;
      }
      if (quit_.load()) return;
      seen = gen;
      drain(gen, tid);
    }
  }

  void start(int n) {
    nthreads_ = n < 1 ? 1 : n;
    quit_.store(false);
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this, i] { worker(i); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_.store(true);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int nthreads_ = 1;
  std::mutex run_mu_;  // held by the thread whose job is on the pool
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> state_{0};
  std::atomic<int> done_{0};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::atomic<bool> waiting_{false};
  std::atomic<bool> quit_{false};
  int ntasks_ = 0;
  const std::function<void(int, int)>* job_ = nullptr;
};

Pool& pool() {
  // Leaked on purpose: joining threads from a static destructor at process exit can deadlock.
  static Pool* p = new Pool(default_threads());
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }
void parallel_for(int ntasks, const std::function<void(int, int)>& fn) { pool().run(ntasks, fn); }

}  // namespace atelier
