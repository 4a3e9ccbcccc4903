//! The exact values of 2D U(1) with the Wilson action on an L × L torus (periodic), for
//! checking ensembles: `cargo run --release -p lft-action --example u1_exact -- L BETA`
//! prints ⟨cos θ_P⟩, ⟨Q²⟩, χ_t and log Z (docs/PHYSICS.md, "2D U(1) gauge theory").

use lft_action::U1Exact;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(l), Some(beta)) = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1).and_then(|a| a.parse::<f64>().ok()),
    ) else {
        eprintln!("usage: u1_exact L BETA");
        std::process::exit(2);
    };
    let exact = U1Exact::new(beta, l * l).unwrap_or_else(|e| {
        eprintln!("u1_exact: {e}");
        std::process::exit(2);
    });
    println!("L = {l}, beta = {beta}");
    println!("<cos theta_P>  {:.10}", exact.plaquette());
    println!("<Q^2>          {:.10}", exact.q2());
    println!("chi_t          {:.10}", exact.chi_t());
    println!("log Z          {:.6}", exact.log_z());
}
