//! SMC and AIS passes of φ⁴ with the particles on a device (`lft anneal --device cuda`): the
//! one pass loop of lft-sample ([`smc_pass_on`]) over [`DeviceParticles`], lft-sample's
//! [`Particles`] on a GPU. The particles stay in device memory from the prior to β = 1; per
//! temperature the host reads S and P of every particle (2N numbers, for the weights and the
//! adaptive schedule), uploads the ancestor indices when it resamples, and reads the HMC
//! acceptances; the final particles come back once.
//!
//! The first particles are the CPU pass's own draws (particle i from the stream (seed,
//! base + 1 + i)), uploaded; the HMC moves draw from the device's counter-based streams
//! ([`ChainStream`] of (seed, base + 1 + i), trajectory counter temperature × trajectories +
//! r), so a device pass is reproducible from its seed but is not the CPU's pass.

use crate::CudaError;
use crate::call::{Arg, BufId, HostBuffer, KernelCall, int};
use crate::device_hmc::{HmcDevice, SEGMENT, SegmentChain};
use crate::executor::Executor;
use crate::launch::{elementwise, per_configuration};
use crate::ops::phi4::Phi4Target;
use crate::ops::phi4::{PriorTerm, TemperedTarget};
use crate::philox::ChainStream;
use lft_action::Action;
use lft_flow::Prior;
use lft_lattice::{Lattice, stream_rng};
use lft_sample::HmcParams;
use lft_sample::anneal::{
    ANNEAL_STREAM, AnnealError, Observer, Particles, SmcPass, SmcSettings, pass_base, smc_pass_on,
};

fn on_device(e: CudaError) -> AnnealError {
    AnnealError::Device(e.to_string())
}

/// A device holding the particles of one pass at a time, and the buffers the annealing
/// kernels need beside the HMC ones.
pub struct DeviceAnnealer<E: Executor> {
    device: HmcDevice<E>,
    /// `[3N]`: S, P, Σφ of every particle.
    values: BufId,
    /// i32 `[N]`.
    ancestors: BufId,
    /// `[N, V]`: where resampling gathers.
    spare: BufId,
    prior: PriorTerm,
    /// c of log r = −P − c.
    log_norm: f64,
}

impl<E: Executor> DeviceAnnealer<E> {
    /// Passes of `particles` particles of φ⁴ with `couplings` on `lattice` from `prior` (the
    /// standard normal or the free field; the Z₂ mixture is refused by name).
    pub fn new(
        exec: E,
        lattice: &Lattice,
        couplings: impl Into<Phi4Target>,
        prior: &Prior,
        particles: usize,
    ) -> Result<Self, CudaError> {
        let v = lattice.volume();
        let (prior, log_norm) = match prior {
            Prior::StandardNormal => (
                PriorTerm::Normal,
                0.5 * v as f64 * (2.0 * std::f64::consts::PI).ln(),
            ),
            Prior::FreeField { action, log_z, .. } => (
                PriorTerm::Free {
                    m2: action.params().m2,
                },
                *log_z,
            ),
            Prior::Z2Mixture { .. } => {
                return Err(CudaError::Unsupported(
                    "annealing from the Z₂ mixture prior (anneal.prior = \"z2_mixture\")",
                ));
            }
            Prior::Uniform { .. } => {
                return Err(CudaError::Unsupported(
                    "annealing from uniform angles (gauge fields)",
                ));
            }
        };
        let mut device = HmcDevice::new(exec, lattice, couplings, particles)?;
        let exec = device.executor();
        let values = exec.zeros(3 * particles, false)?;
        let ancestors = exec.alloc_i32(&vec![0; particles])?;
        let spare = exec.zeros(particles * v, false)?;
        Ok(Self {
            device,
            values,
            ancestors,
            spare,
            prior,
            log_norm,
        })
    }

    /// Pass `pass` of `settings` from `prior` to e^{−S} (`action`, the host's φ⁴ with the
    /// device's couplings), telling `observer` of every temperature.
    pub fn pass(
        &mut self,
        prior: &Prior,
        action: &dyn Action,
        settings: &SmcSettings,
        seed: u64,
        pass: u64,
        observer: Option<Observer<'_>>,
    ) -> Result<SmcPass, AnnealError> {
        let n = self.device.chains();
        if settings.particles != n {
            return Err(AnnealError::Device(format!(
                "the device holds {n} particles, the pass asks for {}",
                settings.particles
            )));
        }
        let v = self.device.volume();
        let base = pass_base(ANNEAL_STREAM, pass);
        // The CPU pass's first particles, drawn one after another (no rayon while a device
        // is held).
        let mut particles = vec![0.0; n * v];
        for (i, phi) in particles.chunks_exact_mut(v).enumerate() {
            prior.sample(&mut stream_rng(seed, base + 1 + i as u64), phi);
        }
        self.device.write_fields(&particles).map_err(on_device)?;
        let streams = (0..n)
            .map(|i| ChainStream::new(seed, base + 1 + i as u64))
            .collect();
        let mut on_device = DeviceParticles {
            annealer: self,
            streams,
        };
        smc_pass_on(
            &mut on_device,
            prior,
            action,
            settings,
            seed,
            pass,
            observer,
        )
    }

    fn values_call(&self) -> Result<KernelCall, CudaError> {
        let b = self.device.batch();
        let a = &b.action;
        let (kind, m0) = self.prior.args();
        Ok(KernelCall {
            function: "anneal_values",
            launch: per_configuration(b.chains, a.volume)?,
            args: vec![
                Arg::Buf(b.phi),
                Arg::Buf(a.fwd),
                Arg::I32(int("dimension", a.dim)?),
                Arg::I32(int("volume", a.volume)?),
                Arg::F64(a.m2),
                Arg::F64(a.lambda),
                Arg::F64(a.h),
                Arg::I32(kind),
                Arg::F64(m0),
                Arg::Buf(self.values),
            ],
        })
    }

    /// (S, P, Σφ) of every particle.
    fn read_values(&mut self) -> Result<Vec<f64>, CudaError> {
        let call = self.values_call()?;
        let exec = self.device.executor();
        exec.execute(&[call])?;
        Ok(exec.read(self.values)?.to_f64())
    }

    fn resample(&mut self, ancestors: &[usize]) -> Result<(), CudaError> {
        let b = *self.device.batch();
        let count = b.chains * b.action.volume;
        let indices = ancestors.iter().map(|&a| a as i32).collect();
        let call = KernelCall {
            function: "anneal_gather",
            launch: elementwise(count)?,
            args: vec![
                Arg::Buf(b.phi),
                Arg::Buf(self.ancestors),
                Arg::I32(int("volume", b.action.volume)?),
                Arg::I64(count as i64),
                Arg::Buf(self.spare),
            ],
        };
        let exec = self.device.executor();
        exec.write(self.ancestors, &HostBuffer::I32(indices))?;
        exec.execute(&[call])?;
        self.spare = self.device.swap_fields(self.spare);
        Ok(())
    }
}

/// The particles of one pass on the device: lft-sample's [`Particles`].
pub struct DeviceParticles<'a, E: Executor> {
    annealer: &'a mut DeviceAnnealer<E>,
    /// Particle slot i's stream.
    streams: Vec<ChainStream>,
}

impl<E: Executor> Particles for DeviceParticles<'_, E> {
    fn values(&mut self) -> Result<Vec<(f64, f64)>, AnnealError> {
        let c = self.annealer.log_norm;
        let values = self.annealer.read_values().map_err(on_device)?;
        Ok(values.chunks_exact(3).map(|r| (r[0], -r[1] - c)).collect())
    }

    fn keys(&mut self) -> Result<Vec<f64>, AnnealError> {
        let values = self.annealer.read_values().map_err(on_device)?;
        Ok(values.chunks_exact(3).map(|r| r[2]).collect())
    }

    fn resample(&mut self, ancestors: &[usize]) -> Result<(), AnnealError> {
        self.annealer.resample(ancestors).map_err(on_device)
    }

    fn hmc_move(
        &mut self,
        beta: f64,
        params: HmcParams,
        trajectories: usize,
        temperature: usize,
    ) -> Result<usize, AnnealError> {
        let prior = self.annealer.prior;
        let device = &mut self.annealer.device;
        device.set_target(TemperedTarget::tempered(beta, prior));
        let first = (temperature * trajectories) as u64;
        let mut accepted = 0;
        let mut done = 0;
        while done < trajectories {
            let k = (trajectories - done).min(SEGMENT);
            let segment: Vec<SegmentChain> = self
                .streams
                .iter()
                .map(|&stream| SegmentChain {
                    stream,
                    counter: first + done as u64,
                    params,
                    trajectories: k,
                })
                .collect();
            let records = device.segment(&segment).map_err(on_device)?;
            accepted += records
                .iter()
                .flatten()
                .filter(|r| r.is_some_and(|r| r.accepted))
                .count();
            done += k;
        }
        Ok(accepted)
    }

    fn read(&mut self) -> Result<Vec<f64>, AnnealError> {
        self.annealer.device.read_fields().map_err(on_device)
    }

    fn host(&mut self) -> Option<&mut [f64]> {
        None
    }
}
