// The particles of an annealing pass on the device (src/device_anneal.rs): the values the
// weights and the adaptive schedule need, and resampling. The particles' HMC moves are
// hmc.cu's kernels on the tempered target.

// One block per particle (blockDim.x doubles of shared memory):
//   values[3b] = S(phi_b), values[3b + 1] = P(phi_b) (the prior's -log r up to its constant,
//   common.cuh), values[3b + 2] = sum_x phi_{b,x} (the key of sorted resampling).
extern "C" __global__ void anneal_values(const double* phi, const int* fwd, int dim, int volume,
                                         double m2, double lambda, double hf, int prior,
                                         double m0, double* values) {
    LFT_SHARED(double, scratch);
    const double* p = phi + (long long)blockIdx.x * volume;
    double s = 0.0, q = 0.0, m = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) {
        s += phi4_site_action(p, fwd, dim, volume, x, m2, lambda, hf);
        q += prior_site_term(p, fwd, dim, volume, x, prior, m0);
        m += p[x];
    }
    s = block_sum(s, scratch);
    q = block_sum(q, scratch);
    m = block_sum(m, scratch);
    if (threadIdx.x == 0) {
        values[3 * blockIdx.x] = s;
        values[3 * blockIdx.x + 1] = q;
        values[3 * blockIdx.x + 2] = m;
    }
}

// Resampling: out[slot, x] = in[ancestors[slot], x] over count = n V entries.
extern "C" __global__ void anneal_gather(const double* in, const int* ancestors, int volume,
                                         long long count, double* out) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    long long slot = i / volume;
    out[i] = in[(long long)ancestors[slot] * volume + i % volume];
}
