//! Data integrity from the command line: `lft verify` names a flipped bit in any kind of
//! stored data with its chain, dataset and rows (exit code 1), `lft measure` and `lft info`
//! stop at it with the same names, and `--no-verify` reads the other rounds with a warning.

mod common;
use common::*;
use std::io::Read;

#[test]
fn a_flipped_bit_is_named_by_verify_measure_and_info() {
    let dir = scratch(SMALL);
    let o = lft(dir.path(), &["run", "config.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::write(dir.path().join("smc.toml"), SMALL_SMC).unwrap();
    let o = lft(dir.path(), &["anneal", "smc.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let hmc_rows = 300;
    let cases = [
        // (file, chain, dataset, row, byte, mask)
        ("out/ens.h5", 1, "configs", 17, 5, 0x08),
        ("out/ens.h5", 0, "action", 3, 2, 0x01),
        ("out/ens.h5", 0, "delta_h", 250, 7, 0x80),
        ("out/ens.h5", 1, "rng_state", 99, 12, 0x02),
        ("out/ens.h5", 0, "accepted", 42, 0, 0x01),
        ("out/anneal.h5", 1, "log_weight", 10, 0, 0x04),
    ];
    for (file, chain, dataset, row, byte, mask) in cases {
        let bad = dir.path().join("bad.h5");
        std::fs::copy(dir.path().join(file), &bad).unwrap();
        damage(&bad, chain, dataset, row, byte, mask);
        let rows = if file == "out/ens.h5" {
            format!("rows 0..{hmc_rows}")
        } else {
            "rows 0..".to_string()
        };
        let named = [
            format!("chain {chain}, dataset `{dataset}`"),
            rows.clone(),
            "(round 0)".into(),
        ];

        let o = lft(dir.path(), &["verify", "out/ens.h5", "bad.h5"]);
        assert_eq!(o.status.code(), Some(1), "{dataset}: {}", stdout(&o));
        let text = stdout(&o);
        assert!(text.contains("out/ens.h5: ok"), "{text}");
        assert!(text.contains("bad.h5: DAMAGED, 1 finding(s)"), "{text}");
        for part in &named {
            assert!(
                text.contains(part.as_str()),
                "{dataset}: {part} not in {text}"
            );
        }

        let o = lft(dir.path(), &["verify", "--json", "bad.h5"]);
        assert_eq!(o.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let d = &v["files"][0]["damage"][0];
        assert_eq!(v["damaged"], 1);
        assert_eq!(v["files"][0]["status"], "damaged");
        assert_eq!(
            (d["chain"].as_u64(), d["dataset"].as_str()),
            (Some(chain as u64), Some(dataset))
        );
        assert_eq!(d["kind"], "checksum");
        assert_eq!(d["rows"][0], 0);

        // Reading it stops, naming file, chain, dataset and rows (`accepted` is what lft info
        // reads; measure reads the rest).
        let cmd = if dataset == "accepted" {
            "info"
        } else {
            "measure"
        };
        let o = lft(dir.path(), &[cmd, "bad.h5"]);
        assert!(!o.status.success(), "{cmd} read damaged {dataset}");
        let err = stderr(&o);
        assert!(err.contains("bad.h5: damaged data"), "{err}");
        for part in &named {
            assert!(
                err.contains(part.as_str()),
                "{cmd} {dataset}: {part} not in {err}"
            );
        }
        assert!(err.contains("lft verify"), "{err}");

        // --no-verify: the other chain is read, the damaged round named in a warning.
        if file == "out/ens.h5" {
            let args: &[&str] = match cmd {
                "measure" => &["measure", "bad.h5", "--no-verify", "--json"],
                _ => &["info", "bad.h5", "--no-verify"],
            };
            let o = lft(dir.path(), args);
            assert!(o.status.success(), "{cmd} --no-verify: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.contains("skipping damaged rows"), "{err}");
            assert!(err.contains(named[0].as_str()), "{err}");
            if cmd == "measure" {
                let m: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
                assert_eq!(m["n_configs"], hmc_rows, "{m}");
            } else {
                assert!(
                    stdout(&o).contains(&format!("chain {chain}: 0 configurations")),
                    "{}",
                    stdout(&o)
                );
            }
        }
    }
}

#[test]
fn files_before_checksums_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let gz = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../lft-io/tests/data/hmc-before-checksums.h5.gz");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    std::fs::write(dir.path().join("old.h5"), &bytes).unwrap();
    std::fs::write(dir.path().join("notes.h5"), "not HDF5").unwrap();

    let o = lft(dir.path(), &["verify", "old.h5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("old.h5: ok (2 chain(s), 60 configurations; written before checksums"),
        "{}",
        stdout(&o)
    );
    let o = lft(dir.path(), &["info", "old.h5"]);
    assert!(stdout(&o).contains("checksums     none"), "{}", stdout(&o));

    // Extended by a run of its own config, it is rewritten with checksums.
    let text = lft_io::EnsembleReader::open(&dir.path().join("old.h5"))
        .unwrap()
        .meta()
        .config_text
        .clone();
    assert!(text.contains("trajectories = 30") && text.contains("/tmp/legacy.h5"));
    let text = text
        .replace("trajectories = 30", "trajectories = 40")
        .replace("/tmp/legacy.h5", "extended.h5");
    std::fs::write(dir.path().join("old.toml"), text).unwrap();
    std::fs::copy(dir.path().join("old.h5"), dir.path().join("extended.h5")).unwrap();
    let o = lft(dir.path(), &["run", "old.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = assert_verifies(dir.path(), "extended.h5");
    assert_eq!(v["configurations"], 80);

    let o = lft(
        dir.path(),
        &["verify", "--json", "old.h5", "notes.h5", "missing.h5"],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["checked"].as_u64(), v["damaged"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(v["files"][0]["checksums"], false);
    assert_eq!(v["files"][0]["status"], "ok");
    assert_eq!(v["files"][1]["status"], "unreadable");
    assert!(
        v["files"][2]["error"]
            .as_str()
            .unwrap()
            .contains("No such file"),
        "{v}"
    );
    assert!(stderr(&o).contains("2 of 3 file(s) damaged or unreadable"));
}
