//! Finds out which of the tests' outside requirements this machine has, so
//! that a test that cannot run here is reported as ignored, with its reason,
//! rather than as passed:
//! - `has_sshd`: an OpenSSH server at `/usr/sbin/sshd` (or
//!   `SUPERVISOR_REQUIRE_SSHD=1`);
//! - `has_netns`: root, `ip`, and network namespaces allowed by the sandbox
//!   (or `SUPERVISOR_REQUIRE_NETNS=1`).
//!
//! Nothing in the program itself depends on these.

use std::path::Path;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_sshd)");
    println!("cargo::rustc-check-cfg=cfg(has_netns)");
    println!("cargo::rerun-if-changed=build.rs");
    // Installing a package changes these folders, which runs this again.
    println!("cargo::rerun-if-changed=/usr/sbin");
    println!("cargo::rerun-if-env-changed=SUPERVISOR_REQUIRE_SSHD");
    println!("cargo::rerun-if-env-changed=SUPERVISOR_REQUIRE_NETNS");
    let required = |var: &str| std::env::var(var).as_deref() == Ok("1");
    if required("SUPERVISOR_REQUIRE_SSHD") || Path::new("/usr/sbin/sshd").exists() {
        println!("cargo::rustc-cfg=has_sshd");
    }
    if required("SUPERVISOR_REQUIRE_NETNS") || netns_allowed() {
        println!("cargo::rustc-cfg=has_netns");
    }
}

/// Whether this user may make network namespaces: root, `ip` installed, and
/// `unshare --net` allowed (containers often forbid it).
fn netns_allowed() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| out.stdout == b"0\n");
    let ip = Path::new("/usr/sbin/ip").exists() || Path::new("/sbin/ip").exists();
    let unshare = Command::new("unshare")
        .args(["--net", "true"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    root && ip && unshare
}
