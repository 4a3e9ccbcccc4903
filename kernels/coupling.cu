// Masked affine couplings on a batch (lft-flow's MaskedCoupling<Affine>), with the conditioner's
// input and Z2 symmetrisation. A (active[x] = 1 or 0) marks the transformed sites; theta[b, c, x]
// holds (s, t) in channels 0 and 1:
//   forward  y = x e^s + t,      inverse  x = (y - t) e^{-s},     log h' = s on active sites,
// frozen sites unchanged. Every kernel takes the configurations b = 0 .. n - 1 of x[n, V].

// The conditioner's input f = sign (1 - A) x, written as T (float64 or float32), `count` = n V.
template <typename T>
__device__ void mask_frozen(const double* x, const double* active, int volume, long long count,
                            double sign, T* f) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) f[i] = (T)(sign * (1.0 - active[i % volume]) * x[i]);
}

// Its backward into the coupling's input gradient: gx[i] += sign (1 - A) g_f[i].
template <typename T>
__device__ void mask_frozen_backward(const T* g_f, const double* active, int volume,
                                     long long count, double sign, double* gx) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) gx[i] += sign * (1.0 - active[i % volume]) * (double)g_f[i];
}

// Z2 symmetrisation of the conditioner output with channel mirror (perm, sign):
//   theta[b, c, x] = 1/2 (o+[b, c, x] + sign[c] o-[b, perm[c], x]),
// or theta = o+ when o_minus is null; float64 out either way. `count` = n C V.
template <typename T>
__device__ void mirror_combine(const T* o_plus, const T* o_minus, const int* perm,
                               const double* sign, int channels, int volume, long long count,
                               double* theta) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    if (!o_minus) {
        theta[i] = (double)o_plus[i];
        return;
    }
    long long cv = (long long)channels * volume;
    long long b = i / cv;
    int c = (int)((i / volume) % channels), x = (int)(i % volume);
    double mirrored = (double)o_minus[b * cv + (long long)perm[c] * volume + x];
    theta[i] = 0.5 * ((double)o_plus[i] + sign[c] * mirrored);
}

// Its backward: given g = dL/dtheta, g+ = 1/2 g and g-[b, perm[c], x] = 1/2 sign[c] g[b, c, x]
// (g+ = g when g_minus is null).
template <typename T>
__device__ void mirror_split(const double* g, const int* perm, const double* sign, int channels,
                             int volume, long long count, T* g_plus, T* g_minus) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    if (!g_minus) {
        g_plus[i] = (T)g[i];
        return;
    }
    long long cv = (long long)channels * volume;
    long long b = i / cv;
    int c = (int)((i / volume) % channels), x = (int)(i % volume);
    g_plus[i] = (T)(0.5 * g[i]);
    g_minus[b * cv + (long long)perm[c] * volume + x] = (T)(0.5 * sign[c] * g[i]);
}

#define LFT_COUPLING_KERNELS(T, SUFFIX)                                                          \
    extern "C" __global__ void mask_frozen_##SUFFIX(const double* x, const double* active,      \
                                                    int volume, long long count, double sign,   \
                                                    T* f) {                                     \
        mask_frozen<T>(x, active, volume, count, sign, f);                                       \
    }                                                                                            \
    extern "C" __global__ void mask_frozen_backward_##SUFFIX(const T* g_f,                      \
                                                             const double* active, int volume,  \
                                                             long long count, double sign,      \
                                                             double* gx) {                      \
        mask_frozen_backward<T>(g_f, active, volume, count, sign, gx);                           \
    }                                                                                            \
    extern "C" __global__ void mirror_combine_##SUFFIX(const T* o_plus, const T* o_minus,       \
                                                       const int* perm, const double* sign,     \
                                                       int channels, int volume,                \
                                                       long long count, double* theta) {        \
        mirror_combine<T>(o_plus, o_minus, perm, sign, channels, volume, count, theta);          \
    }                                                                                            \
    extern "C" __global__ void mirror_split_##SUFFIX(const double* g, const int* perm,          \
                                                     const double* sign, int channels,          \
                                                     int volume, long long count, T* g_plus,    \
                                                     T* g_minus) {                              \
        mirror_split<T>(g, perm, sign, channels, volume, count, g_plus, g_minus);                \
    }

LFT_COUPLING_KERNELS(double, f64)
LFT_COUPLING_KERNELS(float, f32)

// One block per configuration (blockDim.x doubles of shared memory): y = h(x) (or h^{-1} when
// `inverse`), and logdet[b] += ld_sign * sum_{x active} s_x. Always float64.
extern "C" __global__ void affine_apply(const double* in, const double* theta,
                                        const double* active, int volume, int inverse,
                                        double ld_sign, double* out, double* logdet) {
    LFT_SHARED(double, scratch);
    long long base = (long long)blockIdx.x * volume;
    const double* s = theta + 2 * base;
    const double* t = s + volume;
    double sum = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) {
        double v = in[base + x];
        if (active[x] != 0.0) {
            v = inverse ? (v - t[x]) * exp(-s[x]) : v * exp(s[x]) + t[x];
            sum += s[x];
        }
        out[base + x] = v;
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) logdet[blockIdx.x] += ld_sign * sum;
}

// Backward of the forward map, one thread per (b, x): with gy = dL/dy and gld[b] = dL/d logdet_b,
//   active: dL/ds = gy x e^s + gld, dL/dt = gy, dL/dx = gy e^s;  frozen: dL/dx = gy, dL/dtheta = 0.
extern "C" __global__ void affine_backward(const double* x, const double* theta,
                                           const double* active, const double* gy,
                                           const double* gld, int volume, int n, double* gx,
                                           double* gtheta) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    long long b = i / volume;
    int site = (int)(i % volume);
    long long s_at = 2 * b * volume + site, t_at = s_at + volume;
    if (active[site] != 0.0) {
        double e = exp(theta[s_at]);
        gtheta[s_at] = gy[i] * x[i] * e + gld[b];
        gtheta[t_at] = gy[i];
        gx[i] = gy[i] * e;
    } else {
        gtheta[s_at] = 0.0;
        gtheta[t_at] = 0.0;
        gx[i] = gy[i];
    }
}

// Backward of the inverse map, x = (y - t) e^{-s} the inverse's output, with gx = dL/dx and
// gld[b] = dL/d(sum s): dL/dy = gx e^{-s}, dL/ds = -gx x + gld, dL/dt = -gx e^{-s} (active sites).
extern "C" __global__ void affine_inverse_backward(const double* x, const double* theta,
                                                   const double* active, const double* gx,
                                                   const double* gld, int volume, int n,
                                                   double* gy, double* gtheta) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    long long b = i / volume;
    int site = (int)(i % volume);
    long long s_at = 2 * b * volume + site, t_at = s_at + volume;
    if (active[site] != 0.0) {
        double e = exp(-theta[s_at]);
        gtheta[s_at] = -gx[i] * x[i] + gld[b];
        gtheta[t_at] = -gx[i] * e;
        gy[i] = gx[i] * e;
    } else {
        gtheta[s_at] = 0.0;
        gtheta[t_at] = 0.0;
        gy[i] = gx[i];
    }
}
