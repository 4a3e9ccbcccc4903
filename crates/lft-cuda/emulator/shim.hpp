// Host emulation of the CUDA kernels (src/emulate.rs): the kernel files compile as C++20 into
// one shared library, loaded once per process; each CUDA thread of a block is a fiber
// (ucontext) on the calling OS thread, and __syncthreads switches to the next fiber, so a block
// runs round by round from barrier to barrier; blocks run one after another. Slow, and blind to warp-level and memory-model effects, but exact about every index
// and formula, so the kernels' arithmetic is tested on machines without a GPU.
#pragma once
// Fibers switch with _setjmp/_longjmp between stacks, which glibc's fortified longjmp refuses.
#undef _FORTIFY_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ucontext.h>

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>
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

// A fiber lives for the whole process: started once on its own stack (ucontext), it runs the
// kernel body of the current block of every launch in a loop. Switches between it and the
// scheduler are _setjmp/_longjmp, which make no system call (swapcontext saves the signal
// mask with one), so a barrier costs a few dozen instructions.
struct Fiber {
    ucontext_t context;
    jmp_buf resume;
    std::vector<char> stack = std::vector<char>(256 * 1024);
    bool started = false;
    bool done = false;
};
inline std::vector<Fiber> fibers;
inline jmp_buf scheduler;
inline unsigned current = 0;
inline std::function<void()>* kernel_body = nullptr;

// Back to the scheduler; returns when the scheduler resumes this fiber.
inline void suspend() {
    if (!_setjmp(fibers[current].resume)) _longjmp(scheduler, 1);
}

inline void fiber_main() {
    for (;;) {
        (*kernel_body)();
        fibers[current].done = true;
        suspend();
    }
}

// Runs fiber t until it reaches a barrier or finishes its body.
inline void run_fiber(unsigned t) {
    current = t;
    if (_setjmp(scheduler)) return;
    Fiber& f = fibers[t];
    if (!f.started) {
        f.started = true;
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack.data();
        f.context.uc_stack.ss_size = f.stack.size();
        f.context.uc_link = nullptr;
        makecontext(&f.context, fiber_main, 0);
        setcontext(&f.context);
    }
    _longjmp(f.resume, 1);
}

// Whether the running launch calls its threads directly, one after another (a kernel without
// barriers): no fibers, no context switches.
inline bool direct = false;

// At a barrier: back to the scheduler, which runs the block's other fibers up to it.
inline void barrier() {
    if (direct) {
        fprintf(stderr, "emulator: a kernel launched without fibers reached __syncthreads\n");
        abort();
    }
    suspend();
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
// turn until every one has finished (a fiber that finishes early leaves its block's barriers).
// Returns 0, or 1 where the launch asks for more shared memory than a block can have.
// A kernel without barriers (`fibers` false) runs its threads as plain calls in order.
template <class F>
int lft_launch(dim3 grid, dim3 block, size_t shared_bytes, F kernel, bool fibers = true) {
    if (shared_bytes > lft_emu::shared_capacity) return 1;
    lft_emu::grid_dim = grid;
    lft_emu::block_dim = block;
    unsigned threads = block.x * block.y * block.z;
    if (!fibers) {
        lft_emu::direct = true;
        size_t blocks = (size_t)grid.x * grid.y * grid.z;
        for (size_t b = 0; b < blocks; ++b) {
            lft_emu::block_idx = dim3{(unsigned)(b % grid.x), (unsigned)((b / grid.x) % grid.y),
                                      (unsigned)(b / ((size_t)grid.x * grid.y))};
            memset(lft_emu::shared, 0xff, shared_bytes);
            for (unsigned t = 0; t < threads; ++t) {
                lft_emu::thread_idx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                kernel();
            }
        }
        lft_emu::direct = false;
        return 0;
    }
    if (lft_emu::fibers.size() < threads) lft_emu::fibers.resize(threads);
    std::function<void()> body = kernel;
    lft_emu::kernel_body = &body;
    size_t blocks = (size_t)grid.x * grid.y * grid.z;
    for (size_t b = 0; b < blocks; ++b) {
        lft_emu::block_idx = dim3{(unsigned)(b % grid.x), (unsigned)((b / grid.x) % grid.y),
                                  (unsigned)(b / ((size_t)grid.x * grid.y))};
        memset(lft_emu::shared, 0xff, shared_bytes);  // NaN: catches reads of unset memory
        for (unsigned t = 0; t < threads; ++t) lft_emu::fibers[t].done = false;
        for (unsigned remaining = threads; remaining > 0;) {
            for (unsigned t = 0; t < threads; ++t) {
                if (lft_emu::fibers[t].done) continue;
                lft_emu::thread_idx = dim3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                lft_emu::run_fiber(t);
                if (lft_emu::fibers[t].done) --remaining;
            }
        }
    }
    return 0;
}

// ---- The library's entry point (src/emulate.rs): a launch by name, its arguments as tagged
// 64-bit words, each checked against the kernel's own parameter type.
namespace lft_emu {
enum Kind : int { F64 = 1, F32 = 2, I32 = 3, I64 = 4, U32 = 5, PTR_F64 = 10, PTR_F32 = 11, PTR_I32 = 12, PTR_NULL = 13 };

struct Arg {
    int kind;
    int pad;
    unsigned long long bits;
};

template <class T>
bool convert(const Arg& a, T& out) {
    if constexpr (std::is_pointer_v<T>) {
        using E = std::remove_cv_t<std::remove_pointer_t<T>>;
        int want = std::is_same_v<E, double> ? PTR_F64
                   : std::is_same_v<E, float> ? PTR_F32
                   : std::is_same_v<E, int>   ? PTR_I32
                                              : -1;
        if (a.kind != want && a.kind != PTR_NULL) return false;
        out = (T)(uintptr_t)a.bits;
        return true;
    } else if constexpr (std::is_same_v<T, double>) {
        if (a.kind != F64) return false;
        memcpy(&out, &a.bits, 8);
        return true;
    } else if constexpr (std::is_same_v<T, float>) {
        if (a.kind != F32) return false;
        unsigned b = (unsigned)a.bits;
        memcpy(&out, &b, 4);
        return true;
    } else if constexpr (std::is_same_v<T, int>) {
        if (a.kind != I32) return false;
        out = (int)(long long)a.bits;
        return true;
    } else if constexpr (std::is_same_v<T, long long>) {
        if (a.kind != I64) return false;
        out = (long long)a.bits;
        return true;
    } else if constexpr (std::is_same_v<T, unsigned>) {
        if (a.kind != U32) return false;
        out = (unsigned)a.bits;
        return true;
    } else {
        return false;
    }
}

template <class... P, size_t... I>
int invoke(void (*f)(P...), bool fibers, dim3 grid, dim3 block, size_t shared, const Arg* args,
           int n, std::index_sequence<I...>) {
    if (n != (int)sizeof...(P)) return 2;
    std::tuple<std::remove_cv_t<P>...> values;
    if (!(convert(args[I], std::get<I>(values)) && ...)) return 3;
    return lft_launch(grid, block, shared, [&] { f(std::get<I>(values)...); }, fibers);
}

// Launches `f`; `fibers` false for a kernel that never reaches a barrier (src/emulate.rs
// decides from its source).
template <class... P>
int invoke(void (*f)(P...), bool fibers, dim3 grid, dim3 block, size_t shared, const Arg* args,
           int n) {
    return invoke(f, fibers, grid, block, shared, args, n, std::index_sequence_for<P...>{});
}
}  // namespace lft_emu
