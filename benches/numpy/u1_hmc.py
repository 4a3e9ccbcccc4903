"""A vectorised numpy HMC of 2D U(1) lattice gauge theory, the peer of `lft hmc` in
docs/PERFORMANCE.md (issue 36): many chains at once as one array theta[chain, mu, x0, x1],
S = -beta sum_P cos theta_P with theta_P(x) = theta_0(x) + theta_1(x + 0) - theta_0(x + 1)
- theta_1(x), leapfrog, a Metropolis test per chain. Prints the time per chain-trajectory
and per link update (one leapfrog step of one link).

    python3 benches/numpy/u1_hmc.py --size 16 --chains 64 --trajectories 50
"""

import argparse
import time

import numpy as np


def plaquettes(theta):
    t0, t1 = theta[:, 0], theta[:, 1]
    return t0 + np.roll(t1, -1, axis=1) - np.roll(t0, -1, axis=2) - t1


def action(theta, beta):
    return -beta * np.cos(plaquettes(theta)).sum(axis=(1, 2))


def force(theta, beta):
    s = beta * np.sin(plaquettes(theta))
    # theta_0(y) enters P(y) with + and P(y - 1) with -; theta_1(y) enters P(y) with - and
    # P(y - 0) with +.
    g0 = s - np.roll(s, 1, axis=2)
    g1 = np.roll(s, 1, axis=1) - s
    return np.stack([g0, g1], axis=1)


def trajectory(theta, beta, eps, steps, rng):
    p = rng.standard_normal(theta.shape)
    h0 = 0.5 * (p * p).sum(axis=(1, 2, 3)) + action(theta, beta)
    q = theta.copy()
    p = p - 0.5 * eps * force(q, beta)
    for step in range(steps):
        q = q + eps * p
        h = 0.5 * eps if step == steps - 1 else eps
        p = p - h * force(q, beta)
    h1 = 0.5 * (p * p).sum(axis=(1, 2, 3)) + action(q, beta)
    accept = rng.random(theta.shape[0]) < np.exp(np.minimum(0.0, h0 - h1))
    theta = np.where(accept[:, None, None, None], q, theta)
    return np.mod(theta + np.pi, 2 * np.pi) - np.pi, accept.mean()


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--size", type=int, default=16)
    a.add_argument("--chains", type=int, default=64)
    a.add_argument("--beta", type=float, default=4.0)
    a.add_argument("--steps", type=int, default=10)
    a.add_argument("--length", type=float, default=1.0)
    a.add_argument("--trajectories", type=int, default=50)
    a.add_argument("--repeats", type=int, default=3)
    args = a.parse_args()
    rng = np.random.default_rng(1)
    l, c = args.size, args.chains
    theta = rng.uniform(-np.pi, np.pi, size=(c, 2, l, l))
    eps = args.length / args.steps
    for _ in range(5):
        theta, _ = trajectory(theta, args.beta, eps, args.steps, rng)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        acc = 0.0
        for _ in range(args.trajectories):
            theta, a_ = trajectory(theta, args.beta, eps, args.steps, rng)
            acc += a_
        times.append((time.perf_counter() - t) / (args.trajectories * c))
    per = sorted(times)[len(times) // 2]
    links = 2 * l * l
    print(
        f"numpy {np.__version__}: L = {l}, {c} chains, beta = {args.beta}, {args.steps} leapfrog "
        f"steps: {per * 1e6:.1f} us per chain-trajectory, "
        f"{per / (links * args.steps) * 1e9:.2f} ns per link update, "
        f"acceptance {acc / args.trajectories:.3f} (median of {args.repeats})"
    )


if __name__ == "__main__":
    main()
