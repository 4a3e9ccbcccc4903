// Batched HMC of n chains at once, phi and pi both [n, V], on the phi^4 action or on a tempered
// target S_t = a S + w P of annealing (common.cuh). Every chain has its own Philox stream and
// its own step coefficients: the host lays out the integrator's kicks and drifts
// (src/schedule.rs, adjacent kicks merged) as h[op][chain], zero past a chain's trajectory
// length, so chains may differ in step size (tuning) and length (jitter) and a chain with
// nothing to do stays put. A segment of trajectories j = 0, 1, ... runs as
//   hmc_refresh, hmc_hamiltonian (old), the kicks and drifts, hmc_hamiltonian (new), hmc_accept,
// each one launch, so a trajectory of N leapfrog steps reads phi and pi about 2N times.

// One thread per (chain, pair of sites): fresh momenta of trajectory j from the chain's stream,
// and phi_old = phi for the Metropolis test.
extern "C" __global__ void hmc_refresh(const double* phi, double* phi_old, double* pi,
                                       const int* chains, int volume, int n, int j) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int pairs = (volume + 1) / 2;
    if (i >= (long long)n * pairs) return;
    int b = (int)(i / pairs), p = (int)(i % pairs);
    const int* c = chains + LFT_CHAIN_INTS * b;
    if (!chain_runs(c, j)) return;
    u64 t = chain_counter(c, j);
    Philox4 r = philox4x32_10((u32)p, LFT_DRAW_MOMENTA, (u32)t, (u32)(t >> 32), (u32)c[0], (u32)c[1]);
    double z0, z1;
    normal_pair(r, &z0, &z1);
    long long s = (long long)b * volume + 2 * p;
    pi[s] = z0;
    phi_old[s] = phi[s];
    if (2 * p + 1 < volume) {
        pi[s + 1] = z1;
        phi_old[s + 1] = phi[s + 1];
    }
}

// pi[b, x] -= h[b] * dS_t/dphi_x(phi_b), the gradient computed in the kick; nothing where
// h[b] = 0.
extern "C" __global__ void hmc_kick(const double* phi, double* pi, const int* fwd, const int* bwd,
                                    int dim, int volume, int n, double m2, double lambda,
                                    double hf, double a, double w, int prior, double m0,
                                    const double* h) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    int b = (int)(i / volume), x = (int)(i % volume);
    double hb = h[b];
    if (hb == 0.0) return;
    pi[i] -= hb * tempered_site_gradient(phi + (long long)b * volume, fwd, bwd, dim, volume, x,
                                         m2, lambda, hf, a, w, prior, m0);
}

// phi[b, x] += h[b] * pi[b, x].
extern "C" __global__ void hmc_drift(double* phi, const double* pi, int volume, int n,
                                     const double* h) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    double hb = h[i / volume];
    if (hb != 0.0) phi[i] += hb * pi[i];
}

// One block per chain (blockDim.x doubles of shared memory):
//   energy[2b] = S_t(phi_b) = a S + w P,  energy[2b + 1] = S_t + 1/2 sum_x pi_{b,x}^2.
extern "C" __global__ void hmc_hamiltonian(const double* phi, const double* pi, const int* fwd,
                                           int dim, int volume, double m2, double lambda,
                                           double hf, double a, double w, int prior, double m0,
                                           double* energy) {
    LFT_SHARED(double, scratch);
    long long base = (long long)blockIdx.x * volume;
    const double* p = phi + base;
    double s = 0.0, q = 0.0, k = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) {
        s += phi4_site_action(p, fwd, dim, volume, x, m2, lambda, hf);
        q += prior_site_term(p, fwd, dim, volume, x, prior, m0);
        double m = pi[base + x];
        k += 0.5 * m * m;
    }
    s = block_sum(s, scratch);
    q = block_sum(q, scratch);
    k = block_sum(k, scratch);
    if (threadIdx.x == 0) {
        double st = prior == LFT_PRIOR_NONE ? a * s : a * s + w * q;
        energy[2 * blockIdx.x] = st;
        energy[2 * blockIdx.x + 1] = st + k;
    }
}

// The Metropolis test of trajectory j of chain b (one block per chain): accepted with
// probability min(1, exp(-dH)), the uniform from the chain's stream; a rejected chain gets
// phi_old back. result[3b..3b+3] = (S_t after the test, dH, 1 accepted / 0 rejected), or
// (NaN, NaN, -1) for a chain that does not run trajectory j.
extern "C" __global__ void hmc_accept(double* phi, const double* phi_old, const double* e_old,
                                      const double* e_new, const int* chains, int volume, int j,
                                      double* result) {
    __shared__ int keep;
    int b = blockIdx.x;
    const int* c = chains + LFT_CHAIN_INTS * b;
    if (!chain_runs(c, j)) {
        if (threadIdx.x == 0) {
            double nan = __longlong_as_double(0x7ff8000000000000ULL);
            result[3 * b] = nan;
            result[3 * b + 1] = nan;
            result[3 * b + 2] = -1.0;
        }
        return;
    }
    if (threadIdx.x == 0) {
        u64 t = chain_counter(c, j);
        Philox4 r = philox4x32_10(0u, LFT_DRAW_ACCEPT, (u32)t, (u32)(t >> 32), (u32)c[0], (u32)c[1]);
        double u = uniform53(r.v[0], r.v[1]);
        double dh = e_new[2 * b + 1] - e_old[2 * b + 1];
        // dh is NaN for a diverged trajectory: rejected.
        keep = (dh <= 0.0) || (u < exp(-dh));
        result[3 * b] = keep ? e_new[2 * b] : e_old[2 * b];
        result[3 * b + 1] = dh;
        result[3 * b + 2] = keep ? 1.0 : 0.0;
    }
    __syncthreads();
    if (keep) return;
    long long base = (long long)b * volume;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) phi[base + x] = phi_old[base + x];
}
