//! Flow checkpoints (HDF5, docs/FORMAT.md): weights, optimiser state, generator state and the
//! training history, written atomically (beside the target, then renamed). CRAFT checkpoints
//! (the flows of every annealing transition) and SNF checkpoints (the blocks of a stochastic
//! normalizing flow) share the layout under their own `format`s.

use crate::ensemble::EnsembleError;
use hdf5_pure::{AttrValue, FileBuilder};
use lft_lattice::RngState;
use std::path::Path;

/// Value of the root attribute `format` of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "lft-flow-checkpoint";
/// Bumped on any incompatible change.
pub const CHECKPOINT_VERSION: u64 = 1;
/// Columns of the `history` dataset.
pub const HISTORY_COLUMNS: [&str; 7] = [
    "step",
    "loss",
    "loss_variance",
    "ess",
    "acceptance",
    "grad_norm",
    "lr",
];

/// Value of the root attribute `format` of a CRAFT checkpoint.
pub const CRAFT_CHECKPOINT_FORMAT: &str = "lft-craft-checkpoint";
/// Columns of the `history` dataset of a CRAFT checkpoint (one row per iteration).
pub const CRAFT_HISTORY_COLUMNS: [&str; 7] = [
    "iteration",
    "log_z",
    "loss",
    "min_ess",
    "acceptance",
    "grad_norm",
    "lr",
];

/// Value of the root attribute `format` of a stochastic-normalizing-flow checkpoint.
pub const SNF_CHECKPOINT_FORMAT: &str = "lft-snf-checkpoint";
/// Columns of the `history` dataset of an SNF checkpoint (one row per training step).
pub const SNF_HISTORY_COLUMNS: [&str; 7] = [
    "step",
    "mean_work",
    "work_variance",
    "ess",
    "acceptance",
    "grad_norm",
    "lr",
];

/// Which checkpoint a file is: its `format` and the names of its history columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Flow,
    Craft,
    Snf,
}

impl Kind {
    fn format(self) -> &'static str {
        match self {
            Kind::Flow => CHECKPOINT_FORMAT,
            Kind::Craft => CRAFT_CHECKPOINT_FORMAT,
            Kind::Snf => SNF_CHECKPOINT_FORMAT,
        }
    }

    fn columns(self) -> [&'static str; 7] {
        match self {
            Kind::Flow => HISTORY_COLUMNS,
            Kind::Craft => CRAFT_HISTORY_COLUMNS,
            Kind::Snf => SNF_HISTORY_COLUMNS,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Flow => "lft flow checkpoint",
            Kind::Craft => "lft CRAFT checkpoint",
            Kind::Snf => "lft SNF checkpoint",
        }
    }
}

/// Everything needed to continue training exactly, or to sample. For CRAFT: `params`,
/// `adam_m` and `adam_v` hold every transition's flow, one after the other; `step` counts
/// iterations; `rng` is unused (each iteration draws from its own streams).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub lft_version: String,
    /// The effective config the flow was trained with (TOML).
    pub config_text: String,
    /// Training steps done.
    pub step: u64,
    pub params: Vec<f64>,
    pub adam_m: Vec<f64>,
    pub adam_v: Vec<f64>,
    /// Generator state of the latent stream.
    pub rng: RngState,
    /// One row per step, columns `HISTORY_COLUMNS`.
    pub history: Vec<[f64; 7]>,
}

fn err(path: &Path) -> impl Fn(String) -> EnsembleError + '_ {
    move |message| EnsembleError::Hdf5 {
        path: path.to_path_buf(),
        message,
    }
}

/// Writes `ckpt` to `path`, replacing an earlier checkpoint (never any other file).
pub fn write_checkpoint(path: &Path, ckpt: &Checkpoint) -> Result<(), EnsembleError> {
    write_as(path, ckpt, Kind::Flow)
}

/// Reads a flow checkpoint, checking its format.
pub fn read_checkpoint(path: &Path) -> Result<Checkpoint, EnsembleError> {
    read_as(path, Kind::Flow)
}

/// Writes a CRAFT checkpoint, replacing an earlier one (never any other file).
pub fn write_craft_checkpoint(path: &Path, ckpt: &Checkpoint) -> Result<(), EnsembleError> {
    write_as(path, ckpt, Kind::Craft)
}

/// Reads a CRAFT checkpoint, checking its format.
pub fn read_craft_checkpoint(path: &Path) -> Result<Checkpoint, EnsembleError> {
    read_as(path, Kind::Craft)
}

/// Writes an SNF checkpoint (the blocks of a stochastic normalizing flow), replacing an
/// earlier one (never any other file).
pub fn write_snf_checkpoint(path: &Path, ckpt: &Checkpoint) -> Result<(), EnsembleError> {
    write_as(path, ckpt, Kind::Snf)
}

/// Reads an SNF checkpoint, checking its format.
pub fn read_snf_checkpoint(path: &Path) -> Result<Checkpoint, EnsembleError> {
    read_as(path, Kind::Snf)
}

fn write_as(path: &Path, ckpt: &Checkpoint, kind: Kind) -> Result<(), EnsembleError> {
    if path.exists() && read_as(path, kind).is_err() {
        return Err(EnsembleError::Usage {
            path: path.to_path_buf(),
            message: format!(
                "exists and is not an {}; refusing to overwrite it",
                kind.what()
            ),
        });
    }
    let mut fb = FileBuilder::new();
    let s = |v: &str| AttrValue::String(v.to_string());
    fb.set_attr("format", s(kind.format()));
    fb.set_attr("format_version", AttrValue::U64(CHECKPOINT_VERSION));
    fb.set_attr("lft_version", s(&ckpt.lft_version));
    fb.set_attr("config", s(&ckpt.config_text));
    fb.set_attr("step", AttrValue::U64(ckpt.step));
    fb.set_attr(
        "rng_state",
        AttrValue::U64Array(ckpt.rng.to_words().to_vec()),
    );
    fb.create_dataset("params").with_f64_data(&ckpt.params);
    fb.create_dataset("adam_m").with_f64_data(&ckpt.adam_m);
    fb.create_dataset("adam_v").with_f64_data(&ckpt.adam_v);
    let flat: Vec<f64> = ckpt.history.iter().flatten().copied().collect();
    fb.create_dataset("history")
        .with_f64_data(&flat)
        .with_shape(&[ckpt.history.len() as u64, 7])
        .set_attr("columns", s(&kind.columns().join(", ")));
    let bytes = fb.finish().map_err(|e| err(path)(e.to_string()))?;
    let io = |source| EnsembleError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = crate::ensemble::tmp_path(path);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

fn read_as(path: &Path, kind: Kind) -> Result<Checkpoint, EnsembleError> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(EnsembleError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    let file = hdf5_pure::File::open(path).map_err(|e| EnsembleError::NotHdf5 {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let e = |x: hdf5_pure::Error| err(path)(x.to_string());
    let map = file.root().attrs().map_err(e)?;
    let get_str = |k: &str| match map.get(k) {
        Some(AttrValue::String(s)) | Some(AttrValue::AsciiString(s)) => Some(s.clone()),
        _ => None,
    };
    let get_u64 = |k: &str| match map.get(k) {
        Some(AttrValue::U64(x)) => Some(*x),
        _ => None,
    };
    if get_str("format").as_deref() != Some(kind.format()) {
        return Err(EnsembleError::Usage {
            path: path.to_path_buf(),
            message: format!(
                "not an {} (no root attribute format = \"{}\")",
                kind.what(),
                kind.format()
            ),
        });
    }
    let damaged = |what: &str| EnsembleError::Damaged {
        path: path.to_path_buf(),
        message: format!("checkpoint {what}"),
    };
    if get_u64("format_version") != Some(CHECKPOINT_VERSION) {
        return Err(damaged("has an unsupported format_version"));
    }
    let words: [u64; 4] = match map.get("rng_state") {
        Some(AttrValue::U64Array(w)) if w.len() == 4 => [w[0], w[1], w[2], w[3]],
        _ => return Err(damaged("lacks rng_state")),
    };
    let read = |name: &str| file.dataset(name).and_then(|d| d.read_f64()).map_err(e);
    let flat = read("history")?;
    if flat.len() % 7 != 0 {
        return Err(damaged("history is not a table of 7 columns"));
    }
    let ckpt = Checkpoint {
        lft_version: get_str("lft_version").unwrap_or_default(),
        config_text: get_str("config").ok_or_else(|| damaged("lacks its config"))?,
        step: get_u64("step").ok_or_else(|| damaged("lacks step"))?,
        params: read("params")?,
        adam_m: read("adam_m")?,
        adam_v: read("adam_v")?,
        rng: RngState::from_words(words),
        history: flat
            .chunks_exact(7)
            .map(|r| r.try_into().unwrap())
            .collect(),
    };
    if ckpt.adam_m.len() != ckpt.params.len() || ckpt.adam_v.len() != ckpt.params.len() {
        return Err(damaged("optimiser state does not match the parameters"));
    }
    Ok(ckpt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/flow.h5");
        let ckpt = Checkpoint {
            lft_version: "t".into(),
            config_text: "seed = 1\n".into(),
            step: 3,
            params: vec![0.5, -1.25, 3.0],
            adam_m: vec![0.1, 0.2, 0.3],
            adam_v: vec![1.0, 2.0, 3.0],
            rng: RngState {
                state: 12345 << 70,
                stream: 99,
            },
            history: vec![
                [0.0, 1.0, 2.0, 0.5, 0.6, 7.0, 1e-3],
                [1.0, 0.9, 1.5, 0.6, 0.7, 6.0, 1e-3],
            ],
        };
        write_checkpoint(&path, &ckpt).unwrap();
        assert_eq!(read_checkpoint(&path).unwrap(), ckpt);
        // A CRAFT checkpoint is its own format: neither reads or overwrites the other.
        let craft = dir.path().join("craft.h5");
        write_craft_checkpoint(&craft, &ckpt).unwrap();
        assert_eq!(read_craft_checkpoint(&craft).unwrap(), ckpt);
        assert!(
            read_checkpoint(&craft)
                .unwrap_err()
                .to_string()
                .contains("lft flow")
        );
        assert!(
            read_craft_checkpoint(&path)
                .unwrap_err()
                .to_string()
                .contains("CRAFT")
        );
        assert!(write_craft_checkpoint(&path, &ckpt).is_err());
        assert!(write_checkpoint(&craft, &ckpt).is_err());
        write_checkpoint(
            &path,
            &Checkpoint {
                step: 4,
                ..ckpt.clone()
            },
        )
        .unwrap();
        assert_eq!(read_checkpoint(&path).unwrap().step, 4);
        let other = dir.path().join("notes.txt");
        std::fs::write(&other, "keep me").unwrap();
        assert!(
            write_checkpoint(&other, &ckpt)
                .unwrap_err()
                .to_string()
                .contains("refusing")
        );
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "keep me");
        assert!(read_checkpoint(&other).is_err());
    }
}
