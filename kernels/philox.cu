// Standard normal draws from Philox4x32-10 (common.cuh): the flow's prior and HMC momenta.
// Value 2i and 2i + 1 of a stream come from the block at counter (i_lo, i_hi, stream0, stream1)
// with key (seed0, seed1), by Box-Muller; src/philox.rs computes the same numbers on the host.
extern "C" __global__ void normal_fill(double* out, long long count, u32 seed0, u32 seed1,
                                       u32 stream0, u32 stream1) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (2 * i >= count) return;
    Philox4 r = philox4x32_10((u32)i, (u32)((u64)i >> 32), stream0, stream1, seed0, seed1);
    double z0, z1;
    normal_pair(r, &z0, &z1);
    out[2 * i] = z0;
    if (2 * i + 1 < count) out[2 * i + 1] = z1;
}

// log r(z) of the standard normal prior per configuration (one block each, blockDim.x doubles
// of shared memory): logr[b] = -1/2 sum_x z_{b,x}^2 - (V/2) log 2 pi.
extern "C" __global__ void normal_log_density(const double* z, int volume, double* logr) {
    LFT_SHARED(double, scratch);
    const double* p = z + (long long)blockIdx.x * volume;
    double sum = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) sum += p[x] * p[x];
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) logr[blockIdx.x] = -0.5 * sum - 0.5 * volume * 1.8378770664093453;
}
