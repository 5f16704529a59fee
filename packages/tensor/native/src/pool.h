// A small persistent thread pool: `parallel_for(n, fn)` runs fn(task, thread) for task in [0, n) on the
// calling thread plus the pool's workers, and returns when every task is done. One job at a time: a nested
// call from inside a task, or a call from a second JS thread (worker_threads) while a job runs, runs serially
// on its calling thread.
#pragma once
#include <functional>

namespace atelier {

/** Number of threads (workers + caller) the pool uses. */
int num_threads();
/** Changes the thread count (1 = everything on the calling thread). Restarts the workers. */
void set_num_threads(int n);
/** Runs fn(task, tid) for every task in [0, ntasks); tid in [0, num_threads()). */
void parallel_for(int ntasks, const std::function<void(int task, int tid)>& fn);

}  // namespace atelier
