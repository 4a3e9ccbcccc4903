//! The help names what lft does: the first line of `lft --help` names every command, and
//! `lft train --help` every training objective.

mod common;
use common::*;

#[test]
fn the_first_line_of_help_names_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = lft(dir.path(), &["--help"]);
    assert!(o.status.success());
    let text = stdout(&o);
    let first = text.lines().next().unwrap();
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 13, "{commands:?}");
    for c in commands {
        assert!(
            first.split([' ', ',', ':']).any(|w| w == c),
            "`{c}` is missing from the first line: {first}"
        );
    }
}

#[test]
fn train_help_names_every_objective() {
    let dir = tempfile::tempdir().unwrap();
    let o = lft(dir.path(), &["train", "--help"]);
    let text = stdout(&o);
    for objective in ["reverse KL", "forward KL", "flow matching", "FAB"] {
        assert!(text.contains(objective), "{objective}: {text}");
    }
}
