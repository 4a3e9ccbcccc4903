//! HMC of φ⁴ on a device in lft-sample's one pipeline (`lft hmc --device cuda`): a
//! [`Sampler`] whose chains all move together on the device ([`HmcDevice`]), handing the
//! pipeline the same [`RecordBlock`](lft_records::RecordBlock)s as the CPU's HMC, so files,
//! resume, `save_every`, signals and `lft merge` work unchanged.
//!
//! A chain is host-side state ([`DeviceChain`]: its field, its stream, its counter); each round
//! of production uploads the fields, runs segments of trajectories that end where a chain
//! stores a configuration, and reads the fields back. The stored generator state is
//! [`RngState::counter`]`(index, t)`: a chain continues from (field, t) exactly. The device's
//! numbers differ from the CPU's HMC (other streams), and a file made by one is refused by the
//! other with a named error.
//!
//! [`Chain::advance`] of a device chain is its host twin: the same trajectory (the stream's
//! momenta, length and uniform) computed with lft-sample's [`HmcChain`] on the CPU, the
//! reference the device is tested against.

use crate::CudaError;
use crate::device_hmc::{HmcDevice, SEGMENT, SegmentChain};
use crate::executor::Executor;
use crate::philox::ChainStream;
use lft_action::{Action, Phi4};
use lft_lattice::{RngState, stream_rng};
use lft_records::{ChainMeta, ChainSettings, SamplerKind, StoredRow};
use lft_sample::{
    Chain, ChainRound, HmcChain, HmcParams, Recorder, RoundLimits, RunSummary, Sampler, Start,
    Step, StepSizeTuner, hmc_resume_parts, hmc_settings, stop_requested,
};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One chain of a device run, as the host holds it between rounds.
#[derive(Clone)]
pub struct DeviceChain {
    index: u64,
    stream: ChainStream,
    field: Vec<f64>,
    /// Trajectories run so far (the counter of the next one).
    counter: u64,
    params: HmcParams,
    /// S of `field`.
    action_value: f64,
    action: Arc<Phi4>,
}

impl DeviceChain {
    fn new(
        action: Arc<Phi4>,
        seed: u64,
        index: u64,
        field: Vec<f64>,
        counter: u64,
        params: HmcParams,
    ) -> Self {
        let action_value = action.action(&field);
        Self {
            index,
            stream: ChainStream::new(seed, index),
            field,
            counter,
            params,
            action_value,
            action,
        }
    }

    pub fn field(&self) -> &[f64] {
        &self.field
    }

    /// Trajectories run so far.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    pub fn params(&self) -> HmcParams {
        self.params
    }

    /// The chain's stream.
    pub fn stream(&self) -> ChainStream {
        self.stream
    }

    fn rng_state(&self) -> RngState {
        RngState::counter(self.index, self.counter)
    }

    fn segment(&self, trajectories: usize) -> SegmentChain {
        SegmentChain {
            stream: self.stream,
            counter: self.counter,
            params: self.params,
            trajectories,
        }
    }

    /// The next trajectory on the CPU with the device's draws: the reference of the device.
    pub fn host_trajectory(&mut self) -> lft_sample::HmcRecord {
        let t = self.counter;
        let v = self.field.len();
        let mut momenta = vec![0.0; v];
        self.stream.momenta(t, &mut momenta);
        let steps = self.segment(1).steps(t);
        let u = self.stream.accept_uniform(t);
        // The CPU chain's own generator is not used by `trajectory_with`.
        let mut chain = HmcChain::resume(
            self.action.as_ref(),
            std::mem::take(&mut self.field),
            stream_rng(0, 0),
            self.params,
        );
        let record = chain.trajectory_with(self.action.as_ref(), &momenta, steps, u);
        self.field = chain.field().to_vec();
        self.action_value = record.action;
        self.counter += 1;
        record
    }
}

impl Chain for DeviceChain {
    type Error = CudaError;

    /// One trajectory of the host twin (the pipeline runs device chains through
    /// [`DeviceHmcSampler`]'s rounds instead).
    fn advance(&mut self, _max: usize, out: &mut Recorder<'_>) -> Result<(), CudaError> {
        let r = self.host_trajectory();
        out.record(Step {
            config: &self.field,
            values: &[r.action, r.delta_h],
            accepted: r.accepted,
            rng_after: self.rng_state(),
            delta_h: Some(r.delta_h),
            inner: (0, 0),
        });
        Ok(())
    }

    fn settings(&self) -> ChainSettings {
        hmc_settings(self.params, None)
    }

    fn start_state(&self) -> (Vec<f64>, RngState) {
        (self.field.clone(), self.rng_state())
    }
}

/// HMC of φ⁴ with all chains on a device: chain c starts from `start` with the stream of
/// (seed, c), is thermalised for `thermalization` trajectories (tuning ε towards `tune` if
/// given), then produces.
pub struct DeviceHmcSampler<E: Executor> {
    action: Arc<Phi4>,
    pub params: HmcParams,
    pub start: Start,
    pub seed: u64,
    pub thermalization: usize,
    pub tune: Option<f64>,
    device: Mutex<HmcDevice<E>>,
}

impl<E: Executor + Send> DeviceHmcSampler<E> {
    /// `chains` chains of the φ⁴ `action` on `exec`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        exec: E,
        action: Phi4,
        chains: usize,
        params: HmcParams,
        start: Start,
        seed: u64,
        thermalization: usize,
        tune: Option<f64>,
    ) -> Result<Self, CudaError> {
        let target = crate::ops::phi4::Phi4Target {
            params: action.params(),
            h: action.external_field(),
        };
        let device = HmcDevice::new(exec, action.lattice(), target, chains)?;
        Ok(Self {
            action: Arc::new(action),
            params,
            start,
            seed,
            thermalization,
            tune,
            device: Mutex::new(device),
        })
    }

    fn device(&self) -> std::sync::MutexGuard<'_, HmcDevice<E>> {
        self.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Uploads the chains' fields (a round starts from what the host holds).
    fn load(device: &mut HmcDevice<E>, chains: &[DeviceChain]) -> Result<(), CudaError> {
        assert_eq!(
            chains.len(),
            device.chains(),
            "the run's chains are the device's"
        );
        let fields: Vec<f64> = chains
            .iter()
            .flat_map(|c| c.field.iter().copied())
            .collect();
        device.write_fields(&fields)
    }

    /// Reads the fields back into the chains.
    fn unload(device: &mut HmcDevice<E>, chains: &mut [DeviceChain]) -> Result<(), CudaError> {
        let fields = device.read_fields()?;
        let v = device.volume();
        for (c, f) in chains.iter_mut().zip(fields.chunks_exact(v)) {
            c.field.copy_from_slice(f);
        }
        Ok(())
    }

    fn thermalize_on_device(&self, chains: &mut [DeviceChain]) -> Result<RunSummary, CudaError> {
        let start = Instant::now();
        let mut device = self.device();
        Self::load(&mut device, chains)?;
        let mut tuners: Option<Vec<StepSizeTuner>> = self.tune.map(|target| {
            chains
                .iter()
                .map(|c| StepSizeTuner::new(c.params.step_size, c.params.length(), target))
                .collect()
        });
        let mut summary = RunSummary::default();
        let mut left = self.thermalization;
        while left > 0 {
            // Tuning changes ε after every trajectory: segments of one.
            let k = if tuners.is_some() {
                1
            } else {
                left.min(SEGMENT)
            };
            let segment: Vec<SegmentChain> = chains.iter().map(|c| c.segment(k)).collect();
            let records = device.segment(&segment)?;
            for trajectory in &records {
                for (b, (chain, r)) in chains.iter_mut().zip(trajectory).enumerate() {
                    let r = r.expect("every chain runs every thermalisation trajectory");
                    summary.add_trajectory(&r);
                    chain.counter += 1;
                    chain.action_value = r.action;
                    if let Some(tuners) = tuners.as_mut() {
                        let (step_size, n_steps) = tuners[b].update(r.delta_h);
                        chain.params = HmcParams {
                            step_size,
                            n_steps,
                            ..chain.params
                        };
                    }
                }
            }
            left -= k;
        }
        if let Some(tuners) = tuners {
            for (chain, tuner) in chains.iter_mut().zip(tuners) {
                let (step_size, n_steps) = tuner.finish();
                chain.params = HmcParams {
                    step_size,
                    n_steps,
                    ..chain.params
                };
            }
        }
        Self::unload(&mut device, chains)?;
        summary.elapsed = start.elapsed();
        Ok(summary)
    }

    /// A round of production, every chain on the device at once: segments end where a chain
    /// stores its next configuration (or at [`SEGMENT`] trajectories), and the round ends at
    /// the deadline, a full block, a stop request or when no chain has steps left.
    fn round_on_device(
        &self,
        chains: &mut [DeviceChain],
        rounds: &mut [ChainRound<'_>],
        limits: &RoundLimits,
    ) -> Result<(), CudaError> {
        let mut device = self.device();
        Self::load(&mut device, chains)?;
        let v = device.volume();
        let mut first = true;
        loop {
            if stop_requested(limits.stop) || (!first && Instant::now() >= limits.deadline) {
                break;
            }
            first = false;
            let plan: Vec<usize> = rounds
                .iter_mut()
                .map(|round| {
                    if round.done >= round.todo || round.block.len() >= limits.max_rows {
                        return 0;
                    }
                    let to_store = limits.save_every - *round.since_saved;
                    (round.todo - round.done).min(to_store).min(SEGMENT)
                })
                .collect();
            if plan.iter().all(|&k| k == 0) {
                break;
            }
            let segment: Vec<SegmentChain> = chains
                .iter()
                .zip(&plan)
                .map(|(c, &k)| c.segment(k))
                .collect();
            let records = device.segment(&segment)?;
            // A chain's segment ends at its next stored step, if it reaches it: the fields
            // after the segment are those to store.
            let stores = rounds
                .iter_mut()
                .zip(&plan)
                .any(|(round, &k)| k > 0 && *round.since_saved + k >= limits.save_every);
            let fields = if stores {
                device.read_fields()?
            } else {
                Vec::new()
            };
            for (b, ((chain, round), &k)) in chains
                .iter_mut()
                .zip(rounds.iter_mut())
                .zip(&plan)
                .enumerate()
            {
                for (j, trajectory) in records.iter().enumerate().take(k) {
                    let r = trajectory[b].expect("the chain runs its planned trajectories");
                    chain.counter += 1;
                    chain.action_value = r.action;
                    let mut rec = round.recorder(limits.save_every);
                    let config = if j + 1 == k && rec.stores_next() {
                        &fields[b * v..(b + 1) * v]
                    } else {
                        &[][..]
                    };
                    rec.record(Step {
                        config,
                        values: &[r.action, r.delta_h],
                        accepted: r.accepted,
                        rng_after: chain.rng_state(),
                        delta_h: Some(r.delta_h),
                        inner: (0, 0),
                    });
                    round.done += 1;
                }
            }
        }
        Self::unload(&mut device, chains)
    }
}

impl<E: Executor + Send> Sampler for DeviceHmcSampler<E> {
    type Chain = DeviceChain;

    fn kind(&self) -> SamplerKind {
        SamplerKind::Hmc
    }

    fn volume(&self) -> usize {
        self.action.lattice().volume()
    }

    fn fresh(&self, index: u64) -> DeviceChain {
        let stream = ChainStream::new(self.seed, index);
        let mut field = vec![0.0; self.volume()];
        if self.start == Start::Hot {
            stream.hot_start(&mut field);
        }
        DeviceChain::new(self.action.clone(), self.seed, index, field, 0, self.params)
    }

    fn thermalization_steps(&self) -> usize {
        self.thermalization
    }

    fn thermalize(
        &self,
        chains: &mut [DeviceChain],
    ) -> Result<Option<RunSummary>, (usize, CudaError)> {
        if self.thermalization == 0 {
            return Ok(None);
        }
        self.thermalize_on_device(chains)
            .map(Some)
            .map_err(|e| (0, e))
    }

    fn resume(&self, meta: &ChainMeta, last: Option<&StoredRow>) -> Result<DeviceChain, String> {
        let (params, field, rng) = hmc_resume_parts(meta, last, self.volume())?;
        let Some((index, counter)) = rng.as_counter() else {
            return Err(
                "it was made on the CPU, whose chains draw from their own generators: continue \
                 it with --device cpu"
                    .into(),
            );
        };
        Ok(DeviceChain::new(
            self.action.clone(),
            self.seed,
            index,
            field,
            counter,
            params,
        ))
    }

    fn advance_round(
        &self,
        chains: &mut [DeviceChain],
        rounds: &mut [ChainRound<'_>],
        limits: &RoundLimits,
    ) -> Vec<Option<CudaError>> {
        let mut errors: Vec<Option<CudaError>> = (0..chains.len()).map(|_| None).collect();
        if let Err(e) = self.round_on_device(chains, rounds, limits) {
            errors[0] = Some(e);
        }
        errors
    }
}
