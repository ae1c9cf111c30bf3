// CK(call): a CUDA runtime call that must succeed; the harness programs exit with the error's name,
// place and call otherwise.
#pragma once
#include <cstdio>
#include <cstdlib>

#define CK(x)                                                                                   \
  do {                                                                                          \
    cudaError_t e_ = (x);                                                                       \
    if (e_ != cudaSuccess) {                                                                    \
      fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #x); \
      exit(1);                                                                                  \
    }                                                                                           \
  } while (0)
