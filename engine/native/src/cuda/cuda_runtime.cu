// The CUDA runtime side of the cuda:N device: availability and properties,
// device memory through the caching allocator (CudaStorage), streams, events,
// pinned host memory (cudaHostRegister on an existing host Storage, so
// pinning stays in place) and async H2D / D2H / D2D copies.
//
// The runtime is linked statically; with no driver cudaGetDeviceCount fails
// and cudaInfo() reports "no CUDA device" instead of the addon failing to load.
#include <memory>
#include <mutex>
#include <vector>
#include "cuda_common.cuh"
#include "../caching_allocator.h"
#include "../caching_allocator_js.h"

namespace vl {
namespace cu {
namespace {

// ---- streams and events: ids handed to JS --------------------------------------------
struct StreamEntry { cudaStream_t stream; int device; };
std::vector<StreamEntry>& streams() {
  static std::vector<StreamEntry> s{{nullptr, 0}};  // id 0: the legacy default stream
  return s;
}
std::vector<cudaEvent_t>& events() {
  static std::vector<cudaEvent_t> e{nullptr};  // id 0 unused
  return e;
}
cudaStream_t stream_of(uint64_t id) {
  auto& s = streams();
  if (id >= s.size() || (id != 0 && s[id].stream == nullptr)) throw std::invalid_argument("unknown or destroyed CUDA stream id " + std::to_string(id));
  return s[id].stream;
}

// ---- one caching allocator per device ------------------------------------------------
std::vector<std::unique_ptr<CachingAllocator>>& allocators() {
  static std::vector<std::unique_ptr<CachingAllocator>> a;
  return a;
}
CachingAllocator& allocator(int device) {
  auto& a = allocators();
  if (device < 0) throw std::out_of_range("negative CUDA device index");
  if (static_cast<size_t>(device) >= a.size()) a.resize(device + 1);
  if (!a[device]) {
    RawAllocatorOps ops;
    ops.allocate = [device](size_t n) -> void* {
      void* p = nullptr;
      cudaSetDevice(device);
      if (cudaMalloc(&p, n) != cudaSuccess) { cudaGetLastError(); return nullptr; }
      return p;
    };
    ops.release = [device](void* p) { cudaSetDevice(device); cudaFree(p); };
    ops.record_event = [](StreamId s) -> EventHandle {
      cudaEvent_t e;
      check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
      check(cudaEventRecord(e, stream_of(s)), "cudaEventRecord");
      return reinterpret_cast<EventHandle>(e);
    };
    ops.query_event = [](EventHandle e) {
      cudaError_t r = cudaEventQuery(reinterpret_cast<cudaEvent_t>(e));
      if (r == cudaErrorNotReady) { cudaGetLastError(); return false; }
      check(r, "cudaEventQuery");
      return true;
    };
    ops.synchronize_event = [](EventHandle e) { check(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(e)), "cudaEventSynchronize"); };
    ops.destroy_event = [](EventHandle e) { cudaEventDestroy(reinterpret_cast<cudaEvent_t>(e)); };
    a[device] = std::make_unique<CachingAllocator>(std::move(ops));
  }
  return *a[device];
}

}  // namespace

// ---- CudaStorage ------------------------------------------------------------------
class CudaStorage : public Napi::ObjectWrap<CudaStorage> {
 public:
  static Napi::FunctionReference ctor;
  uint8_t* ptr = nullptr;
  size_t nbytes = 0;
  int device = 0;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "CudaStorage", {
      InstanceMethod<&CudaStorage::Free>("free"),
      InstanceMethod<&CudaStorage::RecordStream>("recordStream"),
      InstanceAccessor<&CudaStorage::NBytes>("nbytes"),
      InstanceAccessor<&CudaStorage::Freed>("freed"),
      InstanceAccessor<&CudaStorage::Device>("device"),
    });
    ctor = Napi::Persistent(f);
    ctor.SuppressDestruct();
    exports.Set("CudaStorage", f);
  }

  // new CudaStorage(nbytes, zero, device, stream): a block on `stream` (zeroed on that stream when asked)
  explicit CudaStorage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaStorage>(info) {
    double n = info[0].As<Napi::Number>().DoubleValue();
    if (!(n >= 0) || n > 9.0e15) throw Napi::RangeError::New(info.Env(), "CudaStorage size must be a non-negative byte count");
    nbytes = static_cast<size_t>(n);
    bool zero = info[1].ToBoolean().Value();
    device = info[2].As<Napi::Number>().Int32Value();
    uint64_t sid = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
    try {
      cudaStream_t st = stream_of(sid);
      check(cudaSetDevice(device), "cudaSetDevice");
      ptr = static_cast<uint8_t*>(allocator(device).malloc(nbytes == 0 ? 1 : nbytes, sid));
      if (zero && nbytes) check(cudaMemsetAsync(ptr, 0, nbytes, st), "cudaMemsetAsync");
    } catch (const std::exception& e) {
      std::string msg = e.what();
      if (msg.rfind("out of memory", 0) == 0) msg = "cuda:" + std::to_string(device) + " " + msg;
      throw Napi::Error::New(info.Env(), msg);
    }
  }
  ~CudaStorage() override {
    try { release(); } catch (...) {}  // a finalizer must not throw
  }
  void release() {
    if (!ptr) return;
    allocator(device).free(ptr);
    ptr = nullptr;
  }
  Napi::Value Free(const Napi::CallbackInfo& info) {
    try {
      release();
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }
  // recordStream(streamId): the block is in use on another stream too (torch's Tensor.record_stream)
  Napi::Value RecordStream(const Napi::CallbackInfo& info) {
    if (!ptr) throw Napi::Error::New(info.Env(), "recordStream: the storage was freed");
    try {
      allocator(device).record_stream(ptr, static_cast<StreamId>(arg_int(info, 0, "recordStream: stream")));
    } catch (const std::exception& e) {
      throw Napi::TypeError::New(info.Env(), e.what());
    }
    return info.Env().Undefined();
  }
  Napi::Value NBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(nbytes)); }
  Napi::Value Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr == nullptr); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device); }
};
Napi::FunctionReference CudaStorage::ctor;

static CudaStorage* unwrap(const Napi::Value& v, const char* what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(CudaStorage::ctor.Value()))
    throw std::invalid_argument(std::string(what) + " is not CUDA memory (a CudaStorage); move the tensor to the GPU with .to(\"cuda\") first");
  CudaStorage* s = CudaStorage::Unwrap(v.As<Napi::Object>());
  if (!s->ptr) throw std::invalid_argument(std::string(what) + " was disposed (its storage is freed); create the tensor again");
  return s;
}
uint8_t* dev_ptr(const Napi::Value& v, const char* what) { return unwrap(v, what)->ptr; }
size_t dev_nbytes(const Napi::Value& v, const char* what) { return unwrap(v, what)->nbytes; }
uint8_t* dev_checked(const Napi::Value& v, DType d, size_t offset, size_t n, const char* what) {
  CudaStorage* s = unwrap(v, what);
  constexpr size_t kMax = size_t(1) << 53;
  if (offset > kMax || n > kMax) throw std::out_of_range(std::string(what) + ": offset or extent is too large");
  size_t need = dtype_bytes(d, offset + n);
  if (need > s->nbytes)
    throw std::out_of_range(std::string(what) + " needs " + std::to_string(need) + " bytes but its storage holds " + std::to_string(s->nbytes));
  return s->ptr;
}
cudaStream_t arg_stream(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return nullptr;
  int64_t id = arg_int(info, i, "stream");
  if (id < 0) throw std::out_of_range("stream id must be >= 0");
  return stream_of(static_cast<uint64_t>(id));
}

Workspace::Workspace(size_t bytes, cudaStream_t stream) {
  check(cudaGetDevice(&device_), "cudaGetDevice");
  // Find the id of `stream` (workspaces are rare: one per GEMM call at most).
  StreamId sid = 0;
  auto& s = streams();
  for (size_t k = 1; k < s.size(); k++) if (s[k].stream == stream) { sid = k; break; }
  ptr_ = allocator(device_).malloc(bytes == 0 ? 1 : bytes, sid);
}
Workspace::~Workspace() {
  if (ptr_) allocator(device_).free(ptr_);
}

namespace {

// ---- info and properties --------------------------------------------------------------
__global__ void fill_kernel(float* p, float v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", true);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    o.Set("available", false);
    o.Set("deviceCount", 0);
    o.Set("reason", std::string("no CUDA device: ") + cudaGetErrorString(err) + " (error " + std::to_string(static_cast<int>(err)) + ")");
    cudaGetLastError();
    return o;
  }
  o.Set("available", count > 0);
  o.Set("deviceCount", count);
  if (count == 0) o.Set("reason", "no CUDA device: the driver reports 0 devices");
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  o.Set("runtimeVersion", runtime);
  o.Set("driverVersion", driver);
  Napi::Array devs = Napi::Array::New(env, count);
  for (int d = 0; d < count; d++) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) { cudaGetLastError(); continue; }
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("name", p.name);
    dev.Set("totalMemory", static_cast<double>(p.totalGlobalMem));
    dev.Set("computeCapability", std::to_string(p.major) + "." + std::to_string(p.minor));
    dev.Set("multiProcessorCount", p.multiProcessorCount);
    dev.Set("memoryBusWidth", p.memoryBusWidth);
    dev.Set("l2CacheSize", p.l2CacheSize);
    dev.Set("sharedMemoryPerBlockOptin", static_cast<double>(p.sharedMemPerBlockOptin));
    dev.Set("asyncEngineCount", p.asyncEngineCount);
    dev.Set("pciBusId", p.pciBusID);
    devs.Set(static_cast<uint32_t>(d), dev);
  }
  o.Set("devices", devs);
  return o;
}

// cudaSelfTest(n, value): fills a device buffer with a kernel and copies it back; returns the sum.
Napi::Value CudaSelfTest(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  float v = info[1].As<Napi::Number>().FloatValue();
  float* d = nullptr;
  check(cudaMalloc(&d, sizeof(float) * n), "cudaMalloc");
  fill_kernel<<<(n + 255) / 256, 256>>>(d, v, n);
  std::vector<float> h(n);
  cudaError_t err = cudaMemcpy(h.data(), d, sizeof(float) * n, cudaMemcpyDeviceToHost);
  cudaFree(d);
  check(err, "kernel or copy");
  double sum = 0;
  for (int i = 0; i < n; i++) sum += h[i];
  return Napi::Number::New(info.Env(), sum);
}

// cudaMemGetInfo(device) -> {free, total}
Napi::Value MemGetInfo(const Napi::CallbackInfo& info) {
  check(cudaSetDevice(static_cast<int>(arg_int(info, 0, "cudaMemGetInfo: device"))), "cudaSetDevice");
  size_t f = 0, t = 0;
  check(cudaMemGetInfo(&f, &t), "cudaMemGetInfo");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("free", static_cast<double>(f));
  o.Set("total", static_cast<double>(t));
  return o;
}

Napi::Value AllocatorStats(const Napi::CallbackInfo& info) {
  return caching_allocator_stats_object(info.Env(), allocator(static_cast<int>(arg_int(info, 0, "cudaMemoryStats: device"))).stats());
}
Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  allocator(static_cast<int>(arg_int(info, 0, "cudaEmptyCache: device"))).empty_cache();
  return info.Env().Undefined();
}
Napi::Value ResetPeak(const Napi::CallbackInfo& info) {
  allocator(static_cast<int>(arg_int(info, 0, "cudaResetPeak: device"))).reset_peak();
  return info.Env().Undefined();
}

// ---- streams and events -------------------------------------------------------------
Napi::Value StreamCreate(const Napi::CallbackInfo& info) {
  int device = static_cast<int>(arg_int(info, 0, "cudaStreamCreate: device"));
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  streams().push_back({s, device});
  return Napi::Number::New(info.Env(), static_cast<double>(streams().size() - 1));
}
Napi::Value StreamSynchronize(const Napi::CallbackInfo& info) {
  check(cudaStreamSynchronize(arg_stream(info, 0)), "cudaStreamSynchronize");
  return info.Env().Undefined();
}
Napi::Value StreamQuery(const Napi::CallbackInfo& info) {
  cudaError_t r = cudaStreamQuery(arg_stream(info, 0));
  if (r == cudaErrorNotReady) { cudaGetLastError(); return Napi::Boolean::New(info.Env(), false); }
  check(r, "cudaStreamQuery");
  return Napi::Boolean::New(info.Env(), true);
}
Napi::Value DeviceSynchronize(const Napi::CallbackInfo& info) {
  check(cudaSetDevice(static_cast<int>(arg_int(info, 0, "cudaDeviceSynchronize: device"))), "cudaSetDevice");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return info.Env().Undefined();
}
cudaEvent_t event_of(const Napi::CallbackInfo& info, size_t i) {
  int64_t id = arg_int(info, i, "event");
  auto& e = events();
  if (id <= 0 || static_cast<size_t>(id) >= e.size() || !e[id]) throw std::invalid_argument("unknown or destroyed CUDA event id " + std::to_string(id));
  return e[id];
}
// cudaEventCreate(timing) -> id
Napi::Value EventCreate(const Napi::CallbackInfo& info) {
  bool timing = info.Length() > 0 && info[0].ToBoolean().Value();
  cudaEvent_t e;
  check(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming), "cudaEventCreate");
  events().push_back(e);
  return Napi::Number::New(info.Env(), static_cast<double>(events().size() - 1));
}
Napi::Value EventRecord(const Napi::CallbackInfo& info) {
  check(cudaEventRecord(event_of(info, 0), arg_stream(info, 1)), "cudaEventRecord");
  return info.Env().Undefined();
}
// cudaStreamWaitEvent(stream, event): later work on stream waits for the event, the host does not
Napi::Value StreamWaitEvent(const Napi::CallbackInfo& info) {
  check(cudaStreamWaitEvent(arg_stream(info, 0), event_of(info, 1), 0), "cudaStreamWaitEvent");
  return info.Env().Undefined();
}
Napi::Value EventQuery(const Napi::CallbackInfo& info) {
  cudaError_t r = cudaEventQuery(event_of(info, 0));
  if (r == cudaErrorNotReady) { cudaGetLastError(); return Napi::Boolean::New(info.Env(), false); }
  check(r, "cudaEventQuery");
  return Napi::Boolean::New(info.Env(), true);
}
Napi::Value EventSynchronize(const Napi::CallbackInfo& info) {
  check(cudaEventSynchronize(event_of(info, 0)), "cudaEventSynchronize");
  return info.Env().Undefined();
}
Napi::Value EventElapsed(const Napi::CallbackInfo& info) {
  float ms = 0;
  check(cudaEventElapsedTime(&ms, event_of(info, 0), event_of(info, 1)), "cudaEventElapsedTime");
  return Napi::Number::New(info.Env(), ms);
}
Napi::Value EventDestroy(const Napi::CallbackInfo& info) {
  cudaEvent_t e = event_of(info, 0);
  cudaEventDestroy(e);
  events()[static_cast<size_t>(arg_int(info, 0, "event"))] = nullptr;
  return info.Env().Undefined();
}

// ---- pinned host memory and copies ------------------------------------------------------
// cudaHostRegister(storage): page-locks a host Storage in place. Call cudaHostUnregister before freeing it.
Napi::Value HostRegister(const Napi::CallbackInfo& info) {
  uint8_t* p = storage_ptr(info[0], "cudaHostRegister: storage");
  size_t n = storage_nbytes(info[0], "cudaHostRegister: storage");
  if (n) check(cudaHostRegister(p, n, cudaHostRegisterDefault), "cudaHostRegister");
  return info.Env().Undefined();
}
Napi::Value HostUnregister(const Napi::CallbackInfo& info) {
  uint8_t* p = storage_ptr(info[0], "cudaHostUnregister: storage");
  if (storage_nbytes(info[0], "cudaHostUnregister: storage")) check(cudaHostUnregister(p), "cudaHostUnregister");
  return info.Env().Undefined();
}
// The three copy entries share their arguments (dst, dstByteOffset, src, srcByteOffset, nbytes,
// stream[, blocking]) and checks; dst/src are device or host storages by direction.
Napi::Value copy_async(const Napi::CallbackInfo& info, const char* name, uint8_t* d, size_t dn, const uint8_t* s, size_t sn,
                       cudaMemcpyKind kind, bool has_blocking_arg) {
  size_t doff = static_cast<size_t>(arg_int(info, 1, "dstByteOffset")), soff = static_cast<size_t>(arg_int(info, 3, "srcByteOffset"));
  size_t n = static_cast<size_t>(arg_int(info, 4, "nbytes"));
  if (doff + n > dn || soff + n > sn) throw std::out_of_range(std::string(name) + " past the end of a storage");
  cudaStream_t st = arg_stream(info, 5);
  check(cudaMemcpyAsync(d + doff, s + soff, n, kind, st), (std::string(name) + ": cudaMemcpyAsync").c_str());
  if (has_blocking_arg && arg_bool(info, 6, "blocking")) check(cudaStreamSynchronize(st), (std::string(name) + ": cudaStreamSynchronize").c_str());
  return info.Env().Undefined();
}
// cudaCopyH2D(dst, dstByteOffset, hostSrc, srcByteOffset, nbytes, stream, blocking)
Napi::Value CopyH2D(const Napi::CallbackInfo& info) {
  return copy_async(info, "cudaCopyH2D", dev_checked(info[0], DType::uint8, 0, 0, "cudaCopyH2D: dst"), dev_nbytes(info[0], "cudaCopyH2D: dst"),
                    storage_ptr(info[2], "cudaCopyH2D: src"), storage_nbytes(info[2], "cudaCopyH2D: src"), cudaMemcpyHostToDevice, true);
}
// cudaCopyD2H(hostDst, dstByteOffset, src, srcByteOffset, nbytes, stream, blocking)
Napi::Value CopyD2H(const Napi::CallbackInfo& info) {
  return copy_async(info, "cudaCopyD2H", storage_ptr(info[0], "cudaCopyD2H: dst"), storage_nbytes(info[0], "cudaCopyD2H: dst"),
                    dev_ptr(info[2], "cudaCopyD2H: src"), dev_nbytes(info[2], "cudaCopyD2H: src"), cudaMemcpyDeviceToHost, true);
}
// cudaCopyD2D(dst, dstByteOffset, src, srcByteOffset, nbytes, stream)
Napi::Value CopyD2D(const Napi::CallbackInfo& info) {
  return copy_async(info, "cudaCopyD2D", dev_ptr(info[0], "cudaCopyD2D: dst"), dev_nbytes(info[0], "cudaCopyD2D: dst"),
                    dev_ptr(info[2], "cudaCopyD2D: src"), dev_nbytes(info[2], "cudaCopyD2D: src"), cudaMemcpyDeviceToDevice, false);
}
// cudaWrite(dst, byteOffset, typedArray, stream): synchronous upload from a JS buffer (pageable)
Napi::Value Write(const Napi::CallbackInfo& info) {
  uint8_t* d = dev_ptr(info[0], "cudaWrite: dst");
  size_t dn = dev_nbytes(info[0], "cudaWrite: dst");
  size_t off = static_cast<size_t>(arg_int(info, 1, "byteOffset"));
  if (!info[2].IsTypedArray()) throw std::invalid_argument("cudaWrite: source must be a TypedArray");
  auto ta = info[2].As<Napi::TypedArray>();
  const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  size_t n = ta.ByteLength();
  if (off + n > dn) throw std::out_of_range("cudaWrite past the end of the storage");
  cudaStream_t st = arg_stream(info, 3);
  check(cudaMemcpyAsync(d + off, src, n, cudaMemcpyHostToDevice, st), "cudaMemcpyAsync H2D");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize after write");  // the JS buffer may go away
  return info.Env().Undefined();
}
// cudaRead(src, byteOffset, nbytes, stream) -> ArrayBuffer (waits for the stream's earlier work)
Napi::Value Read(const Napi::CallbackInfo& info) {
  const uint8_t* s = dev_ptr(info[0], "cudaRead: src");
  size_t sn = dev_nbytes(info[0], "cudaRead: src");
  size_t off = static_cast<size_t>(arg_int(info, 1, "byteOffset"));
  size_t n = static_cast<size_t>(arg_int(info, 2, "nbytes"));
  if (off + n > sn) throw std::out_of_range("cudaRead past the end of the storage");
  cudaStream_t st = arg_stream(info, 3);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), n);
  check(cudaMemcpyAsync(ab.Data(), s + off, n, cudaMemcpyDeviceToHost, st), "cudaMemcpyAsync D2H");
  check(cudaStreamSynchronize(st), "cudaStreamSynchronize after read");
  return ab;
}

void Register(Napi::Env env, Napi::Object exports) {
  CudaStorage::Init(env, exports);
  VL_EXPORT("cudaInfo", CudaInfo);
  VL_EXPORT("cudaSelfTest", CudaSelfTest);
  VL_EXPORT("cudaMemGetInfo", MemGetInfo);
  VL_EXPORT("cudaMemoryStats", AllocatorStats);
  VL_EXPORT("cudaEmptyCache", EmptyCache);
  VL_EXPORT("cudaResetPeak", ResetPeak);
  VL_EXPORT("cudaStreamCreate", StreamCreate);
  VL_EXPORT("cudaStreamSynchronize", StreamSynchronize);
  VL_EXPORT("cudaStreamQuery", StreamQuery);
  VL_EXPORT("cudaDeviceSynchronize", DeviceSynchronize);
  VL_EXPORT("cudaEventCreate", EventCreate);
  VL_EXPORT("cudaEventRecord", EventRecord);
  VL_EXPORT("cudaStreamWaitEvent", StreamWaitEvent);
  VL_EXPORT("cudaEventQuery", EventQuery);
  VL_EXPORT("cudaEventSynchronize", EventSynchronize);
  VL_EXPORT("cudaEventElapsed", EventElapsed);
  VL_EXPORT("cudaEventDestroy", EventDestroy);
  VL_EXPORT("cudaHostRegister", HostRegister);
  VL_EXPORT("cudaHostUnregister", HostUnregister);
  VL_EXPORT("cudaCopyH2D", CopyH2D);
  VL_EXPORT("cudaCopyD2H", CopyD2H);
  VL_EXPORT("cudaCopyD2D", CopyD2D);
  VL_EXPORT("cudaWrite", Write);
  VL_EXPORT("cudaRead", Read);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
