// The phi^4 action in the AKS form of lft-action's Phi4 on a batch of configurations
// phi[n, V] (any dimension d = 1..4, through neighbour tables):
//   S(phi) = sum_x [ (2d + m2) phi_x^2 + lambda phi_x^4 - 2 phi_x sum_mu phi_{x+mu} ],
//   dS/dphi_x = 2 (2d + m2) phi_x + 4 lambda phi_x^3 - 2 sum_mu (phi_{x+mu} + phi_{x-mu}).
// fwd[mu * V + x] and bwd[mu * V + x] are the sites x + mu and x - mu.

extern "C" __global__ void phi4_gradient(const double* phi, const int* fwd, const int* bwd,
                                         int dim, int volume, int n, double m2, double lambda,
                                         double* grad) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    int b = (int)(i / volume), x = (int)(i % volume);
    const double* p = phi + (long long)b * volume;
    double hops = 0.0;
    for (int mu = 0; mu < dim; ++mu) {
        hops += p[fwd[mu * volume + x]] + p[bwd[mu * volume + x]];
    }
    double v = p[x];
    grad[i] = v * (2.0 * (2.0 * dim + m2) + 4.0 * lambda * v * v) - 2.0 * hops;
}

// One block per configuration: each thread sums the local terms of a strided set of sites,
// then a shared-memory tree reduction (blockDim.x a power of two, at most 1024).
extern "C" __global__ void phi4_action(const double* phi, const int* fwd, int dim, int volume,
                                       double m2, double lambda, double* action) {
    extern __shared__ double partial[];
    const double* p = phi + (long long)blockIdx.x * volume;
    double mass = 2.0 * dim + m2, sum = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) {
        double hops = 0.0;
        for (int mu = 0; mu < dim; ++mu) hops += p[fwd[mu * volume + x]];
        double v = p[x], v2 = v * v;
        sum += v2 * (mass + lambda * v2) - 2.0 * v * hops;
    }
    partial[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) action[blockIdx.x] = partial[0];
}
