//! Names the commit the binary is built from, for `gridlet --version`: `GRIDLET_COMMIT` if set
//! (a package built from a tarball), else git's HEAD, else "unknown" (no git, no repository).

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo::rerun-if-env-changed=GRIDLET_COMMIT");
    let commit = match std::env::var("GRIDLET_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_owned(),
        _ => {
            // Rebuild when HEAD moves: HEAD itself (a branch switch) and the branch's ref, loose
            // or packed. In a worktree these live in different git directories; --git-path knows.
            // A path that does not exist would make cargo run this script at every build.
            let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
            watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
            for name in &watched {
                if let Some(p) = git(&["rev-parse", "--git-path", name]).map(absolute)
                    && PathBuf::from(&p).exists()
                {
                    println!("cargo::rerun-if-changed={p}");
                }
            }
            git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo::rustc-env=GRIDLET_COMMIT={commit}");
}

/// git prints paths relative to the current directory (the crate's); cargo wants them absolute
/// or relative to the crate, which is the same here, but absolute is unambiguous.
fn absolute(p: String) -> String {
    let path = PathBuf::from(&p);
    if path.is_absolute() {
        p
    } else {
        std::env::current_dir()
            .map(|d| d.join(path).display().to_string())
            .unwrap_or(p)
    }
}
