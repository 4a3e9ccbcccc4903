// Shared by every kernel file: prepended to each before NVRTC compiles it (kernels.rs), with a
// #line directive so that the compiler's messages name the kernel file's own lines.

// Dynamic shared memory of a block. The host emulator (tests/emulator) defines its own.
#ifndef LFT_SHARED
#define LFT_SHARED(type, name) extern __shared__ type name[]
#endif

typedef unsigned int u32;
typedef unsigned long long u64;

// -infinity (NVRTC has no INFINITY macro).
__device__ __forceinline__ double lft_neg_inf() { return __longlong_as_double(0xfff0000000000000ULL); }

// ---- Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11), the counter-based generator of the
// prior draws, HMC momenta and Metropolis tests. Host twin: src/philox.rs (known answers of
// Random123 tested there), so that a run is reproducible from its seed on either device.
struct Philox4 {
    u32 v[4];
};

__device__ __forceinline__ Philox4 philox4x32_10(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0,
                                                 u32 k1) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    Philox4 r = {{c0, c1, c2, c3}};
    return r;
}

// A uniform double in [0, 1) from 53 of the 64 bits (hi, lo).
__device__ __forceinline__ double uniform53(u32 hi, u32 lo) {
    u64 bits = ((u64)hi << 32 | (u64)lo) >> 11;
    return (double)bits * (1.0 / 9007199254740992.0);
}

// Two standard normals from one Philox block by Box-Muller:
//   u1, u2 uniform in [0, 1), r = sqrt(-2 ln(1 - u1)), z = (r cos 2 pi u2, r sin 2 pi u2).
__device__ __forceinline__ void normal_pair(Philox4 b, double* z0, double* z1) {
    double u1 = uniform53(b.v[0], b.v[1]), u2 = uniform53(b.v[2], b.v[3]);
    double r = sqrt(-2.0 * log(1.0 - u1));
    double s, c;
    sincospi(2.0 * u2, &s, &c);
    *z0 = r * c;
    *z1 = r * s;
}

// ---- Block reductions: blockDim.x a power of two (at most 1024), `scratch` holding blockDim.x
// doubles of shared memory. Every thread of the block must call them; all get the result.
__device__ double block_sum(double v, double* scratch) {
    scratch[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) scratch[threadIdx.x] += scratch[threadIdx.x + s];
        __syncthreads();
    }
    double total = scratch[0];
    __syncthreads();
    return total;
}

__device__ double block_max(double v, double* scratch) {
    scratch[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) scratch[threadIdx.x] = fmax(scratch[threadIdx.x], scratch[threadIdx.x + s]);
        __syncthreads();
    }
    double m = scratch[0];
    __syncthreads();
    return m;
}

// ---- The phi^4 action in the AKS form of lft-action's Phi4 (any dimension d = 1..4, through
// neighbour tables fwd[mu * V + x] = x + mu, bwd[mu * V + x] = x - mu):
//   S(phi) = sum_x [ (2d + m2) phi_x^2 + lambda phi_x^4 - 2 phi_x sum_mu phi_{x+mu} ],
//   dS/dphi_x = 2 (2d + m2) phi_x + 4 lambda phi_x^3 - 2 sum_mu (phi_{x+mu} + phi_{x-mu}).
// hf is the external field h of S - h sum_x phi_x (0: none).
__device__ __forceinline__ double phi4_site_gradient(const double* p, const int* fwd,
                                                     const int* bwd, int dim, int volume, int x,
                                                     double m2, double lambda, double hf) {
    double hops = 0.0;
    for (int mu = 0; mu < dim; ++mu) hops += p[fwd[mu * volume + x]] + p[bwd[mu * volume + x]];
    double v = p[x];
    return v * (2.0 * (2.0 * dim + m2) + 4.0 * lambda * v * v) - 2.0 * hops - hf;
}

__device__ __forceinline__ double phi4_site_action(const double* p, const int* fwd, int dim,
                                                   int volume, int x, double m2, double lambda,
                                                   double hf) {
    double hops = 0.0;
    for (int mu = 0; mu < dim; ++mu) hops += p[fwd[mu * volume + x]];
    double v = p[x], v2 = v * v;
    return v2 * (2.0 * dim + m2 + lambda * v2) - 2.0 * v * hops - hf * v;
}

// ---- Tempered targets of annealing: S_t = a S + w P, with P the prior's -log r up to its
// constant. prior 0: none (plain HMC, a = 1); 1: the standard normal, P = 1/2 sum_x phi_x^2;
// 2: the free field of mass^2 m0, P = S_0 (the phi^4 terms with lambda = 0 and m^2 = m0).
#define LFT_PRIOR_NONE 0
#define LFT_PRIOR_NORMAL 1
#define LFT_PRIOR_FREE 2

// P's term at site x.
__device__ __forceinline__ double prior_site_term(const double* p, const int* fwd, int dim,
                                                  int volume, int x, int prior, double m0) {
    if (prior == LFT_PRIOR_NORMAL) return 0.5 * p[x] * p[x];
    if (prior == LFT_PRIOR_FREE) return phi4_site_action(p, fwd, dim, volume, x, m0, 0.0, 0.0);
    return 0.0;
}

// dS_t/dphi_x in the order of lft-action's scaled_gradient / free_scaled_gradient:
//   a (phi (2(2d + m2) + 4 lambda phi^2) - 2 hops - hf) + w phi           (normal),
//   a (...) + w (2(2d + m0) phi - 2 hops)                                 (free field).
__device__ __forceinline__ double tempered_site_gradient(const double* p, const int* fwd,
                                                         const int* bwd, int dim, int volume,
                                                         int x, double m2, double lambda,
                                                         double hf, double a, double w,
                                                         int prior, double m0) {
    double hops = 0.0;
    for (int mu = 0; mu < dim; ++mu) hops += p[fwd[mu * volume + x]] + p[bwd[mu * volume + x]];
    double v = p[x];
    double g = a * (v * (2.0 * (2.0 * dim + m2) + 4.0 * lambda * v * v) - 2.0 * hops - hf);
    if (prior == LFT_PRIOR_NORMAL) return g + w * v;
    if (prior == LFT_PRIOR_FREE) return g + w * (2.0 * (2.0 * dim + m0) * v - 2.0 * hops);
    return g;
}

// ---- Per-chain Philox streams of the batched HMC (src/philox.rs, ChainStream). Chain b of a
// segment is described by five ints of `chains`: its key (k0, k1), the counter t of the
// segment's first trajectory (lo, hi) and the trajectories it runs in the segment. Trajectory
// t of a chain draws its momenta from counters (pair, 0, t), its Metropolis uniform from
// (0, 1, t); the host draws its length (0, 2, t) and a hot start (pair, 3, 0).
#define LFT_CHAIN_INTS 5
#define LFT_DRAW_MOMENTA 0u
#define LFT_DRAW_ACCEPT 1u

// Whether chain `c` runs trajectory j of the segment, and its counter t + j.
__device__ __forceinline__ bool chain_runs(const int* c, int j) { return j < c[4]; }
__device__ __forceinline__ u64 chain_counter(const int* c, int j) {
    return (((u64)(u32)c[3] << 32) | (u64)(u32)c[2]) + (u64)j;
}
