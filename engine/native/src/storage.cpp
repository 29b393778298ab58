// Storage: a block of host memory owned by the addon (64-byte aligned).
// JS frees it deterministically with free(); the finalizer is only a safety
// net for objects dropped without dispose. Blocks come from and go back to
// the host block cache (host_block_cache.h), so a forward's activations reuse
// mapped memory instead of faulting fresh pages in.
//
// V8 is told about a storage's bytes (external memory) only once the storage
// has outlived a full epoch of allocation churn (64 MiB allocated after it;
// VRAMLAB_EXTERNAL_EPOCH_MB sets it): weights, caches, and tensors that were
// kept or leaked. Activations that
// a forward allocates and frees explicitly are never reported: reporting them
// made V8 see external memory swing by the activation working set and run
// extra full GCs, which buys nothing since GC never frees them. A leaked
// storage is reported within two epochs, so V8's external-memory pressure
// still collects its wrapper and the finalizer frees the bytes.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include "host_block_cache.h"
#include "napi_args.h"
#include "registry.h"

namespace vl {

class Storage;

// Live storages of one JS thread (each Node environment runs on its own
// thread, and finalizers run on it too, so no lock is needed). Plain data: it
// must stay valid while finalizers run at exit.
struct ExternalReport {
  Storage* young = nullptr;  // not yet reported to V8, newest first
  uint64_t epoch = 0;
  size_t churn = 0;          // bytes allocated in this epoch
  double live_bytes = 0, live_count = 0, reported_bytes = 0, epochs = 0;
};
thread_local ExternalReport external_report;

static size_t external_epoch_bytes() {
  static const size_t bytes = [] {
    const char* e = std::getenv("VRAMLAB_EXTERNAL_EPOCH_MB");
    long mb = e ? std::atol(e) : 0;
    return static_cast<size_t>(mb > 0 ? mb : 64) << 20;
  }();
  return bytes;
}

class Storage : public Napi::ObjectWrap<Storage> {
 public:
  static Napi::FunctionReference ctor;
  uint8_t* ptr = nullptr;
  size_t nbytes = 0;
  size_t padded = 0;  // bytes of the block (the cache rounds up)
  napi_env env_ = nullptr;
  // intrusive list of unreported storages (ExternalReport::young)
  Storage* prev = nullptr;
  Storage* next = nullptr;
  uint64_t born = 0;
  bool reported = false;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Storage", {
      InstanceMethod<&Storage::Free>("free"),
      InstanceAccessor<&Storage::NBytes>("nbytes"),
      InstanceAccessor<&Storage::Freed>("freed"),
    });
    ctor = Napi::Persistent(f);
    // The static outlives Node's environment; deleting the reference at exit would touch freed state.
    ctor.SuppressDestruct();
    exports.Set("Storage", f);
  }

  explicit Storage(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Storage>(info) {
    double n = info[0].As<Napi::Number>().DoubleValue();
    if (!(n >= 0) || n > 9.0e15) throw Napi::RangeError::New(info.Env(), "storage size must be a non-negative byte count");
    nbytes = static_cast<size_t>(n);
    const HostBlock block = host_block_acquire(nbytes);
    ptr = block.ptr;
    padded = block.capacity;
    if (!ptr) throw Napi::Error::New(info.Env(), "host out of memory: could not allocate " + std::to_string(nbytes) + " bytes");
    bool zero = info.Length() > 1 && info[1].ToBoolean().Value();
    if (zero) std::memset(ptr, 0, padded);
    env_ = info.Env();
    track();
  }
  ~Storage() override { release(); }
  // Called by node-addon-api before the destructor when the wrapper is collected.
  void Finalize(Napi::Env) override { release(); }

  void release() {
    if (!ptr) return;
    host_block_release({ptr, padded});
    ptr = nullptr;
    untrack();
  }
  Napi::Value Free(const Napi::CallbackInfo& info) { release(); return info.Env().Undefined(); }
  Napi::Value NBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(nbytes)); }
  Napi::Value Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr == nullptr); }

 private:
  void track() {
    ExternalReport& r = external_report;
    r.live_bytes += padded;
    r.live_count++;
    born = r.epoch;
    next = r.young;
    if (next) next->prev = this;
    r.young = this;
    r.churn += padded;
    if (r.churn >= external_epoch_bytes()) promote(r);
  }
  void untrack() {
    ExternalReport& r = external_report;
    r.live_bytes -= padded;
    r.live_count--;
    if (reported) {
      r.reported_bytes -= padded;
      adjust(env_, -static_cast<int64_t>(padded));
      reported = false;
    } else {
      if (prev) prev->next = next; else if (r.young == this) r.young = next;
      if (next) next->prev = prev;
      prev = next = nullptr;
    }
  }
  // End of an epoch: report every storage that has lived through a full one.
  void promote(ExternalReport& r) {
    int64_t total = 0;
    for (Storage* s = r.young; s;) {
      Storage* following = s->next;
      if (s->born < r.epoch) {
        // born in an earlier epoch: it has lived through this whole epoch's churn
        if (s->prev) s->prev->next = s->next; else r.young = s->next;
        if (s->next) s->next->prev = s->prev;
        s->prev = s->next = nullptr;
        s->reported = true;
        total += static_cast<int64_t>(s->padded);
      }
      s = following;
    }
    r.epoch++;
    r.epochs++;
    r.churn = 0;
    if (total) {
      r.reported_bytes += static_cast<double>(total);
      adjust(env_, total);
    }
  }
  static void adjust(napi_env env, int64_t change) {
    int64_t ignored;
    if (env) napi_adjust_external_memory(env, change, &ignored);
  }
};
Napi::FunctionReference Storage::ctor;

static Storage* unwrap(const Napi::Value& v, const char* what) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(Storage::ctor.Value()))
    throw std::invalid_argument(std::string(what) + " is not a Storage");
  Storage* s = Storage::Unwrap(v.As<Napi::Object>());
  if (!s->ptr) throw std::invalid_argument(std::string(what) + " was disposed (its storage is freed); create the tensor again");
  return s;
}
uint8_t* storage_ptr(const Napi::Value& v, const char* what) { return unwrap(v, what)->ptr; }
size_t storage_nbytes(const Napi::Value& v, const char* what) { return unwrap(v, what)->nbytes; }

size_t dtype_bits(DType d) {
  switch (d) {
    case DType::float32: case DType::int32: return 32;
    case DType::float16: case DType::bfloat16: return 16;
    case DType::float8_e4m3fn: case DType::float8_e5m2: case DType::int8: case DType::uint8: return 8;
    case DType::fp6_e3m2: return 6;
    case DType::fp5_e2m2: return 5;
    case DType::int4: case DType::fp4_e2m1: return 4;
  }
  throw std::invalid_argument("unknown dtype code");
}
size_t dtype_bytes(DType d, size_t n) { return (n * dtype_bits(d) + 7) / 8; }

void check_fits(const Napi::Value& storage, DType d, size_t offset_elems, size_t elements, const char* what) {
  size_t have = storage_nbytes(storage, what);
  size_t need = dtype_bytes(d, offset_elems + elements);
  if (need > have)
    throw std::out_of_range(std::string(what) + " needs " + std::to_string(need) + " bytes but its storage holds " + std::to_string(have));
}

int64_t arg_int(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw std::invalid_argument(std::string(what) + " must be a number");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (v != static_cast<double>(static_cast<int64_t>(v))) throw std::invalid_argument(std::string(what) + " must be an integer");
  return static_cast<int64_t>(v);
}
double arg_num(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw std::invalid_argument(std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}
bool arg_bool(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsBoolean()) throw std::invalid_argument(std::string(what) + " must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}
DType arg_dtype(const Napi::CallbackInfo& info, size_t i, const char* what) {
  int64_t c = arg_int(info, i, what);
  if (c < 0 || c > 11) throw std::invalid_argument(std::string(what) + ": unknown dtype code " + std::to_string(c));
  return static_cast<DType>(c);
}
std::vector<int64_t> arg_int_array(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsArray()) throw std::invalid_argument(std::string(what) + " must be an array of integers");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) out[k] = static_cast<int64_t>(a.Get(k).As<Napi::Number>().DoubleValue());
  return out;
}

// read(storage, byteOffset, nbytes) -> ArrayBuffer (a copy)
static Napi::Value Read(const Napi::CallbackInfo& info) {
  uint8_t* p = storage_ptr(info[0], "read: storage");
  size_t have = storage_nbytes(info[0], "read: storage");
  size_t off = static_cast<size_t>(arg_int(info, 1, "read: byteOffset"));
  size_t n = static_cast<size_t>(arg_int(info, 2, "read: nbytes"));
  if (off + n > have) throw std::out_of_range("read past the end of the storage");
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(info.Env(), n);
  if (n) std::memcpy(ab.Data(), p + off, n);
  return ab;
}

// write(storage, byteOffset, typedArrayOrBuffer)
static Napi::Value Write(const Napi::CallbackInfo& info) {
  uint8_t* p = storage_ptr(info[0], "write: storage");
  size_t have = storage_nbytes(info[0], "write: storage");
  size_t off = static_cast<size_t>(arg_int(info, 1, "write: byteOffset"));
  const uint8_t* src;
  size_t n;
  if (info[2].IsTypedArray()) {
    auto ta = info[2].As<Napi::TypedArray>();
    src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    n = ta.ByteLength();
  } else if (info[2].IsArrayBuffer()) {
    auto ab = info[2].As<Napi::ArrayBuffer>();
    src = static_cast<const uint8_t*>(ab.Data());
    n = ab.ByteLength();
  } else if (info[2].IsDataView()) {
    auto dv = info[2].As<Napi::DataView>();
    src = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    n = dv.ByteLength();
  } else {
    throw std::invalid_argument("write: source must be a TypedArray, DataView or ArrayBuffer");
  }
  if (off + n > have) throw std::out_of_range("write past the end of the storage");
  if (n) std::memcpy(p + off, src, n);
  return info.Env().Undefined();
}

// copyBytes(dst, dstOffset, src, srcOffset, nbytes)
static Napi::Value CopyBytes(const Napi::CallbackInfo& info) {
  uint8_t* d = storage_ptr(info[0], "copyBytes: dst");
  size_t dn = storage_nbytes(info[0], "copyBytes: dst");
  size_t doff = static_cast<size_t>(arg_int(info, 1, "copyBytes: dstOffset"));
  const uint8_t* s = storage_ptr(info[2], "copyBytes: src");
  size_t sn = storage_nbytes(info[2], "copyBytes: src");
  size_t soff = static_cast<size_t>(arg_int(info, 3, "copyBytes: srcOffset"));
  size_t n = static_cast<size_t>(arg_int(info, 4, "copyBytes: nbytes"));
  if (doff + n > dn || soff + n > sn) throw std::out_of_range("copyBytes past the end of a storage");
  if (n) std::memmove(d + doff, s + soff, n);
  return info.Env().Undefined();
}

// hostStorageStats() -> live storages of this thread and the part reported to V8 as external memory
static Napi::Value HostStorageStats(const Napi::CallbackInfo& info) {
  const ExternalReport& r = external_report;
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveBytes", r.live_bytes);
  o.Set("liveCount", r.live_count);
  o.Set("reportedBytes", r.reported_bytes);
  o.Set("epochBytes", static_cast<double>(external_epoch_bytes()));
  o.Set("epochs", r.epochs);
  return o;
}

static void Register(Napi::Env env, Napi::Object exports) {
  Storage::Init(env, exports);
  VL_EXPORT("hostStorageStats", HostStorageStats);
  VL_EXPORT("read", Read);
  VL_EXPORT("write", Write);
  VL_EXPORT("copyBytes", CopyBytes);
}
VL_REGISTER(Register);

}  // namespace vl
