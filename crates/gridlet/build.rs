//! Names the commit the binary is built from, for `gridlet --version`: `GRIDLET_COMMIT` if set
//! (a package built from a tarball), else git's HEAD, else "unknown" (no git, no repository).
//!
//! Gzips the page's assets (`web/`) into `OUT_DIR` with their ETags, for `src/web.rs` to embed:
//! the binary holds only the compressed bytes, and the board does no work per request.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The assets the page needs, under `web/`, and the constant each becomes.
const ASSETS: [(&str, &str); 4] = [
    ("index.html", "INDEX_HTML"),
    ("vendor/uPlot.iife.min.js", "UPLOT_JS"),
    ("vendor/uPlot.min.css", "UPLOT_CSS"),
    ("vendor/uPlot.LICENSE", "UPLOT_LICENSE"),
];

/// Writes `OUT_DIR/assets.rs`: per asset an `Embedded` with the gzipped bytes (best
/// compression, no name or time in the header, so builds are reproducible), the plain length,
/// and a strong ETag from the plain bytes' CRC-32 and length.
fn assets() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::new();
    for (path, name) in ASSETS {
        let src = Path::new("web").join(path);
        println!("cargo::rerun-if-changed={}", src.display());
        let plain =
            std::fs::read(&src).unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
        let mut gz = flate2::GzBuilder::new()
            .mtime(0)
            .write(Vec::new(), flate2::Compression::best());
        gz.write_all(&plain).expect("gzip into memory");
        let gz = gz.finish().expect("gzip into memory");
        let file = format!("{name}.gz");
        std::fs::write(out.join(&file), &gz).unwrap_or_else(|e| panic!("cannot write {file}: {e}"));
        let mut crc = flate2::Crc::new();
        crc.update(&plain);
        let tag = format!("{:08x}-{:x}", crc.sum(), plain.len());
        writeln!(
            code,
            "/// `web/{path}`, gzipped.\n\
             const {name}: Embedded = Embedded {{ gz: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{file}\")), \
             len: {len}, etag: \"\\\"{tag}\\\"\", etag_gz: \"\\\"{tag}-gz\\\"\" }};",
            len = plain.len(),
        )
        .expect("formatting into a String");
    }
    std::fs::write(out.join("assets.rs"), code).expect("cannot write assets.rs");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    assets();
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
