//! Default values of optional numeric config keys shared by the sections (serde
//! `default = "defaults::…"`); a section's enum-valued defaults sit in its own file.

pub fn hidden() -> Vec<usize> {
    vec![8, 8]
}
pub fn kernel() -> usize {
    3
}
pub fn bins() -> usize {
    8
}
pub fn proposal_batch() -> usize {
    256
}
pub fn tail_bound() -> f64 {
    3.0
}
pub fn batch() -> usize {
    64
}
pub fn lr() -> f64 {
    1e-3
}
pub fn step_every() -> usize {
    1000
}
pub fn step_factor() -> f64 {
    0.5
}
pub fn every() -> usize {
    100
}
pub fn thermalization() -> usize {
    100
}
pub fn steps() -> usize {
    10
}
pub fn length() -> f64 {
    1.0
}
pub fn chains() -> usize {
    1
}
pub fn save_every() -> usize {
    1
}
pub fn is_one(n: &usize) -> bool {
    *n == 1
}
pub fn inner_steps() -> usize {
    1
}
pub fn hmc_per_step() -> usize {
    1
}
pub fn length_jitter() -> f64 {
    0.5
}
pub fn target_acceptance() -> f64 {
    0.8
}
pub fn flush_seconds() -> f64 {
    2.0
}

pub fn eval_samples() -> usize {
    65_536
}
pub fn is_eval_samples(n: &usize) -> bool {
    *n == eval_samples()
}
pub fn inverse_checks() -> usize {
    2
}
pub fn is_inverse_checks(n: &usize) -> bool {
    *n == inverse_checks()
}
pub fn inverse_tol() -> f64 {
    1e-6
}
pub fn is_inverse_tol(x: &f64) -> bool {
    *x == inverse_tol()
}
pub fn is_zero(n: &usize) -> bool {
    *n == 0
}
