// A fixed pool of worker threads for CPU kernels. parallel_for splits
// [0, n) into contiguous chunks; the caller's thread takes one chunk.
#pragma once
#include <cstddef>
#include <functional>

namespace vl {
int num_threads();
void set_num_threads(int n);
// fn(begin, end) is called on disjoint ranges covering [0, n). grain is the
// smallest range worth a thread of its own.
void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);
}  // namespace vl
