// Host emulation of the CUDA kernels (src/emulate.rs): the kernel files compile as C++20, each
// block's threads run as std::threads with a std::barrier for __syncthreads, blocks one after
// another. Slow, and blind to warp-level and memory-model effects, but exact about every index
// and formula, so the kernels' arithmetic is tested on machines without a GPU.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <barrier>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace lft_emu {
inline dim3 grid_dim, block_dim;
inline thread_local dim3 thread_idx, block_idx;
inline thread_local std::barrier<>* block_barrier = nullptr;
// 228 KiB, the most shared memory a block of sm_90 can opt into.
inline constexpr size_t shared_capacity = 228 * 1024;
alignas(16) inline unsigned char shared[shared_capacity];
inline std::mutex atomic_mutex;
inline void* shared_memory() { return shared; }

template <class T>
std::vector<T> load(const char* path, size_t len) {
    std::vector<T> v(len);
    FILE* f = fopen(path, "rb");
    if (!f || fread(v.data(), sizeof(T), len, f) != len) {
        fprintf(stderr, "emulator: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return v;
}

template <class T>
void save(const char* path, const std::vector<T>& v) {
    FILE* f = fopen(path, "wb");
    if (!f || fwrite(v.data(), sizeof(T), v.size(), f) != v.size()) {
        fprintf(stderr, "emulator: cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

inline double f64_bits(unsigned long long bits) {
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

inline float f32_bits(unsigned bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
}  // namespace lft_emu

#define threadIdx (lft_emu::thread_idx)
#define blockIdx (lft_emu::block_idx)
#define blockDim (lft_emu::block_dim)
#define gridDim (lft_emu::grid_dim)
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define LFT_SHARED(type, name) type* name = (type*)lft_emu::shared_memory()

inline void __syncthreads() { lft_emu::block_barrier->arrive_and_wait(); }
inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}
inline double __longlong_as_double(unsigned long long bits) { return lft_emu::f64_bits(bits); }
inline void sincospi(double x, double* s, double* c) {
    *s = sin(M_PI * x);
    *c = cos(M_PI * x);
}
inline double atomicAdd(double* p, double v) {
    std::lock_guard<std::mutex> guard(lft_emu::atomic_mutex);
    double old = *p;
    *p += v;
    return old;
}

// Runs `kernel` on every thread of every block. The block's threads are one std::thread each,
// kept for all blocks; a thread that returns early leaves its block's barrier.
template <class F>
void lft_launch(dim3 grid, dim3 block, size_t shared_bytes, F kernel) {
    if (shared_bytes > lft_emu::shared_capacity) {
        fprintf(stderr, "emulator: %zu bytes of shared memory requested\n", shared_bytes);
        exit(3);
    }
    lft_emu::grid_dim = grid;
    lft_emu::block_dim = block;
    unsigned threads = block.x * block.y * block.z;
    size_t blocks = (size_t)grid.x * grid.y * grid.z;
    std::vector<std::unique_ptr<std::barrier<>>> barriers;
    for (size_t b = 0; b < blocks; ++b) barriers.push_back(std::make_unique<std::barrier<>>(threads));
    std::barrier<> between(threads);
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            lft_emu::thread_idx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
            for (size_t b = 0; b < blocks; ++b) {
                if (t == 0) memset(lft_emu::shared, 0xff, shared_bytes);  // NaN: catches unset reads
                between.arrive_and_wait();
                lft_emu::block_idx = dim3{(unsigned)(b % grid.x), (unsigned)((b / grid.x) % grid.y),
                                          (unsigned)(b / ((size_t)grid.x * grid.y))};
                lft_emu::block_barrier = barriers[b].get();
                kernel();
                barriers[b]->arrive_and_drop();
                between.arrive_and_wait();
            }
        });
    }
    for (auto& w : workers) w.join();
}
