// The phi^4 action and its gradient on a batch of configurations phi[n, V] (formulas in
// common.cuh; any dimension 1..4 through the neighbour tables).

// One thread per (configuration, site): grad[b, x] = dS/dphi_x of configuration b.
extern "C" __global__ void phi4_gradient(const double* phi, const int* fwd, const int* bwd,
                                         int dim, int volume, int n, double m2, double lambda,
                                         double hf, double* grad) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    int b = (int)(i / volume), x = (int)(i % volume);
    grad[i] = phi4_site_gradient(phi + (long long)b * volume, fwd, bwd, dim, volume, x, m2, lambda,
                                 hf);
}

// One block per configuration (blockDim.x doubles of shared memory): action[b] = S(phi_b).
extern "C" __global__ void phi4_action(const double* phi, const int* fwd, int dim, int volume,
                                       double m2, double lambda, double hf, double* action) {
    LFT_SHARED(double, scratch);
    const double* p = phi + (long long)blockIdx.x * volume;
    double sum = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x)
        sum += phi4_site_action(p, fwd, dim, volume, x, m2, lambda, hf);
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) action[blockIdx.x] = sum;
}
