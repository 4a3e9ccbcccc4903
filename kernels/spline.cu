// Masked rational-quadratic spline couplings on a batch (lft-flow's RqSpline, Durkan et al.
// 2019): per active site, 3K - 1 raw parameters raw[b, c, x] (K widths, K heights, K - 1
// interior derivatives), the spline monotone on [-B, B] and the identity outside. Knots:
//   wn = min_w + (1 - K min_w) softmax(raw_w),  x_0 = -B, x_j = -B + 2B sum_{i<j} wn_i, x_K = B,
// heights likewise, derivatives d_0 = d_K = 1, d_j = min_d + softplus(raw_{2K+j-1}). In bin k,
// with w, h, s = h / w, xi = (x - x_k) / w, theta = xi (1 - xi), D = d0 + d1 - 2s:
//   y = y_k + h (s xi^2 + d0 theta) / (s + D theta),
//   log dy/dx = 2 ln s + ln(d1 xi^2 + 2 s theta + d0 (1 - xi)^2) - 2 ln(s + D theta).
// The formulas, the inverse's root and its float guards follow src/spline.rs of lft-flow line
// for line, so that the GPU matches the CPU to rounding.

#define LFT_MAX_BINS 32

struct SplineShape {
    int bins;
    double bound, min_width, min_height, min_derivative;
};

struct Knots {
    double pw[LFT_MAX_BINS], ph[LFT_MAX_BINS];
    double x[LFT_MAX_BINS + 1], y[LFT_MAX_BINS + 1], d[LFT_MAX_BINS + 1];
};

__device__ double softplus(double r) { return r > 30.0 ? r : log1p(exp(r)); }
__device__ double sigmoid(double r) { return 1.0 / (1.0 + exp(-r)); }

// Softmax of raw[c * stride], c = 0 .. k - 1.
__device__ void softmax_strided(const double* raw, long long stride, int k, double* out) {
    double m = lft_neg_inf();
    for (int c = 0; c < k; ++c) m = fmax(m, raw[c * stride]);
    double sum = 0.0;
    for (int c = 0; c < k; ++c) {
        out[c] = exp(raw[c * stride] - m);
        sum += out[c];
    }
    for (int c = 0; c < k; ++c) out[c] /= sum;
}

__device__ void place_knots(const double* p, int k, double bound, double min, double* out) {
    out[0] = -bound;
    double c = 0.0;
    for (int i = 0; i < k; ++i) {
        c += min + (1.0 - min * k) * p[i];
        out[i + 1] = (i + 1 == k) ? bound : -bound + 2.0 * bound * c;
    }
}

// The knots of one site from its raw parameters raw[c * stride].
__device__ void spline_knots(const SplineShape& sh, const double* raw, long long stride,
                             Knots* kn) {
    int k = sh.bins;
    softmax_strided(raw, stride, k, kn->pw);
    softmax_strided(raw + k * stride, stride, k, kn->ph);
    place_knots(kn->pw, k, sh.bound, sh.min_width, kn->x);
    place_knots(kn->ph, k, sh.bound, sh.min_height, kn->y);
    kn->d[0] = 1.0;
    for (int j = 1; j < k; ++j) kn->d[j] = sh.min_derivative + softplus(raw[(2 * k + j - 1) * stride]);
    kn->d[k] = 1.0;
}

// The bin holding v among knots t: the number of interior knots t_1 .. t_{K-1} that are <= v.
__device__ int spline_bin(const double* t, int k, double v) {
    int bin = 0;
    for (int j = 1; j < k; ++j) bin += (t[j] <= v);
    return bin;
}

// y and log dy/dx in `bin`, and (when gy, gl are given) their partial derivatives with respect to
// (x, x_k, w, y_k, h, d0, d1).
__device__ void spline_eval(const Knots& kn, int bin, double x, double* y_out, double* l_out,
                            double* gy, double* gl) {
    double xk = kn.x[bin], yk = kn.y[bin];
    double w = kn.x[bin + 1] - xk, h = kn.y[bin + 1] - yk;
    double d0 = kn.d[bin], d1 = kn.d[bin + 1];
    double s = h / w;
    double xi = fmin(fmax((x - xk) / w, 0.0), 1.0);
    double th = xi * (1.0 - xi), dth = 1.0 - 2.0 * xi;
    double dd = d0 + d1 - 2.0 * s;
    double num = s * xi * xi + d0 * th, den = s + dd * th;
    double r = num / den;
    double p = d1 * xi * xi + 2.0 * s * th + d0 * (1.0 - xi) * (1.0 - xi);
    *y_out = yk + h * r;
    *l_out = 2.0 * log(s) + log(p) - 2.0 * log(den);
    if (!gy) return;
    double den2 = den * den;
    double r_xi = ((2.0 * s * xi + d0 * dth) * den - num * dd * dth) / den2;
    double r_s = (xi * xi * den - num * (1.0 - 2.0 * th)) / den2;
    double r_d0 = (th * den - num * th) / den2;
    double r_d1 = (-num * th) / den2;
    double l_xi = (2.0 * d1 * xi + 2.0 * s * dth - 2.0 * d0 * (1.0 - xi)) / p - 2.0 * dd * dth / den;
    double l_s = 2.0 / s + 2.0 * th / p - 2.0 * (1.0 - 2.0 * th) / den;
    double l_d0 = (1.0 - xi) * (1.0 - xi) / p - 2.0 * th / den;
    double l_d1 = xi * xi / p - 2.0 * th / den;
    double xi_x = 1.0 / w, xi_xk = -1.0 / w, xi_w = -xi / w;
    double s_w = -s / w, s_h = 1.0 / w;
    gy[0] = h * r_xi * xi_x;
    gy[1] = h * r_xi * xi_xk;
    gy[2] = h * (r_xi * xi_w + r_s * s_w);
    gy[3] = 1.0;
    gy[4] = r + h * r_s * s_h;
    gy[5] = h * r_d0;
    gy[6] = h * r_d1;
    gl[0] = l_xi * xi_x;
    gl[1] = l_xi * xi_xk;
    gl[2] = l_xi * xi_w + l_s * s_w;
    gl[3] = 0.0;
    gl[4] = l_s * s_h;
    gl[5] = l_d0;
    gl[6] = l_d1;
}

// The inverse in one site: the root xi of a xi^2 + b xi + c = 0 in the form that does not cancel.
__device__ double spline_invert(const Knots& kn, int bin, double y) {
    double xk = kn.x[bin], yk = kn.y[bin];
    double w = kn.x[bin + 1] - xk, h = kn.y[bin + 1] - yk;
    double d0 = kn.d[bin], d1 = kn.d[bin + 1];
    double s = h / w, dy = y - yk, dd = d0 + d1 - 2.0 * s;
    double a = h * (s - d0) + dy * dd, b = h * d0 - dy * dd, c = -s * dy;
    double disc = fmax(b * b - 4.0 * a * c, 0.0);
    double xi;
    if (b >= 0.0) {
        double denom = -b - sqrt(disc);
        xi = denom == 0.0 ? 0.0 : 2.0 * c / denom;
    } else {
        xi = (-b + sqrt(disc)) / (2.0 * a);
    }
    xi = isfinite(xi) ? fmin(fmax(xi, 0.0), 1.0) : 0.0;
    return xk + xi * w;
}

// One block per configuration (blockDim.x doubles of shared memory): out = spline (or its inverse)
// on the active sites, logdet[b] += ld_sign * sum of log dy/dx (at the site's x either way).
extern "C" __global__ void spline_apply(const double* in, const double* raw, const double* active,
                                        int volume, int bins, double bound, double min_width,
                                        double min_height, double min_derivative, int inverse,
                                        double ld_sign, double* out, double* logdet) {
    LFT_SHARED(double, scratch);
    SplineShape sh = {bins, bound, min_width, min_height, min_derivative};
    long long base = (long long)blockIdx.x * volume;
    const double* rb = raw + base * (3 * bins - 1);
    double sum = 0.0;
    for (int x = threadIdx.x; x < volume; x += blockDim.x) {
        double v = in[base + x];
        if (active[x] != 0.0 && v >= -bound && v <= bound) {
            Knots kn;
            spline_knots(sh, rb + x, volume, &kn);
            double l, y;
            if (inverse) {
                int bin = spline_bin(kn.y, bins, v);
                v = spline_invert(kn, bin, v);
                spline_eval(kn, bin, v, &y, &l, 0, 0);
            } else {
                int bin = spline_bin(kn.x, bins, v);
                spline_eval(kn, bin, v, &y, &l, 0, 0);
                v = y;
            }
            sum += l;
        }
        out[base + x] = v;
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) logdet[blockIdx.x] += ld_sign * sum;
}

// d/d(raw sizes) of a knot placement: with gw_i = g_start for i < bin, g_size for i = bin, 0 above,
//   graw_j = 2B (1 - K min) p_j (gw_j - sum_i gw_i p_i).
__device__ void size_gradient(const double* p, int k, int bin, double bound, double min,
                              double g_start, double g_size, double* graw, long long stride) {
    double scale = 2.0 * bound * (1.0 - min * k), avg = 0.0;
    for (int i = 0; i < k; ++i) avg += (i < bin ? g_start : (i == bin ? g_size : 0.0)) * p[i];
    for (int j = 0; j < k; ++j) {
        double gw = j < bin ? g_start : (j == bin ? g_size : 0.0);
        graw[j * stride] = scale * p[j] * (gw - avg);
    }
}

// Backward of the forward map, one thread per (b, x): given gy = dL/dy and gld[b] = dL/d logdet_b,
// writes dL/dx into gx and dL/draw (zero on frozen sites and outside [-B, B]) into graw.
extern "C" __global__ void spline_backward(const double* x, const double* raw,
                                           const double* active, const double* gy,
                                           const double* gld, int volume, int n, int bins,
                                           double bound, double min_width, double min_height,
                                           double min_derivative, double* gx, double* graw) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)n * volume) return;
    long long b = i / volume;
    int site = (int)(i % volume), per_site = 3 * bins - 1;
    const double* r = raw + b * per_site * volume + site;
    double* g = graw + b * per_site * volume + site;
    double v = x[i];
    if (active[site] == 0.0 || v < -bound || v > bound) {
        for (int c = 0; c < per_site; ++c) g[(long long)c * volume] = 0.0;
        gx[i] = gy[i];
        return;
    }
    SplineShape sh = {bins, bound, min_width, min_height, min_derivative};
    Knots kn;
    spline_knots(sh, r, volume, &kn);
    int bin = spline_bin(kn.x, bins, v);
    double y, l, dy[7], dl[7], tot[7];
    spline_eval(kn, bin, v, &y, &l, dy, dl);
    for (int j = 0; j < 7; ++j) tot[j] = gy[i] * dy[j] + gld[b] * dl[j];
    size_gradient(kn.pw, bins, bin, bound, min_width, tot[1], tot[2], g, volume);
    size_gradient(kn.ph, bins, bin, bound, min_height, tot[3], tot[4], g + (long long)bins * volume,
                  volume);
    double* gd = g + 2LL * bins * volume;
    for (int j = 1; j < bins; ++j) gd[(long long)(j - 1) * volume] = 0.0;
    if (bin >= 1) gd[(long long)(bin - 1) * volume] += tot[5] * sigmoid(r[(2LL * bins + bin - 1) * volume]);
    if (bin + 1 < bins) gd[(long long)bin * volume] += tot[6] * sigmoid(r[(2LL * bins + bin) * volume]);
    gx[i] = tot[0];
}
