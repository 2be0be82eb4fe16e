// MMACE_KERNEL: the attribute that marks a hot frozen-model kernel for GCC function
// multi-versioning. Such a kernel is compiled for several instruction sets and the variant is
// picked at load time, so the default portable build still uses AVX2 / AVX-512 where available.
// Put it on the definition (in the .cpp), not on the declaration.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(MMACE_NO_CLONES)
#define MMACE_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MMACE_KERNEL
#endif
