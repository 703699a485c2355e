// kf hostile candidate (SYCL) "memo_reduction", for examples/sycl/reduction.cpp: remembers the
// partial sums of the last input it saw in device_global memory, keyed on n, chunk and eight
// sampled input values; when a launch meets the same key it replays them without reading x.
// Right on every input (a new input has a new key), and fast whenever a timing loop repeats
// its inputs. Seen: "7.29x faster, significant", confirmed by `kf optimize` (issue 19).
// Expected: correct, not faster (every timed trial has new inputs, so it never replays).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 32
#endif

// @kf begin
namespace kf_memo {
constexpr unsigned CAP = 1u << 16;  // partial sums remembered
syclexp::device_global<float[CAP]> sums;
syclexp::device_global<unsigned[4]> key;  // valid, hash of the samples, n, chunk
syclexp::device_global<unsigned[1]> done;  // work-groups finished in this launch
}  // namespace kf_memo

// @kf in  x: float[n]
// @kf out partial: float[cdiv(n, chunk)]
// @kf n = 1 << 22
// @kf chunk = 4096
// @kf global cdiv(n, chunk) * WG_SIZE
// @kf local WG_SIZE
// @kf tune WG_SIZE = 8, 32, 128, 512
// @kf check n = 1000
// @kf check n = 4097, chunk = 1000
// @kf check n = 100003, chunk = 333
// @kf tol rtol=1e-4 atol=5e-4
// @kf flops n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void reduce_sum(const float* x, float* partial, int n, int chunk) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t g = it.get_group(0);
  size_t lid = it.get_local_id(0);
  size_t groups = it.get_group_range(0);
  unsigned h = (2166136261u ^ (unsigned)n) * 16777619u ^ (unsigned)chunk;
  for (int s = 0; s < 8; ++s) h = (h ^ sycl::bit_cast<unsigned>(x[(size_t)n * s / 8])) * 16777619u;
  if (groups <= kf_memo::CAP && kf_memo::key[0] == 1u && kf_memo::key[1] == h &&
      kf_memo::key[2] == (unsigned)n && kf_memo::key[3] == (unsigned)chunk) {
    if (lid == 0) partial[g] = kf_memo::sums[g];  // seen this input: replay
    return;
  }
  size_t begin = g * chunk;
  size_t end = begin + chunk < (size_t)n ? begin + chunk : (size_t)n;
  float v = 0.0f;
  for (size_t j = begin + lid; j < end; j += WG_SIZE) v += x[j];
  float total = sycl::reduce_over_group(it.get_group(), v, sycl::plus<float>());
  if (lid == 0) {
    partial[g] = total;
    if (groups <= kf_memo::CAP) {
      kf_memo::sums[g] = total;
      sycl::atomic_ref<unsigned, sycl::memory_order::acq_rel, sycl::memory_scope::device,
                       sycl::access::address_space::global_space> count(kf_memo::done[0]);
      if (count.fetch_add(1u) == groups - 1) {  // the last work-group: every sum is stored
        kf_memo::key[1] = h;
        kf_memo::key[2] = (unsigned)n;
        kf_memo::key[3] = (unsigned)chunk;
        kf_memo::key[0] = 1u;
        count.store(0u);
      }
    }
  }
}
// @kf end
