//! n HMC chains of φ⁴ (or annealing particles on a tempered target) resident on a device: the
//! fields stay there between trajectories, and a *segment* of up to [`SEGMENT`] trajectories
//! runs as one list of launches, after which the host reads one small table of results (S_t,
//! ΔH, accepted per chain and trajectory) — and the fields only where it stores them.
//!
//! Every chain has its own Philox stream ([`ChainStream`], keyed by the seed and the chain's
//! global index) and counter: trajectory t of a chain draws the same numbers whatever batch,
//! segment or device it runs in, so a run is reproducible from its seed and resumes exactly
//! from (field, t). Chains keep their own step size, integrator and trajectory length (drawn
//! on the host from the chain's stream when the length is jittered).

use crate::CudaError;
use crate::call::{BufId, HostBuffer};
use crate::executor::Executor;
use crate::ops::phi4::Phi4Target;
use crate::ops::phi4::{HmcBatch, Phi4Batch, TemperedTarget};
use crate::philox::ChainStream;
use crate::schedule::BatchSchedule;
use crate::tables::NeighbourTables;
use lft_lattice::Lattice;
use lft_sample::{HmcParams, HmcRecord, jittered_steps};

/// The most trajectories of one segment (results read back once per segment).
pub const SEGMENT: usize = 32;

/// One chain's part of a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentChain {
    pub stream: ChainStream,
    /// The counter of the segment's first trajectory (the chain's trajectories so far).
    pub counter: u64,
    pub params: HmcParams,
    /// Trajectories the chain runs in this segment (0: it stays put).
    pub trajectories: usize,
}

impl SegmentChain {
    /// Integrator steps of the chain's trajectory `t` (its length drawn from its stream when
    /// jittered, as lft-sample's chains draw theirs from their own generator).
    pub fn steps(&self, t: u64) -> usize {
        if self.params.length_jitter > 0.0 {
            jittered_steps(&self.params, self.stream.length_uniform(t))
        } else {
            self.params.n_steps.max(1)
        }
    }
}

/// n chains of `[V]` on an executor.
pub struct HmcDevice<E: Executor> {
    exec: E,
    batch: HmcBatch,
    volume: usize,
    /// Rows the coefficient buffer holds.
    rows: usize,
    /// The coefficients on the device (a segment with the same ones uploads nothing).
    uploaded: Vec<f64>,
}

impl<E: Executor> HmcDevice<E> {
    /// `n` chains of φ⁴ with `params` on `lattice`, all fields zero, sampling S itself.
    pub fn new(
        mut exec: E,
        lattice: &Lattice,
        params: impl Into<Phi4Target>,
        n: usize,
    ) -> Result<Self, CudaError> {
        let v = lattice.volume();
        let tables = NeighbourTables::new(lattice);
        let fwd = exec.alloc_i32(&tables.fwd)?;
        let bwd = exec.alloc_i32(&tables.bwd)?;
        let action = Phi4Batch::of(&tables, params.into(), fwd, bwd);
        let rows = 1;
        let batch = HmcBatch {
            action,
            chains: n,
            target: TemperedTarget::plain(),
            phi: exec.zeros(n * v, false)?,
            pi: exec.zeros(n * v, false)?,
            phi_old: exec.zeros(n * v, false)?,
            e_old: exec.zeros(2 * n, false)?,
            e_new: exec.zeros(2 * n, false)?,
            table: exec.alloc_i32(&vec![0; 5 * n])?,
            coefficients: exec.zeros(rows * n, false)?,
            results: exec.zeros(SEGMENT * 3 * n, false)?,
        };
        Ok(Self {
            exec,
            batch,
            volume: v,
            rows,
            uploaded: vec![0.0; rows * n],
        })
    }

    /// Chains (or particles) on the device.
    pub fn chains(&self) -> usize {
        self.batch.chains
    }

    /// Sites per chain.
    pub fn volume(&self) -> usize {
        self.volume
    }

    /// The target the next segments sample.
    pub fn set_target(&mut self, target: TemperedTarget) {
        self.batch.target = target;
    }

    /// The buffers (for other kernels on the same fields: the annealing's).
    pub fn batch(&self) -> &HmcBatch {
        &self.batch
    }

    /// The executor.
    pub fn executor(&mut self) -> &mut E {
        &mut self.exec
    }

    /// Overwrites every field, `[n, V]`.
    pub fn write_fields(&mut self, fields: &[f64]) -> Result<(), CudaError> {
        self.exec
            .write(self.batch.phi, &HostBuffer::F64(fields.to_vec()))
    }

    /// Every field, `[n, V]`.
    pub fn read_fields(&mut self) -> Result<Vec<f64>, CudaError> {
        Ok(self.exec.read(self.batch.phi)?.to_f64())
    }

    /// Makes the coefficient buffer hold `rows` rows and `values`, uploading only what changed.
    fn upload_coefficients(&mut self, rows: usize, values: Vec<f64>) -> Result<(), CudaError> {
        let n = self.batch.chains;
        if rows > self.rows {
            self.rows = rows.next_power_of_two();
            self.batch.coefficients = self.exec.zeros(self.rows * n, false)?;
            self.uploaded = vec![0.0; self.rows * n];
        }
        if self.uploaded[..values.len()] != values[..] {
            self.uploaded[..values.len()].copy_from_slice(&values);
            self.exec.write(
                self.batch.coefficients,
                &HostBuffer::F64(self.uploaded.clone()),
            )?;
        }
        Ok(())
    }

    /// Runs a segment: chain b runs `chains[b].trajectories` (≤ [`SEGMENT`]) trajectories from
    /// its counter on. Returns `records[j][b]`, trajectory j of chain b (`None` where it ran
    /// fewer).
    pub fn segment(
        &mut self,
        chains: &[SegmentChain],
    ) -> Result<Vec<Vec<Option<HmcRecord>>>, CudaError> {
        let n = self.batch.chains;
        assert_eq!(chains.len(), n, "one segment entry per chain");
        let k = chains.iter().map(|c| c.trajectories).max().unwrap_or(0);
        assert!(
            k <= SEGMENT,
            "a segment runs at most {SEGMENT} trajectories"
        );
        if k == 0 {
            return Ok(Vec::new());
        }
        // The chains' streams and counters.
        let mut table = Vec::with_capacity(5 * n);
        for c in chains {
            let t = c.counter;
            table.extend([
                c.stream.key.0[0] as i32,
                c.stream.key.0[1] as i32,
                t as u32 as i32,
                (t >> 32) as u32 as i32,
                c.trajectories as i32,
            ]);
        }
        self.exec.write(self.batch.table, &HostBuffer::I32(table))?;
        // Each trajectory's schedules, one block of rows after another.
        let mut steps = vec![vec![0; n]; k];
        let mut rows = Vec::with_capacity(k);
        let mut values = Vec::new();
        for (j, steps_j) in steps.iter_mut().enumerate() {
            let schedules: Vec<Option<_>> = chains
                .iter()
                .zip(steps_j.iter_mut())
                .map(|(c, s)| {
                    (j < c.trajectories).then(|| {
                        *s = c.steps(c.counter + j as u64);
                        (c.params.integrator, c.params.step_size, *s)
                    })
                })
                .collect();
            let schedule = BatchSchedule::new(&schedules);
            rows.push(schedule.rows);
            values.extend(schedule.coefficients);
        }
        self.upload_coefficients(rows.iter().sum(), values)?;
        let mut calls = Vec::new();
        let mut first = 0;
        for (j, &r) in rows.iter().enumerate() {
            calls.extend(self.batch.trajectory(j, first, r)?);
            first += r;
        }
        self.exec.execute(&calls)?;
        let results = self
            .exec
            .read_prefix(self.batch.results, k * 3 * n)?
            .to_f64();
        Ok((0..k)
            .map(|j| {
                (0..n)
                    .map(|b| {
                        let r = &results[(j * n + b) * 3..][..3];
                        (r[2] >= 0.0).then(|| HmcRecord {
                            action: r[0],
                            delta_h: r[1],
                            accepted: r[2] == 1.0,
                            n_steps: steps[j][b],
                        })
                    })
                    .collect()
            })
            .collect())
    }

    /// Makes `other` (a float64 buffer of `[n, V]`) the fields and returns the old fields'
    /// buffer: a kernel that wrote new fields into `other` (resampling's gather) needs no copy.
    pub fn swap_fields(&mut self, other: BufId) -> BufId {
        std::mem::replace(&mut self.batch.phi, other)
    }
}
