//! Lattice actions S(φ) and their gradients ∂S/∂φ, for one configuration or a batch `[n, V]`:
//! φ⁴, the free field, the U(1) Wilson gauge action (with its exact results, [`U1Exact`]), and the Yukawa model with staggered fermions (determinant exact, through
//! pseudofermions, or estimated without bias), and its joint target of scalar field and
//! pseudofermion.

mod action;
pub mod bessel;
mod estimated_action;
pub mod free_field;
mod joint_action;
mod lanes;
mod phi4;
mod pseudofermion_action;
mod schwinger;
mod schwinger_estimated;
mod schwinger_joint;
mod u1;
pub mod u1_exact;
mod yukawa;
mod yukawa_estimated;
mod yukawa_joint;

pub use action::{Action, ActionError};
pub use estimated_action::{EstimateCounts, EstimatedAction, field_hash};
pub use free_field::FreeField;
pub use joint_action::{DEFAULT_STAGNATION_FLOOR, JointAction};
pub use lanes::LaneAction;
/// CG settings of the pseudofermion action (from lft-fermion).
pub use lft_fermion::CgParams;
/// The determinant estimator of [`YukawaEstimated`] (from lft-fermion).
pub use lft_fermion::{
    DetEstimator, FermionError, FlowDetEstimator, GaugeDetEstimator, GaugeFlowDetEstimator,
    GaugePseudofermionFlow, PfLayer, PseudofermionFlow, Reference,
};
pub use phi4::{HoppingParams, Phi4, Phi4Hopping, Phi4Params};
pub use pseudofermion_action::PseudofermionAction;
pub use schwinger::{Schwinger, SchwingerExact, SchwingerPseudofermion};
pub use schwinger_estimated::{GaugeEstimator, SchwingerEstimated};
pub use schwinger_joint::SchwingerJoint;
pub use u1::U1Wilson;
pub use u1_exact::U1Exact;
pub use yukawa::{PseudofermionCg, Yukawa, YukawaExact, YukawaParams, YukawaPseudofermion};
pub use yukawa_estimated::{Estimator, YukawaEstimated};
pub use yukawa_joint::YukawaJoint;
