// Host emulation of the CUDA kernels (src/emulate.rs): the kernel files compile as C++20; each
// CUDA thread of a block is a fiber (ucontext) on one OS thread, and __syncthreads switches to
// the next fiber, so a block runs round by round from barrier to barrier; blocks run one after
// another. Slow, and blind to warp-level and memory-model effects, but exact about every index
// and formula, so the kernels' arithmetic is tested on machines without a GPU.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ucontext.h>

#include <functional>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace lft_emu {
inline dim3 grid_dim, block_dim, thread_idx, block_idx;
// 228 KiB, the most shared memory a block of sm_90 can opt into.
inline constexpr size_t shared_capacity = 228 * 1024;
alignas(16) inline unsigned char shared[shared_capacity];
inline void* shared_memory() { return shared; }

struct Fiber {
    ucontext_t context;
    std::vector<char> stack = std::vector<char>(256 * 1024);
    bool done = false;
};
inline std::vector<Fiber> fibers;
inline ucontext_t scheduler;
inline unsigned current = 0;
inline std::function<void()>* kernel_body = nullptr;

inline void fiber_entry() {
    (*kernel_body)();
    fibers[current].done = true;  // returning resumes the scheduler (uc_link)
}

// At a barrier: back to the scheduler, which runs the block's other fibers up to it.
inline void barrier() { swapcontext(&fibers[current].context, &scheduler); }

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

inline void __syncthreads() { lft_emu::barrier(); }
inline unsigned __umulhi(unsigned a, unsigned b) {
    return (unsigned)(((unsigned long long)a * b) >> 32);
}
inline double __longlong_as_double(unsigned long long bits) { return lft_emu::f64_bits(bits); }
inline void sincospi(double x, double* s, double* c) {
    *s = sin(M_PI * x);
    *c = cos(M_PI * x);
}
inline double atomicAdd(double* p, double v) {
    double old = *p;
    *p += v;
    return old;
}

// Runs `kernel` on every thread of every block: per block, one fiber per thread, resumed in
// turn until every one has returned (a fiber that returns early leaves its block's barriers).
template <class F>
void lft_launch(dim3 grid, dim3 block, size_t shared_bytes, F kernel) {
    if (shared_bytes > lft_emu::shared_capacity) {
        fprintf(stderr, "emulator: %zu bytes of shared memory requested\n", shared_bytes);
        exit(3);
    }
    lft_emu::grid_dim = grid;
    lft_emu::block_dim = block;
    unsigned threads = block.x * block.y * block.z;
    if (lft_emu::fibers.size() < threads) lft_emu::fibers.resize(threads);
    std::function<void()> body = kernel;
    lft_emu::kernel_body = &body;
    size_t blocks = (size_t)grid.x * grid.y * grid.z;
    for (size_t b = 0; b < blocks; ++b) {
        lft_emu::block_idx = dim3{(unsigned)(b % grid.x), (unsigned)((b / grid.x) % grid.y),
                                  (unsigned)(b / ((size_t)grid.x * grid.y))};
        memset(lft_emu::shared, 0xff, shared_bytes);  // NaN: catches reads of unset memory
        for (unsigned t = 0; t < threads; ++t) {
            lft_emu::Fiber& f = lft_emu::fibers[t];
            getcontext(&f.context);
            f.context.uc_stack.ss_sp = f.stack.data();
            f.context.uc_stack.ss_size = f.stack.size();
            f.context.uc_link = &lft_emu::scheduler;
            makecontext(&f.context, lft_emu::fiber_entry, 0);
            f.done = false;
        }
        for (unsigned remaining = threads; remaining > 0;) {
            for (unsigned t = 0; t < threads; ++t) {
                if (lft_emu::fibers[t].done) continue;
                lft_emu::current = t;
                lft_emu::thread_idx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                swapcontext(&lft_emu::scheduler, &lft_emu::fibers[t].context);
                if (lft_emu::fibers[t].done) --remaining;
            }
        }
    }
}
