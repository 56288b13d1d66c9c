//! `wildcert check`: preflight diagnostics (being implemented: see the check issue).

use std::process::ExitCode;

use crate::args::{CheckArgs, Global};
use crate::output::Output;

/// Run the preflight checks and print one line per finding.
pub async fn run(g: &Global, a: CheckArgs, out: &Output) -> ExitCode {
    let _ = (g, a);
    out.error("not implemented yet", "this command is being written", 1)
}
