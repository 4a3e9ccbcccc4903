// Periodic convolutions of lft-flow's ConvNet on a batch, h[n, c_in, V] -> y[n, c_out, V]:
//   y[b, o, x] = act( bias[o] + sum_i sum_k W[o, i, k] h[b, i, x + delta_k] ),
// the site x + delta_k read from sites[k * V + x] (offsets in lft-flow's order, so that
// K - 1 - k is the offset -delta_k). Parameters are lft-flow's flat layout: W[c_out, c_in, K],
// then bias[c_out], kept in float64; the f32 variants compute in float32 with the weights
// rounded once into shared memory. Backward, with g = dL/dpre:
//   dL/dW[o, i, k] = sum_{b, x} g[b, o, x] h[b, i, x + delta_k],  dL/dbias[o] = sum_{b, x} g[b, o, x],
//   dL/dh[b, i, z] = sum_o sum_k W[o, i, k] g[b, o, z - delta_k].
// Activations: 0 identity, 1 tanh, 2 leaky ReLU with slope alpha below 0.

template <typename T>
__device__ __forceinline__ T activate(T v, int act, T alpha) {
    if (act == 1) return tanh(v);
    if (act == 2) return v >= (T)0 ? v : alpha * v;
    return v;
}

template <typename T>
__device__ __forceinline__ T activation_slope(T pre, int act, T alpha) {
    if (act == 1) {
        T t = tanh(pre);
        return (T)1 - t * t;
    }
    if (act == 2) return pre >= (T)0 ? (T)1 : alpha;
    return (T)1;
}

// Grid (ceil(V / blockDim.x), n); shared memory: the c_out (c_in K + 1) parameters as T. Each
// thread computes every output channel of one site, the weights read from shared memory.
template <typename T>
__device__ void conv_forward(const double* params, const T* h, const int* sites, int c_in,
                             int c_out, int K, int volume, int act, T alpha, T* pre, T* y) {
    LFT_SHARED(unsigned char, shared_bytes);
    T* w = (T*)shared_bytes;
    int n_weights = c_out * c_in * K, n_params = n_weights + c_out;
    for (int j = threadIdx.x; j < n_params; j += blockDim.x) w[j] = (T)params[j];
    __syncthreads();
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    if (x >= volume) return;
    long long b = blockIdx.y;
    const T* hb = h + b * c_in * volume;
    for (int o = 0; o < c_out; ++o) {
        T acc = w[n_weights + o];
        const T* wo = w + o * c_in * K;
        for (int i = 0; i < c_in; ++i) {
            const T* hi = hb + (long long)i * volume;
            for (int k = 0; k < K; ++k) acc += wo[i * K + k] * hi[sites[k * volume + x]];
        }
        long long out = (b * c_out + o) * volume + x;
        if (pre) pre[out] = acc;
        y[out] = activate(acc, act, alpha);
    }
}

// gpre = gy * act'(pre) over `count` entries.
template <typename T>
__device__ void activation_backward(const T* pre, const T* gy, long long count, int act, T alpha,
                                    T* gpre) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) gpre[i] = gy[i] * activation_slope(pre[i], act, alpha);
}

// Grid (ceil(V / blockDim.x), n), shared memory as conv_forward: dh = dL/dh (accumulate != 0:
// added to what dh holds).
template <typename T>
__device__ void conv_backward_input(const double* params, const T* g, const int* sites, int c_in,
                                    int c_out, int K, int volume, int accumulate, T* dh) {
    LFT_SHARED(unsigned char, shared_bytes);
    T* w = (T*)shared_bytes;
    int n_weights = c_out * c_in * K;
    for (int j = threadIdx.x; j < n_weights; j += blockDim.x) w[j] = (T)params[j];
    __syncthreads();
    int z = blockIdx.x * blockDim.x + threadIdx.x;
    if (z >= volume) return;
    long long b = blockIdx.y;
    const T* gb = g + b * c_out * volume;
    for (int i = 0; i < c_in; ++i) {
        T acc = (T)0;
        for (int o = 0; o < c_out; ++o) {
            const T* go = gb + (long long)o * volume;
            const T* wo = w + (o * c_in + i) * K;
            for (int k = 0; k < K; ++k) acc += wo[k] * go[sites[(K - 1 - k) * volume + z]];
        }
        long long out = (b * c_in + i) * volume + z;
        dh[out] = accumulate ? dh[out] + acc : acc;
    }
}

// Grid (n_params, slices): block (j, s) sums parameter j's gradient over the configurations
// b = s, s + slices, ... in float64 and adds it to dparams[j] atomically. blockDim.x doubles of
// shared memory.
template <typename T>
__device__ void conv_backward_weight(const T* h, const T* g, const int* sites, int c_in, int c_out,
                                     int K, int volume, int n, double* dparams) {
    LFT_SHARED(double, scratch);
    int j = blockIdx.x, n_weights = c_out * c_in * K;
    double sum = 0.0;
    if (j < n_weights) {
        int o = j / (c_in * K), i = (j / K) % c_in, k = j % K;
        const int* shifted = sites + (long long)k * volume;
        for (int b = blockIdx.y; b < n; b += gridDim.y) {
            const T* go = g + ((long long)b * c_out + o) * volume;
            const T* hi = h + ((long long)b * c_in + i) * volume;
            for (int x = threadIdx.x; x < volume; x += blockDim.x)
                sum += (double)go[x] * (double)hi[shifted[x]];
        }
    } else {
        int o = j - n_weights;
        for (int b = blockIdx.y; b < n; b += gridDim.y) {
            const T* go = g + ((long long)b * c_out + o) * volume;
            for (int x = threadIdx.x; x < volume; x += blockDim.x) sum += (double)go[x];
        }
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) atomicAdd(dparams + j, sum);
}

#define LFT_CONV_KERNELS(T, SUFFIX)                                                             \
    extern "C" __global__ void conv_forward_##SUFFIX(const double* params, const T* h,         \
                                                     const int* sites, int c_in, int c_out,     \
                                                     int K, int volume, int act, T alpha,       \
                                                     T* pre, T* y) {                            \
        conv_forward<T>(params, h, sites, c_in, c_out, K, volume, act, alpha, pre, y);          \
    }                                                                                           \
    extern "C" __global__ void activation_backward_##SUFFIX(const T* pre, const T* gy,          \
                                                            long long count, int act, T alpha,  \
                                                            T* gpre) {                          \
        activation_backward<T>(pre, gy, count, act, alpha, gpre);                               \
    }                                                                                           \
    extern "C" __global__ void conv_backward_input_##SUFFIX(const double* params, const T* g,  \
                                                            const int* sites, int c_in,         \
                                                            int c_out, int K, int volume,       \
                                                            int accumulate, T* dh) {            \
        conv_backward_input<T>(params, g, sites, c_in, c_out, K, volume, accumulate, dh);      \
    }                                                                                           \
    extern "C" __global__ void conv_backward_weight_##SUFFIX(const T* h, const T* g,           \
                                                             const int* sites, int c_in,        \
                                                             int c_out, int K, int volume,      \
                                                             int n, double* dparams) {          \
        conv_backward_weight<T>(h, g, sites, c_in, c_out, K, volume, n, dparams);              \
    }

LFT_CONV_KERNELS(double, f64)
LFT_CONV_KERNELS(float, f32)
