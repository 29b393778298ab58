// The few cuBLASLt entry points vramlab uses, resolved at run time with
// dlopen/dlsym (no link-time dependency, no cuBLAS headers needed: the types
// below restate the ABI of cublasLt.h / cublas_api.h, CUDA 12 and 13).
// cublaslt_loader.cpp finds the library; cuda_gemm.cu calls it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vl {
namespace lt {

using Status = int;  // cublasStatus_t, 0 = success
using Handle = void*;
using MatmulDesc = void*;
using MatrixLayout = void*;
using Preference = void*;
using Stream = void*;  // cudaStream_t

struct MatmulAlgo { uint64_t data[8]; };
struct HeuristicResult {
  MatmulAlgo algo;
  size_t workspaceSize;
  Status state;
  float wavesCount;
  int reserved[4];
};

// cudaDataType_t (library_types.h)
enum DataType : int { R_32F = 0, R_16F = 2, R_8I = 3, R_32I = 10, R_16BF = 14, R_8F_E4M3 = 28, R_8F_E5M2 = 29 };
// cublasComputeType_t
enum ComputeType : int { COMPUTE_32F = 68, COMPUTE_32I = 72 };
// cublasOperation_t
enum Operation : int { OP_N = 0, OP_T = 1 };
// cublasLtMatmulDescAttributes_t
enum DescAttr : int { DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_EPILOGUE = 7, DESC_BIAS_POINTER = 8 };
// cublasLtMatmulPreferenceAttributes_t
enum PrefAttr : int { PREF_MAX_WORKSPACE_BYTES = 1 };
// cublasLtMatrixLayoutAttribute_t
enum LayoutAttr : int { LAYOUT_BATCH_COUNT = 5, LAYOUT_STRIDED_BATCH_OFFSET = 6 };
// cublasLtEpilogue_t
enum Epilogue : int { EPILOGUE_DEFAULT = 1, EPILOGUE_BIAS = 4 };

struct Api {
  std::string path;
  size_t version = 0;
  Status (*create)(Handle*) = nullptr;
  Status (*destroy)(Handle) = nullptr;
  size_t (*getVersion)() = nullptr;
  Status (*matmulDescCreate)(MatmulDesc*, int computeType, int scaleType) = nullptr;
  Status (*matmulDescDestroy)(MatmulDesc) = nullptr;
  Status (*matmulDescSetAttribute)(MatmulDesc, int attr, const void* buf, size_t size) = nullptr;
  Status (*matrixLayoutCreate)(MatrixLayout*, int type, uint64_t rows, uint64_t cols, int64_t ld) = nullptr;
  Status (*matrixLayoutDestroy)(MatrixLayout) = nullptr;
  Status (*matrixLayoutSetAttribute)(MatrixLayout, int attr, const void* buf, size_t size) = nullptr;
  Status (*preferenceCreate)(Preference*) = nullptr;
  Status (*preferenceDestroy)(Preference) = nullptr;
  Status (*preferenceSetAttribute)(Preference, int attr, const void* buf, size_t size) = nullptr;
  Status (*algoGetHeuristic)(Handle, MatmulDesc, MatrixLayout, MatrixLayout, MatrixLayout, MatrixLayout, Preference,
                             int requested, HeuristicResult* results, int* returned) = nullptr;
  Status (*matmul)(Handle, MatmulDesc, const void* alpha, const void* A, MatrixLayout, const void* B, MatrixLayout,
                   const void* beta, const void* C, MatrixLayout, void* D, MatrixLayout, const MatmulAlgo* algo,
                   void* workspace, size_t workspaceSize, Stream stream) = nullptr;
};

// Where the loader looks, in order, given environment values (nullptr = unset).
struct SearchEnv {
  const char* vramlab_cublaslt = nullptr;  // VRAMLAB_CUBLASLT: a library file or a directory holding one
  const char* cuda_home = nullptr;         // CUDA_HOME
  const char* cuda_path = nullptr;         // CUDA_PATH
  const char* virtual_env = nullptr;       // VIRTUAL_ENV
  const char* conda_prefix = nullptr;      // CONDA_PREFIX
  const char* pythonpath = nullptr;        // PYTHONPATH
  const char* home = nullptr;              // HOME
  const char* path = nullptr;              // PATH: a python3 in PREFIX/bin adds PREFIX's site-packages
  static SearchEnv from_process();
};
std::vector<std::string> candidate_paths(const SearchEnv& env);
// VRAMLAB_CUBLASLT=off (or 0 / none): never load it.
bool disabled(const SearchEnv& env);

struct LoadResult {
  const Api* api = nullptr;          // null when not found
  std::vector<std::string> tried;    // "path: why it failed"
  std::string error;                 // set when api is null
};
// Tries the candidates in order; the first library that loads and has every entry point wins.
LoadResult load(const SearchEnv& env);
// The process-wide library (loaded once, on first use).
const LoadResult& shared();

}  // namespace lt
}  // namespace vl
