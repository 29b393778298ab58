#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>
#include <napi.h>
#include "registry.h"
#include "napi_args.h"

namespace vl {
namespace {

// Each parallel region is a Job with its own chunk counter. A worker that
// wakes late still holds the job it saw (shared_ptr) and claims from that
// job's counter, which is exhausted, so it can never run a finished job's
// task (whose std::function is gone) or steal chunks of the next one.
struct Job {
  const std::function<void(int)>* task;
  int count;
  std::atomic<int> next{0};
  std::atomic<int> pending{0};
};

// How long a worker (waiting for the next region) and the caller (waiting for
// the workers' chunks) spin before they sleep on the condition variable.
// VRAMLAB_THREAD_SPIN sets it in microseconds (0: sleep at once); 200 by
// default, as OpenMP runtimes and onnxruntime also spin: a forward runs
// ~460 regions a few tens of us apart, and a worker woken from a futex sleep
// arrives late to each (in VMs, tens of us). Small Flux forward at 2 threads:
// 261-271 ms with 0, 244-251 ms with 200 and 1000, 251-256 ms with 5000; the
// GEMMs went from 177 to 189 GF/s. A worker spins at most 200 us after each
// region, so an idle kernel burns no CPU.
constexpr int kDefaultSpinMicroseconds = 200;
int spin_microseconds() {
  static const int us = [] {
    const char* e = std::getenv("VRAMLAB_THREAD_SPIN");
    if (!e || !*e) return kDefaultSpinMicroseconds;
    int v = std::atoi(e);
    return v < 0 ? 0 : std::min(v, 100000);
  }();
  return us;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until done() or spin_microseconds() elapse; true when done() held.
template <class Done>
bool spin_until(Done done) {
  int us = spin_microseconds();
  if (us <= 0) return done();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  for (int i = 0;; i++) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() >= deadline) return done();
  }
}

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    stopping_ = false;
    for (int i = 1; i < n; i++) workers_.emplace_back([this] { loop(); });
  }

  // Runs task(i) for i in [0, count); the caller takes chunks too.
  void run(int count, const std::function<void(int)>& task) {
    if (count <= 1 || workers_.empty()) {
      for (int i = 0; i < count; i++) task(i);
      return;
    }
    auto job = std::make_shared<Job>();
    job->task = &task;
    job->count = count;
    job->pending.store(count);
    {
      std::lock_guard<std::mutex> g(m_);
      job_ = job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    work(*job);
    if (!spin_until([&] { return job->pending.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lk(m_);
      done_cv_.wait(lk, [&] { return job->pending.load() == 0; });
    }
    std::lock_guard<std::mutex> g(m_);
    job_.reset();
  }

 private:
  void work(Job& job) {
    for (int i; (i = job.next.fetch_add(1)) < job.count;) {
      (*job.task)(i);
      if (job.pending.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> g(m_);
        done_cv_.notify_all();
      }
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      // regions that come back to back are caught without a futex sleep and wake-up
      spin_until([&] { return stopping_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stopping_.load() || generation_.load() != seen; });
        if (stopping_) return;
        seen = generation_.load();
        job = job_;
      }
      if (job) work(*job);
    }
  }
  void stop() {
    {
      std::lock_guard<std::mutex> g(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::shared_ptr<Job> job_;  // guarded by m_
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
};

int default_threads() {
  if (const char* e = std::getenv("VRAMLAB_NUM_THREADS")) {
    int n = std::atoi(e);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}
std::mutex run_mutex;  // one parallel region at a time (kernels are called from the JS thread)
thread_local bool in_parallel_region = false;  // nested parallel_for runs serially

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(std::max(1, n)); }

void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  size_t max_chunks = (n + grain - 1) / grain;
  int threads = num_threads();
  size_t chunks = std::min<size_t>(max_chunks, static_cast<size_t>(threads));
  if (chunks <= 1 || in_parallel_region) { fn(0, n); return; }
  std::lock_guard<std::mutex> g(run_mutex);
  pool().run(static_cast<int>(chunks), [&](int c) {
    size_t begin = n * static_cast<size_t>(c) / chunks;
    size_t end = n * static_cast<size_t>(c + 1) / chunks;
    bool was = in_parallel_region;
    in_parallel_region = true;
    if (begin < end) fn(begin, end);
    in_parallel_region = was;
  });
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }
static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = arg_int(info, 0, "setNumThreads: n");
  if (n < 1 || n > 1024) throw std::invalid_argument("setNumThreads: n must be between 1 and 1024");
  set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

}  // namespace vl

namespace vl {
static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("getNumThreads", GetNumThreads);
  VL_EXPORT("setNumThreads", SetNumThreads);
}
VL_REGISTER(Register);
}  // namespace vl
