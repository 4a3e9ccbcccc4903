// The reverse-KL loss and the importance-weight statistics of a batch, one block (blockDim.x
// doubles of shared memory, a power of two). With log weights lw_b = -S(phi_b) - log q(phi_b):
//   out[0] = loss = (1/n) sum_b (log q_b + S_b)          (the reverse KL up to log Z),
//   out[1] = log sum_b e^{lw_b}                          (log Z-hat + log n),
//   out[2] = ESS / n = (sum_b e^{lw_b})^2 / (n sum_b e^{2 lw_b}),
//   out[3] = max_b lw_b.
// The sums run after subtracting the maximum, so nothing overflows. Its gradient seeds are the
// constant 1/n on log q_b and S_b, which the host passes as scalars.
extern "C" __global__ void kl_summary(const double* logq, const double* action, int n,
                                      double* out) {
    LFT_SHARED(double, scratch);
    double loss = 0.0, m = lft_neg_inf();
    for (int b = threadIdx.x; b < n; b += blockDim.x) {
        loss += logq[b] + action[b];
        m = fmax(m, -action[b] - logq[b]);
    }
    loss = block_sum(loss, scratch);
    m = block_max(m, scratch);
    double s1 = 0.0, s2 = 0.0;
    for (int b = threadIdx.x; b < n; b += blockDim.x) {
        double e = exp(-action[b] - logq[b] - m);
        s1 += e;
        s2 += e * e;
    }
    s1 = block_sum(s1, scratch);
    s2 = block_sum(s2, scratch);
    if (threadIdx.x == 0) {
        out[0] = loss / n;
        out[1] = m + log(s1);
        out[2] = s1 * s1 / (n * s2);
        out[3] = m;
    }
}

// sum_i v_i^2 added into *out: grid-stride blocks of blockDim.x threads with as many doubles of
// shared memory, for the gradient norm of clipping.
extern "C" __global__ void sum_squares(const double* v, long long count, double* out) {
    LFT_SHARED(double, scratch);
    double sum = 0.0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (long long)gridDim.x * blockDim.x)
        sum += v[i] * v[i];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) atomicAdd(out, sum);
}

// y += a x over `count` entries.
extern "C" __global__ void scaled_add(double* y, const double* x, double a, long long count) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] += a * x[i];
}

// y[b * stride + j] += a[b] x[b * stride + j]: a per-configuration scale (stride = V).
extern "C" __global__ void scaled_add_rows(double* y, const double* x, const double* a,
                                           int stride, long long count) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] += a[i / stride] * x[i];
}

// Float conversions of the f32 conditioner path.
extern "C" __global__ void to_f32(const double* x, long long count, float* y) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] = (float)x[i];
}

extern "C" __global__ void to_f64(const float* x, long long count, double* y) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] = (double)x[i];
}

// y = x over `count` entries.
extern "C" __global__ void copy_values(const double* x, long long count, double* y) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] = x[i];
}

// y = value over `count` entries.
extern "C" __global__ void fill_values(double* y, long long count, double value) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] = value;
}

// y *= a over `count` entries.
extern "C" __global__ void scale_values(double* y, long long count, double a) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] *= a;
}
