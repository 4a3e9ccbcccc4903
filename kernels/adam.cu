// Adam with bias correction on the device (lft-flow's Adam), one thread per parameter, the
// gradient first scaled by `scale` (global-norm clipping: min(1, max_norm / |g|), from the host):
//   g = scale grad, m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
//   theta <- theta - lr (m / c1) / (sqrt(v / c2) + eps),  c1 = 1 - b1^t, c2 = 1 - b2^t.
extern "C" __global__ void adam_step(double* params, const double* grad, double* m, double* v,
                                     long long count, double lr, double beta1, double beta2,
                                     double eps, double c1, double c2, double scale) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    double g = scale * grad[i];
    double mi = beta1 * m[i] + (1.0 - beta1) * g;
    double vi = beta2 * v[i] + (1.0 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] -= lr * (mi / c1) / (sqrt(vi / c2) + eps);
}
