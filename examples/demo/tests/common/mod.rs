//! What the binary tests share: the `demo` binary with a clean environment, killed on drop.
#![allow(dead_code, unreachable_pub, reason = "each test binary uses a different subset")]

use std::process::{Child, Command};

/// The `demo` binary run in `dir` with only `PATH` from the environment.
pub fn demo(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.current_dir(dir).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

/// A child process killed and reaped when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
