//! Default values of optional config keys (serde `default = "defaults::…"`).

use crate::flow::{ActivationName, CouplingName, PriorName};
use crate::hmc::{IntegratorName, StartName};
use crate::train::{ObjectiveName, ScheduleName};

pub fn coupling() -> CouplingName {
    CouplingName::Affine
}
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
pub fn activation() -> ActivationName {
    ActivationName::LeakyRelu
}
pub fn final_activation() -> ActivationName {
    ActivationName::Tanh
}
pub fn prior() -> PriorName {
    PriorName::Normal
}
pub fn batch() -> usize {
    64
}
pub fn lr() -> f64 {
    1e-3
}
pub fn schedule() -> ScheduleName {
    ScheduleName::Constant
}
pub fn step_every() -> usize {
    1000
}
pub fn step_factor() -> f64 {
    0.5
}
pub fn objective() -> ObjectiveName {
    ObjectiveName::ReverseKl
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
pub fn integrator() -> IntegratorName {
    IntegratorName::Leapfrog
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
pub fn hmc_per_step() -> usize {
    1
}
pub fn flow_hmc_integrator() -> IntegratorName {
    IntegratorName::Omelyan
}
pub fn length_jitter() -> f64 {
    0.5
}
pub fn target_acceptance() -> f64 {
    0.8
}
pub fn start() -> StartName {
    StartName::Cold
}
pub fn flush_seconds() -> f64 {
    2.0
}
