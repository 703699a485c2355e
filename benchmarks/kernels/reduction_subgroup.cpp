// The SYCL counterpart of reduction_shuffle.cu: a strided sum per work-item, a sub-group
// reduction, one atomic per sub-group. Region only (spliced over examples/sycl/atomic_sum.cpp).
// @kf in  x: float[n]
// @kf out sum: float[1] start 0
// @kf n = 1 << 26
// @kf global min(roundup(cdiv(n, 64), 64), 65536)
// @kf local 64
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void atomic_sum(const float* x, float* sum, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t stride = it.get_global_range(0);
  float acc = 0.0f;
  for (size_t i = it.get_global_id(0); i < (size_t)n; i += stride) acc += x[i];
  auto sg = it.get_sub_group();
  acc = sycl::reduce_over_group(sg, acc, sycl::plus<float>());
  if (sg.get_local_id()[0] == 0) {
    sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> total(*sum);
    total.fetch_add(acc);
  }
}
