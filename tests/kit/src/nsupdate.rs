//! Running `nsupdate -k KEY_FILE` with a script on stdin: how [`crate::ZoneMirror`] applies a
//! fake's accepted changes to the BIND topology's primary.

use std::path::Path;
use std::process::{Output, Stdio};

use crate::util::{KitError, Result, tool};

/// Run `script` (`server …`, `zone …`, `update …`, `send`) signed with the key in `key_file`;
/// `-t 5` bounds each exchange with the server.
pub(crate) fn nsupdate_blocking(key_file: &Path, script: &str) -> Result<()> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(tool("nsupdate")?)
        .args(["-t", "5", "-k"])
        .arg(key_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KitError(format!("cannot run nsupdate: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    checked(&out, script)
}

fn checked(out: &Output, script: &str) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    Err(KitError(format!(
        "nsupdate failed ({}): {}{}\nscript:\n{script}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )))
}
