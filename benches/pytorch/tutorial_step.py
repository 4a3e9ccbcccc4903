"""The tutorial recipe of arXiv:2101.08176 in PyTorch, timed per reverse-KL training step, as the
reference for lft's `cargo bench -p lft-flow --bench train_step` (docs/PERFORMANCE.md).

Same model as lft's configs/tutorial.toml: 2D phi^4 on 8x8, m^2 = -4, lambda = 8,
S = sum_x [ sum_mu (phi_{x+mu} - phi_x)^2 + m^2 phi^2 + lambda phi^4 ]; standard normal prior;
16 affine couplings with alternating checkerboard masks; conditioner conv(1->8) LeakyReLU
conv(8->8) LeakyReLU conv(8->2) tanh, kernel 3 with circular padding; s, t act on the active
sites; Adam lr 1e-3. float64 is the default because the tutorial notebook itself runs in
float64 on a CPU (torch.DoubleTensor when CUDA is absent); float32 is there for comparison.

    python3 benches/pytorch/tutorial_step.py --threads 2 --dtype float64

On a GPU, the peer of lft's `gpu_bench` (docs/GPU.md): `--device cuda`, and `--compile` for
torch.compile as a second peer; `--L` and `--hidden` give the larger flows:

    python3 benches/pytorch/tutorial_step.py --device cuda --dtype float32 --batches 64 1024 8192
    python3 benches/pytorch/tutorial_step.py --device cuda --compile --L 64 --hidden 32 32
"""

import argparse
import time

import torch


class Coupling(torch.nn.Module):
    def __init__(self, mask, hidden=(8, 8), kernel=3):
        super().__init__()
        self.register_buffer("mask", mask)
        channels = (1, *hidden, 2)
        layers = []
        for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
            layers.append(torch.nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, padding_mode="circular"))
            layers.append(torch.nn.LeakyReLU(0.01) if i < len(channels) - 2 else torch.nn.Tanh())
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x):
        frozen = self.mask * x
        st = self.net(frozen.unsqueeze(1))
        s, t = st[:, 0], st[:, 1]
        active = 1 - self.mask
        y = frozen + active * (x * torch.exp(s) + t)
        return y, (active * s).sum(dim=(1, 2))


def action(phi, m2, lam):
    kinetic = sum(((torch.roll(phi, -1, d) - phi) ** 2) for d in (1, 2))
    return (kinetic + m2 * phi**2 + lam * phi**4).sum(dim=(1, 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 1024])
    ap.add_argument("--seconds", type=float, default=10.0, help="time budget per batch size")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--compile", action="store_true", help="torch.compile the loss")
    ap.add_argument("--L", type=int, default=8, help="lattice extent (L x L)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[8, 8])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)
    torch.manual_seed(1)
    L = args.L
    idx = torch.arange(L)
    even = ((idx[:, None] + idx[None, :]) % 2 == 0).to(dtype)
    layers = torch.nn.ModuleList(
        Coupling(even if i % 2 == 0 else 1 - even, hidden=tuple(args.hidden)) for i in range(16)
    ).to(device=device, dtype=dtype)
    n_params = sum(p.numel() for p in layers.parameters())
    opt = torch.optim.Adam(layers.parameters(), lr=1e-3)

    def reverse_kl(z):
        log_r = -0.5 * (z**2).sum(dim=(1, 2))
        x, logdet = z, 0.0
        for layer in layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return (log_r - logdet + action(x, -4.0, 8.0)).mean()

    loss_fn = torch.compile(reverse_kl) if args.compile else reverse_kl

    def step(batch):
        z = torch.randn(batch, L, L, dtype=dtype, device=device)
        loss = loss_fn(z)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()  # a host sync, as lft's step reads its loss

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{args.threads} threads"
    mode = "torch.compile" if args.compile else "eager"
    print(f"torch {torch.__version__}, {where}, {args.dtype}, {mode}, L = {L}, {n_params} parameters")
    for batch in args.batches:
        for _ in range(3):
            step(batch)
        # Blocks of 5 steps; the fastest block is the least disturbed by other load.
        n, best, start = 0, float("inf"), time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            t = time.perf_counter()
            for _ in range(5):
                step(batch)
            best = min(best, (time.perf_counter() - t) / 5)
            n += 5
        mean = (time.perf_counter() - start) / n
        print(f"train step, batch {batch}: best {best * 1e3:.2f} ms, mean {mean * 1e3:.2f} ms ({n} steps)")


if __name__ == "__main__":
    main()
