// Finds and loads cuBLASLt at run time. Compiled into every build (with or
// without nvcc) so the search order and the "not found" message are the same
// everywhere and testable on machines without a GPU (cublasLtProbe).
//
// VRAMLAB_CUBLASLT=off disables it (the fallback kernels run).
// Order: VRAMLAB_CUBLASLT (a file, or a directory holding libcublasLt.so.*),
// then the CUDA toolkit ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda,
// /usr/local/cuda-*, newest first), then Python's nvidia wheels
// (site-packages/nvidia/cublas/lib under $VIRTUAL_ENV, $CONDA_PREFIX,
// $PYTHONPATH, the environment of each python3 on $PATH, ~/.local and the
// system Python dirs), then the dynamic
// loader's own search (ld.so.cache, LD_LIBRARY_PATH).
#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <type_traits>
#include <napi.h>
#include "cublaslt_api.h"
#include "../registry.h"

namespace vl {
namespace lt {
namespace {

const char* const kSonames[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"};

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Entries of `dir` whose names start with `prefix`, sorted descending (newest version first).
std::vector<std::string> list_prefixed(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) == 0) out.push_back(dir + "/" + name);
  }
  closedir(d);
  std::sort(out.rbegin(), out.rend());
  return out;
}

void add_lib_dir(std::vector<std::string>& out, const std::string& dir) {
  for (const char* so : kSonames) out.push_back(dir + "/" + so);
}

// site-packages / dist-packages dirs under a prefix: PREFIX/lib/python3.*/{site,dist}-packages
void add_python_prefix(std::vector<std::string>& dirs, const std::string& prefix) {
  for (const std::string& py : list_prefixed(prefix + "/lib", "python3")) {
    dirs.push_back(py + "/site-packages");
    dirs.push_back(py + "/dist-packages");
  }
}

std::vector<std::string> split_colons(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t colon = list.find(':', start);
    std::string entry = list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!entry.empty()) out.push_back(entry);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

}  // namespace

SearchEnv SearchEnv::from_process() {
  SearchEnv e;
  e.vramlab_cublaslt = std::getenv("VRAMLAB_CUBLASLT");
  e.cuda_home = std::getenv("CUDA_HOME");
  e.cuda_path = std::getenv("CUDA_PATH");
  e.virtual_env = std::getenv("VIRTUAL_ENV");
  e.conda_prefix = std::getenv("CONDA_PREFIX");
  e.pythonpath = std::getenv("PYTHONPATH");
  e.home = std::getenv("HOME");
  e.path = std::getenv("PATH");
  return e;
}

std::vector<std::string> candidate_paths(const SearchEnv& env) {
  std::vector<std::string> out;
  if (disabled(env)) return out;
  if (env.vramlab_cublaslt && *env.vramlab_cublaslt) {
    std::string v = env.vramlab_cublaslt;
    if (is_dir(v)) add_lib_dir(out, v);
    else out.push_back(v);
  }
  // CUDA toolkit
  std::vector<std::string> roots;
  if (env.cuda_home && *env.cuda_home) roots.push_back(env.cuda_home);
  if (env.cuda_path && *env.cuda_path) roots.push_back(env.cuda_path);
  roots.push_back("/usr/local/cuda");
  for (const std::string& r : list_prefixed("/usr/local", "cuda-")) roots.push_back(r);
  for (const std::string& r : roots) {
    add_lib_dir(out, r + "/lib64");
    add_lib_dir(out, r + "/targets/x86_64-linux/lib");
    add_lib_dir(out, r + "/targets/sbsa-linux/lib");
  }
  // Python nvidia wheels (nvidia-cublas-cu12 / -cu13)
  std::vector<std::string> site;
  if (env.virtual_env && *env.virtual_env) add_python_prefix(site, env.virtual_env);
  if (env.conda_prefix && *env.conda_prefix) add_python_prefix(site, env.conda_prefix);
  if (env.pythonpath && *env.pythonpath)
    for (const std::string& entry : split_colons(env.pythonpath)) site.push_back(entry);
  // the environment of each python3 on PATH (e.g. /opt/torch/.venv/bin/python3 -> /opt/torch/.venv)
  if (env.path && *env.path) {
    for (const std::string& dir : split_colons(env.path)) {
      struct stat st;
      if (dir.size() > 4 && dir.compare(dir.size() - 4, 4, "/bin") == 0 && stat((dir + "/python3").c_str(), &st) == 0)
        add_python_prefix(site, dir.substr(0, dir.size() - 4));
    }
  }
  if (env.home && *env.home) add_python_prefix(site, std::string(env.home) + "/.local");
  add_python_prefix(site, "/usr/local");
  add_python_prefix(site, "/usr");
  site.push_back("/usr/lib/python3/dist-packages");
  for (const std::string& s : site) {
    add_lib_dir(out, s + "/nvidia/cublas/lib");
    add_lib_dir(out, s + "/nvidia/cu13/lib");
  }
  // The dynamic loader's own search.
  for (const char* so : kSonames) out.push_back(so);
  return out;
}

bool disabled(const SearchEnv& env) {
  if (!env.vramlab_cublaslt) return false;
  std::string v = env.vramlab_cublaslt;
  return v == "off" || v == "0" || v == "none";
}

LoadResult load(const SearchEnv& env) {
  LoadResult r;
  if (disabled(env)) {
    r.error = std::string("cuBLASLt disabled by VRAMLAB_CUBLASLT=") + env.vramlab_cublaslt + " (the project's own GEMM kernels run instead)";
    return r;
  }
  for (const std::string& path : candidate_paths(env)) {
    bool bare = path.find('/') == std::string::npos;
    if (!bare) {
      struct stat st;
      if (stat(path.c_str(), &st) != 0) continue;  // absent files are not worth listing
    }
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = dlerror();
      if (!bare) r.tried.push_back(path + ": " + (why ? why : "dlopen failed"));
      continue;
    }
    Api* api = new Api();
    api->path = path;
    std::string missing;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn) missing += std::string(missing.empty() ? "" : ", ") + name;
    };
    sym(api->create, "cublasLtCreate");
    sym(api->destroy, "cublasLtDestroy");
    sym(api->getVersion, "cublasLtGetVersion");
    sym(api->matmulDescCreate, "cublasLtMatmulDescCreate");
    sym(api->matmulDescDestroy, "cublasLtMatmulDescDestroy");
    sym(api->matmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
    sym(api->matrixLayoutCreate, "cublasLtMatrixLayoutCreate");
    sym(api->matrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
    sym(api->matrixLayoutSetAttribute, "cublasLtMatrixLayoutSetAttribute");
    sym(api->preferenceCreate, "cublasLtMatmulPreferenceCreate");
    sym(api->preferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    sym(api->preferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    sym(api->algoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
    sym(api->matmul, "cublasLtMatmul");
    if (!missing.empty()) {
      r.tried.push_back(path + ": loaded, but lacks " + missing);
      delete api;
      dlclose(lib);
      continue;
    }
    api->version = api->getVersion();
    r.api = api;  // kept for the life of the process
    return r;
  }
  std::string msg = "cuBLASLt not found: set VRAMLAB_CUBLASLT to libcublasLt.so.13 (or .12) or the directory holding it. "
                    "It ships with the CUDA toolkit (lib64/) and in the nvidia-cublas Python wheel (site-packages/nvidia/cublas/lib).";
  if (env.vramlab_cublaslt && *env.vramlab_cublaslt)
    msg += std::string(" VRAMLAB_CUBLASLT=") + env.vramlab_cublaslt + " did not load.";
  if (!r.tried.empty()) {
    msg += " Tried:";
    for (const std::string& t : r.tried) msg += " [" + t + "]";
  } else {
    msg += " No candidate file exists.";
  }
  r.error = msg;
  return r;
}

const LoadResult& shared() {
  static std::once_flag once;
  static LoadResult result;
  std::call_once(once, [] { result = load(SearchEnv::from_process()); });
  return result;
}

}  // namespace lt

namespace {

// cublasLtProbe(env?): runs the search with the given environment values
// (keys as the variable names; missing keys = unset) or the process's own,
// without caching. Returns {found, path, version, candidates, tried, error}.
Napi::Value CublasLtProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lt::SearchEnv se = lt::SearchEnv::from_process();
  std::vector<std::string> keep;  // owns the strings se points into
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    keep.reserve(8);
    auto get = [&](const char* name) -> const char* {
      Napi::Value v = o.Get(name);
      if (!v.IsString()) return nullptr;
      keep.push_back(v.As<Napi::String>().Utf8Value());
      return keep.back().c_str();
    };
    se.vramlab_cublaslt = get("VRAMLAB_CUBLASLT");
    se.cuda_home = get("CUDA_HOME");
    se.cuda_path = get("CUDA_PATH");
    se.virtual_env = get("VIRTUAL_ENV");
    se.conda_prefix = get("CONDA_PREFIX");
    se.pythonpath = get("PYTHONPATH");
    se.home = get("HOME");
    se.path = get("PATH");
  }
  lt::LoadResult r = lt::load(se);
  std::vector<std::string> cands = lt::candidate_paths(se);
  Napi::Object out = Napi::Object::New(env);
  out.Set("found", r.api != nullptr);
  if (r.api) {
    out.Set("path", r.api->path);
    out.Set("version", static_cast<double>(r.api->version));
  } else {
    out.Set("error", r.error);
  }
  Napi::Array c = Napi::Array::New(env, cands.size());
  for (size_t i = 0; i < cands.size(); i++) c.Set(static_cast<uint32_t>(i), cands[i]);
  out.Set("candidates", c);
  Napi::Array t = Napi::Array::New(env, r.tried.size());
  for (size_t i = 0; i < r.tried.size(); i++) t.Set(static_cast<uint32_t>(i), r.tried[i]);
  out.Set("tried", t);
  return out;
}

void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("cublasLtProbe", CublasLtProbe); }
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
