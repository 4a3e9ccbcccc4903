// A batched HMC trajectory for n chains of the phi^4 action at once, phi and pi both [n, V].
// The host runs the integrator's schedule (src/schedule.rs: leapfrog or Omelyan as kicks and
// drifts) as one launch per step; the gradient is fused into the kick, so a trajectory of
// N steps reads phi and pi about 2N times and writes nothing else. The annealing issue's particle
// moves reuse these kernels with their own tempered action.

// pi[b, x] -= h * dS/dphi_x(phi_b), with dS scaled by `beta` (beta = 1: the target itself).
extern "C" __global__ void hmc_kick(const double* phi, double* pi, const int* fwd, const int* bwd,
                                    int dim, int volume, int n, double m2, double lambda,
                                    double beta, double h) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    int b = (int)(i / volume), x = (int)(i % volume);
    double g = phi4_site_gradient(phi + (long long)b * volume, fwd, bwd, dim, volume, x, m2, lambda);
    pi[i] -= h * beta * g;
}

// phi += h * pi over `count` entries.
extern "C" __global__ void hmc_drift(double* phi, const double* pi, long long count, double h) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) phi[i] += h * pi[i];
}

// One block per chain (blockDim.x doubles of shared memory):
//   energy[b] = beta S(phi_b) + 1/2 sum_x pi_{b,x}^2.
extern "C" __global__ void hmc_hamiltonian(const double* phi, const double* pi, const int* fwd,
                                           int dim, int volume, double m2, double lambda,
                                           double beta, double* energy) {
    LFT_SHARED(double, scratch);
    long long base = (long long)blockIdx.x * volume;
    const double* p = phi + base;
    double sum = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) {
        double q = pi[base + x];
        sum += beta * phi4_site_action(p, fwd, dim, volume, x, m2, lambda) + 0.5 * q * q;
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) energy[blockIdx.x] = sum;
}

// The Metropolis test of chain b (one block per chain): accepted with probability
// min(1, exp(h_old - h_new)), the uniform from Philox at counter (b, 0, stream) and key `seed`;
// a rejected chain gets phi_old back. accepted[b] = 1 or 0.
extern "C" __global__ void hmc_accept(double* phi, const double* phi_old, const double* h_old,
                                      const double* h_new, int volume, u32 seed0, u32 seed1,
                                      u32 stream0, u32 stream1, int* accepted) {
    __shared__ int keep;
    int b = blockIdx.x;
    if (threadIdx.x == 0) {
        Philox4 r = philox4x32_10((u32)b, 0u, stream0, stream1, seed0, seed1);
        double u = uniform53(r.v[0], r.v[1]);
        double dh = h_new[b] - h_old[b];
        // dh is NaN for a diverged trajectory: rejected.
        keep = (dh <= 0.0) || (u < exp(-dh));
        accepted[b] = keep;
    }
    __syncthreads();
    if (keep) return;
    long long base = (long long)b * volume;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) phi[base + x] = phi_old[base + x];
}
