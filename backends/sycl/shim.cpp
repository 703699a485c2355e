// kf SYCL shim: run-time compilation and launching of SYCL free-function kernels
// on a queue owned by dpctl (the DPCTLSyclQueueRef is a sycl::queue*).
//
// Built once per intel-sycl-rt version by backends/sycl/build.py and loaded with ctypes.
// Rules: every entry point catches everything and reports errors as values; nothing
// here aborts or lets an exception cross the C boundary. Strings handed out are
// malloc'd and freed by kf_free_str.

#include <sycl/backend/opencl.hpp>
#include <sycl/sycl.hpp>

#include <dlfcn.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace syclexp = sycl::ext::oneapi::experimental;

namespace {

char *dup(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (p) {
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
  }
  return p;
}

void set_err(char **out, const std::string &s) {
  if (out)
    *out = dup(s);
}

std::string describe(const sycl::exception &e) {
  std::string s = e.what();
  s += " [";
  s += e.code().message();
  s += "]";
  return s;
}

// Runs `body` (returning 0 on success), turning any C++ exception into `code` with the
// message in *out_err, so no exception ever crosses into Python (or aborts the process).
template <class F> int guarded(char **out_err, int code, const char *what, F &&body) {
  try {
    return body();
  } catch (const sycl::exception &e) {
    set_err(out_err, describe(e));
  } catch (const std::exception &e) {
    set_err(out_err, e.what());
  } catch (...) {
    set_err(out_err, std::string("unknown C++ exception ") + what);
  }
  return code;
}

struct Kernel {
  sycl::kernel_bundle<sycl::bundle_state::executable> bundle;
  sycl::kernel kernel;
};

// Profiling info is only there when the queue was made with enable_profiling.
void event_times(sycl::event &ev, uint64_t *out_ns) {
  if (!out_ns)
    return;
  out_ns[0] = out_ns[1] = 0;
  try {
    out_ns[0] = ev.get_profiling_info<sycl::info::event_profiling::command_start>();
    out_ns[1] = ev.get_profiling_info<sycl::info::event_profiling::command_end>();
  } catch (...) {
    out_ns[0] = out_ns[1] = 0;
  }
}

}  // namespace

extern "C" {

int kf_shim_version() { return 1; }

void kf_free_str(char *p) { std::free(p); }

// Returns 0: compiled, *out_kernel set (log may hold warnings);
//         1: compile error (log); 2: entry not found in the bundle (log holds names);
//         3: other failure (log holds the message); 4: device cannot compile SYCL.
int kf_compile(void *queue_ref, const char *source, const char *const *options, int n_options,
               const char *entry, int register_entry, void **out_kernel, char **out_log) {
  std::string log;
  *out_kernel = nullptr;
  *out_log = nullptr;
  try {
    sycl::queue &q = *static_cast<sycl::queue *>(queue_ref);
    sycl::context ctx = q.get_context();
    sycl::device dev = q.get_device();
    if (!dev.ext_oneapi_can_compile(syclexp::source_language::sycl)) {
      set_err(out_log, "this device cannot compile SYCL source at run time");
      return 4;
    }
    std::vector<std::string> opts;
    for (int i = 0; i < n_options; ++i)
      opts.emplace_back(options[i]);
    auto src = syclexp::create_kernel_bundle_from_source(ctx, syclexp::source_language::sycl,
                                                         std::string(source));
    std::vector<std::string> names;
    if (register_entry)
      names.emplace_back(entry);
    sycl::kernel_bundle<sycl::bundle_state::executable> exe = [&]() {
      try {
        return syclexp::build(src, std::vector<sycl::device>{dev},
                              syclexp::properties{syclexp::build_options{opts},
                                                  syclexp::save_log{&log},
                                                  syclexp::registered_names{names}});
      } catch (const sycl::exception &e) {
        // The compiler's diagnostics are in the exception's message (and maybe the log).
        std::string msg = e.what();
        if (!log.empty() && msg.find(log) == std::string::npos)
          msg = log + "\n" + msg;
        throw std::runtime_error(msg);
      }
    }();
    if (!exe.ext_oneapi_has_kernel(entry)) {
      std::string msg = std::string("kernel '") + entry + "' not found in the compiled program";
      set_err(out_log, msg + (log.empty() ? "" : "\n" + log));
      return 2;
    }
    Kernel *k = new Kernel{exe, exe.ext_oneapi_get_kernel(entry)};
    *out_kernel = k;
    set_err(out_log, log);
    return 0;
  } catch (const std::runtime_error &e) {
    set_err(out_log, e.what());
    return 1;
  } catch (const sycl::exception &e) {
    set_err(out_log, (log.empty() ? "" : log + "\n") + describe(e));
    return 3;
  } catch (const std::exception &e) {
    set_err(out_log, (log.empty() ? "" : log + "\n") + e.what());
    return 3;
  } catch (...) {
    set_err(out_log, "unknown C++ exception during SYCL compilation");
    return 3;
  }
}

void kf_kernel_release(void *kernel) {
  try {
    delete static_cast<Kernel *>(kernel);
  } catch (...) {
  }
}

// out[0] work_group_size (max for this kernel on the device), out[1] compile_work_group_size x,
// out[2] compile_sub_group_size, out[3] private_mem_size, out[4] max_sub_group_size,
// out[5] compile_num_sub_groups, out[6] preferred_work_group_size_multiple,
// out[7] max_num_sub_groups, out[8] local_mem_size (static work-group local memory the
// compiled kernel uses: SYCL 2020 has no query for it, so it is OpenCL's
// CL_KERNEL_LOCAL_MEM_SIZE, read through interop on an OpenCL device). -1 where the query failed.
namespace {

// The OpenCL loader is found at run time (the SYCL runtime has it loaded already when the
// device is an OpenCL one), so the shim needs no link-time OpenCL library.
using GetWgInfo = cl_int (*)(cl_kernel, cl_device_id, cl_kernel_work_group_info, size_t, void *,
                             size_t *);
using Release = cl_int (*)(void *);

void *opencl_symbol(const char *name) {
  void *lib = dlopen("libOpenCL.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (!lib)
    lib = dlopen("libOpenCL.so.1", RTLD_NOW);
  return lib ? dlsym(lib, name) : nullptr;
}

int64_t opencl_local_mem(const sycl::kernel &kernel, const sycl::device &dev) {
  if (kernel.get_backend() != sycl::backend::opencl)
    return -1;
  auto query = reinterpret_cast<GetWgInfo>(opencl_symbol("clGetKernelWorkGroupInfo"));
  auto release_kernel = reinterpret_cast<Release>(opencl_symbol("clReleaseKernel"));
  auto release_device = reinterpret_cast<Release>(opencl_symbol("clReleaseDevice"));
  if (!query)
    return -1;
  cl_kernel ck = sycl::get_native<sycl::backend::opencl>(kernel);
  cl_device_id cd = sycl::get_native<sycl::backend::opencl>(dev);
  cl_ulong bytes = 0;
  cl_int rc = query(ck, cd, CL_KERNEL_LOCAL_MEM_SIZE, sizeof(bytes), &bytes, nullptr);
  if (release_kernel) // get_native hands out retained objects
    release_kernel(ck);
  if (release_device)
    release_device(cd);
  return rc == CL_SUCCESS ? static_cast<int64_t>(bytes) : -1;
}

} // namespace

int kf_kernel_info(void *queue_ref, void *kernel, int64_t *out, int n) {
  for (int i = 0; i < n; ++i)
    out[i] = -1;
  sycl::queue &q = *static_cast<sycl::queue *>(queue_ref);
  Kernel *k = static_cast<Kernel *>(kernel);
  sycl::device dev;
  try {
    dev = q.get_device();
  } catch (...) {
    return 1;
  }
  namespace kds = sycl::info::kernel_device_specific;
#define KF_Q(i, expr)                                                                          \
  if (n > i) {                                                                                 \
    try {                                                                                      \
      out[i] = static_cast<int64_t>(expr);                                                     \
    } catch (...) {                                                                            \
    }                                                                                          \
  }
  KF_Q(0, k->kernel.get_info<kds::work_group_size>(dev));
  KF_Q(1, k->kernel.get_info<kds::compile_work_group_size>(dev)[0]);
  KF_Q(2, k->kernel.get_info<kds::compile_sub_group_size>(dev));
  KF_Q(3, k->kernel.get_info<kds::private_mem_size>(dev));
  KF_Q(4, k->kernel.get_info<kds::max_sub_group_size>(dev));
  KF_Q(5, k->kernel.get_info<kds::compile_num_sub_groups>(dev));
  KF_Q(6, k->kernel.get_info<kds::preferred_work_group_size_multiple>(dev));
  KF_Q(7, k->kernel.get_info<kds::max_num_sub_groups>(dev));
  KF_Q(8, opencl_local_mem(k->kernel, dev));
#undef KF_Q
  return 0;
}

// kinds[i]: 0 = USM pointer (values[i] points at the pointer value), 1 = raw bytes of sizes[i].
// Returns 0: ran; 1: the runtime refused the launch; 2: failed while running (fault).
// times_ns[0..1]: device start/end (0 when profiling is off), times_ns[2]: host ns.
int kf_launch(void *queue_ref, void *kernel, int dims, const size_t *global, const size_t *local,
              size_t scratch_bytes, int n_args, const int *kinds, const void *const *values,
              const size_t *sizes, uint64_t *times_ns, char **out_err) {
  *out_err = nullptr;
  sycl::queue &q = *static_cast<sycl::queue *>(queue_ref);
  Kernel *k = static_cast<Kernel *>(kernel);
  sycl::event ev;
  auto t0 = std::chrono::steady_clock::now();
  int refused = guarded(out_err, 1, "at kernel submission", [&] {
    auto cg = [&](sycl::handler &cgh) {
      for (int i = 0; i < n_args; ++i) {
        if (kinds[i] == 0) {
          void *p = *static_cast<void *const *>(values[i]);
          cgh.set_arg(i, p);
        } else {
          cgh.set_arg(i, syclexp::raw_kernel_arg(values[i], sizes[i]));
        }
      }
      auto go = [&](auto ndr) {
        if (scratch_bytes > 0) {
          syclexp::nd_launch(cgh,
                             syclexp::launch_config(
                                 ndr, syclexp::properties{
                                          syclexp::work_group_scratch_size(scratch_bytes)}),
                             k->kernel);
        } else {
          cgh.parallel_for(ndr, k->kernel);
        }
      };
      if (dims == 1)
        go(sycl::nd_range<1>({global[0]}, {local[0]}));
      else if (dims == 2)
        go(sycl::nd_range<2>({global[0], global[1]}, {local[0], local[1]}));
      else
        go(sycl::nd_range<3>({global[0], global[1], global[2]}, {local[0], local[1], local[2]}));
    };
    ev = q.submit(cg);
    return 0;
  });
  if (refused)
    return refused;
  if (int failed = guarded(out_err, 2, "while the kernel ran", [&] {
        ev.wait_and_throw();
        return 0;
      }))
    return failed;
  auto t1 = std::chrono::steady_clock::now();
  if (times_ns) {
    event_times(ev, times_ns);
    times_ns[2] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }
  return 0;
}

// Blocking memcpy between any USM/host pointers. times_ns as in kf_launch (may be null).
int kf_memcpy(void *queue_ref, void *dst, const void *src, size_t nbytes, uint64_t *times_ns,
              char **out_err) {
  *out_err = nullptr;
  return guarded(out_err, 1, "in memcpy", [&] {
    sycl::queue &q = *static_cast<sycl::queue *>(queue_ref);
    auto t0 = std::chrono::steady_clock::now();
    sycl::event ev = q.memcpy(dst, src, nbytes);
    ev.wait_and_throw();
    auto t1 = std::chrono::steady_clock::now();
    if (times_ns) {
      event_times(ev, times_ns);
      times_ns[2] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
    }
    return 0;
  });
}

// Blocking fill of `count` copies of a 1/2/4/8-byte pattern.
int kf_fill(void *queue_ref, void *ptr, const void *pattern, int pattern_size, size_t count,
            char **out_err) {
  *out_err = nullptr;
  return guarded(out_err, 1, "in fill", [&] {
    sycl::queue &q = *static_cast<sycl::queue *>(queue_ref);
    sycl::event ev;
    switch (pattern_size) {
    case 1: {
      uint8_t v;
      std::memcpy(&v, pattern, 1);
      ev = q.memset(ptr, v, count);
      break;
    }
    case 2: {
      uint16_t v;
      std::memcpy(&v, pattern, 2);
      ev = q.fill(static_cast<uint16_t *>(ptr), v, count);
      break;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, pattern, 4);
      ev = q.fill(static_cast<uint32_t *>(ptr), v, count);
      break;
    }
    case 8: {
      uint64_t v;
      std::memcpy(&v, pattern, 8);
      ev = q.fill(static_cast<uint64_t *>(ptr), v, count);
      break;
    }
    default:
      set_err(out_err, "fill pattern must be 1, 2, 4 or 8 bytes");
      return 1;
    }
    ev.wait_and_throw();
    return 0;
  });
}

}  // extern "C"
