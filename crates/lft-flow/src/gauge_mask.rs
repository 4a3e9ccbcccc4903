//! The masks of a gauge-equivariant coupling layer of 2D U(1) (Kanwar et al.,
//! arXiv:2003.06413): which links it updates and which plaquettes it transforms, passes
//! through, or conditions on.
//!
//! Layer i updates links of direction μ = i mod 2 with offset o = 3 − (⌊i/2⌋ mod 4) (the
//! default [`MaskOrder::Descending`]; o = ⌊i/2⌋ mod 4 with [`MaskOrder::Ascending`]); ν = 1 − μ.
//! With
//! the plaquette P_x = θ_0(x) + θ_1(x + 0̂) − θ_0(x + 1̂) − θ_1(x) and a = x_ν mod 4:
//! - active links: θ_μ(x) with a = o. Each is the only active link of its plaquette P_x, which
//!   it enters with the sign s = +1 (μ = 0) or −1 (μ = 1);
//! - active plaquettes: a = o (transformed by the layer's circle map);
//! - passive plaquettes: a = o − 1 (they hold the active links with the opposite sign and
//!   change as a consequence);
//! - frozen plaquettes: a = o + 1 and o + 2 (no active link: the conditioner's input).
//!
//! Every link is active in one layer of every 8 consecutive ones. A layer conserves the sum of
//! each active plaquette and its passive neighbour (the link they share moves both), so the
//! offsets run downwards: the passive stripe o − 1 of a layer is the next one its direction
//! transforms, not the one it has just transformed (Kanwar et al. and the tutorial run the
//! offsets upwards; downwards trains better at equal cost: at L = 4, β = 4, 16 layers, 600
//! steps, IMH acceptance 0.12 → 0.15; at the tutorial's L = 8, β = 2, 2000 steps, KL(q‖p)
//! 1.06 → 0.89; docs/PERFORMANCE.md).
//! Both extents must be multiples of 4 for the stripes to close around the torus.

use lft_lattice::Lattice;

/// Why a lattice cannot carry gauge-equivariant couplings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GaugeMaskError {
    #[error("gauge-equivariant couplings are built for 2D U(1) fields, not {0} dimensions")]
    Dimension(usize),
    #[error(
        "gauge-equivariant couplings need extents that are multiples of 4 (the stripes of \
         active, passive and frozen plaquettes repeat every 4 sites), got {0:?}"
    )]
    Extent(Vec<usize>),
}

/// The order in which a direction's stripes of active links follow each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskOrder {
    /// o = 3 − (⌊i/2⌋ mod 4): the passive stripe is the next to be transformed (lft's default).
    #[default]
    Descending,
    /// o = ⌊i/2⌋ mod 4: Kanwar et al.'s and the tutorial's order.
    Ascending,
}

impl MaskOrder {
    /// The stripe offset of layer `layer`.
    pub fn offset(self, layer: usize) -> usize {
        match self {
            MaskOrder::Descending => 3 - (layer / 2) % 4,
            MaskOrder::Ascending => (layer / 2) % 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MaskOrder::Descending => "descending",
            MaskOrder::Ascending => "ascending",
        }
    }
}

/// One active link: its index μ·V + x in the link field, its plaquette's site x, and the sign
/// s of the link in P_x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveLink {
    pub link: usize,
    pub site: usize,
    pub sign: f64,
}

/// The masks of one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeMask {
    pub mu: usize,
    pub offset: usize,
    pub active: Vec<ActiveLink>,
    /// 1 on frozen plaquettes, 0 elsewhere, per site.
    pub frozen: Vec<f64>,
}

/// Checks that `lattice` can carry the masks.
pub fn check_lattice(lattice: &Lattice) -> Result<(), GaugeMaskError> {
    if lattice.dim() != 2 {
        return Err(GaugeMaskError::Dimension(lattice.dim()));
    }
    if lattice.shape().iter().any(|l| l % 4 != 0) {
        return Err(GaugeMaskError::Extent(lattice.shape().to_vec()));
    }
    Ok(())
}

impl GaugeMask {
    /// The masks of layer `layer` (direction μ = layer mod 2, offset `order.offset(layer)`).
    pub fn of_layer(
        lattice: &Lattice,
        layer: usize,
        order: MaskOrder,
    ) -> Result<Self, GaugeMaskError> {
        check_lattice(lattice)?;
        let (mu, offset) = (layer % 2, order.offset(layer));
        let nu = 1 - mu;
        let v = lattice.volume();
        let stripe = |x: usize| lattice.coords(x)[nu] % 4;
        let sign = if mu == 0 { 1.0 } else { -1.0 };
        let active = (0..v)
            .filter(|&x| stripe(x) == offset)
            .map(|x| ActiveLink {
                link: mu * v + x,
                site: x,
                sign,
            })
            .collect();
        let frozen = (0..v)
            .map(|x| {
                let a = (stripe(x) + 4 - offset) % 4;
                if a == 1 || a == 2 { 1.0 } else { 0.0 }
            })
            .collect();
        Ok(Self {
            mu,
            offset,
            active,
            frozen,
        })
    }
}
