//! `cargo xtask deb`: the Debian package of gridlet, assembled as a tree and built with
//! `dpkg-deb --build` (no debhelper, no cargo-deb: the tree is small, and every file in it is
//! decided here, where it can be read in one place).
//!
//! The package: `/usr/bin/gridlet` (stripped), `/etc/gridlet/gridlet.toml` as a conffile (the
//! FoccciCape example), the systemd unit (`dist/gridlet.service`), a man page made from the
//! binary's own `--help` (clap), `/usr/share/doc/gridlet/copyright` (ours and every linked
//! crate's licence, from `cargo metadata`), the changelog, and maintainer scripts that create the
//! `gridlet` system user and `/var/lib/gridlet`, check the configuration with `gridlet config
//! check`, and enable the service.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// What to package.
#[derive(Debug)]
pub(crate) struct Options {
    /// Rust target triple; `None`: the host.
    target: Option<String>,
    /// Cargo profile the binary is built with.
    profile: String,
    /// Use the binary already built instead of building it.
    no_build: bool,
    /// Where the `.deb` goes.
    out: Option<PathBuf>,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut o = Self {
            target: None,
            profile: "release".to_owned(),
            no_build: false,
            out: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--target" => o.target = Some(value()?.clone()),
                "--profile" => o.profile = value()?.clone(),
                "--out" => o.out = Some(PathBuf::from(value()?)),
                "--no-build" => o.no_build = true,
                other => bail!(
                    "unknown argument {other:?}; usage: cargo xtask deb [--target TRIPLE] \
                     [--profile release|board|dev] [--no-build] [--out DIR]"
                ),
            }
        }
        Ok(o)
    }
}

/// A Rust target and what Debian calls it.
struct Arch {
    /// Debian architecture.
    deb: &'static str,
    /// `strip` for its binaries.
    strip: &'static str,
    /// `objdump` for its binaries.
    objdump: &'static str,
    /// How to run its binaries here (for the man page), if not natively.
    runner: &'static [&'static str],
}

fn arch(target: Option<&str>) -> Result<Arch> {
    Ok(match target {
        None | Some("x86_64-unknown-linux-gnu") => Arch {
            deb: "amd64",
            strip: "strip",
            objdump: "objdump",
            runner: &[],
        },
        Some("armv7-unknown-linux-gnueabihf") => Arch {
            deb: "armhf",
            strip: "arm-linux-gnueabihf-strip",
            objdump: "arm-linux-gnueabihf-objdump",
            runner: &["qemu-arm-static", "-L", "/usr/arm-linux-gnueabihf"],
        },
        Some("aarch64-unknown-linux-gnu") => Arch {
            deb: "arm64",
            strip: "aarch64-linux-gnu-strip",
            objdump: "aarch64-linux-gnu-objdump",
            runner: &["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"],
        },
        Some(other) => bail!("no Debian architecture known for {other}"),
    })
}

const SUMMARY: &str = "home energy controller and CCS DC charger";
const MAINTAINER: &str = "gridlet developers <gridlet@users.noreply.github.com>";

pub(crate) fn build(root: &Path, o: &Options) -> Result<PathBuf> {
    let arch = arch(o.target.as_deref())?;
    let version = package_version(root)?;
    if !o.no_build {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .current_dir(root)
            .args(["build", "-p", "gridlet", "--profile", &o.profile]);
        if let Some(t) = &o.target {
            cargo.args(["--target", t]);
        }
        run(&mut cargo)?;
    }
    let mut bin =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    if let Some(t) = &o.target {
        bin.push(t);
    }
    bin.push(match o.profile.as_str() {
        "dev" | "test" => "debug",
        p => p,
    });
    bin.push("gridlet");
    if !bin.is_file() {
        bail!(
            "{} not found: build it first, or leave out --no-build",
            bin.display()
        );
    }

    let out_dir = o
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/deb").join(arch.deb));
    let name = format!("gridlet_{version}_{}", arch.deb);
    let tree = out_dir.join(&name);
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
    }

    // The binary, stripped (Debian ships debug symbols separately, if at all).
    let usr_bin = tree.join("usr/bin/gridlet");
    install(&bin, &usr_bin, 0o755)?;
    run(Command::new(arch.strip)
        .args(["--strip-unneeded", "--remove-section=.comment"])
        .arg(&usr_bin))?;

    write(
        &tree.join("etc/gridlet/gridlet.toml"),
        &std::fs::read_to_string(root.join("crates/gridlet/config/foccci-cape.toml"))?,
        0o644,
    )?;
    // Bookworm's systemd looks in /lib too; /usr/lib would break its /usr-merge moratorium.
    write(
        &tree.join("lib/systemd/system/gridlet.service"),
        &std::fs::read_to_string(root.join("dist/gridlet.service"))?,
        0o644,
    )?;
    let doc = tree.join("usr/share/doc/gridlet");
    write(
        &doc.join("copyright"),
        &copyright(root, o.target.as_deref())?,
        0o644,
    )?;
    write_gz(
        // A native package (no Debian revision): changelog.gz, not changelog.Debian.gz.
        &doc.join("changelog.gz"),
        &changelog(root, &version)?,
    )?;
    write_gz(
        &tree.join("usr/share/man/man1/gridlet.1.gz"),
        &man_page(&bin, &arch, &version)?,
    )?;

    let debian = tree.join("DEBIAN");
    write(
        &debian.join("conffiles"),
        "/etc/gridlet/gridlet.toml\n",
        0o644,
    )?;
    write(&debian.join("postinst"), POSTINST, 0o755)?;
    write(&debian.join("prerm"), PRERM, 0o755)?;
    write(&debian.join("postrm"), POSTRM, 0o755)?;
    write(&debian.join("md5sums"), &md5sums(&tree)?, 0o644)?;
    fix_dir_modes(&tree)?;
    let size_kib = du_kib(&tree)?;
    write(
        &debian.join("control"),
        &control(
            &version,
            arch.deb,
            size_kib,
            &shlib_depends(arch.objdump, &usr_bin)?,
        ),
        0o644,
    )?;

    let deb = out_dir.join(format!("{name}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&tree)
        .arg(&deb))?;
    Ok(deb)
}

/// The workspace version, with the commit for builds between releases? No: Debian compares
/// versions, and an upgrade must be recognised as one; the commit is in `gridlet --version`.
fn package_version(root: &Path) -> Result<String> {
    let toml = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let in_package = toml
        .split("[workspace.package]")
        .nth(1)
        .context("no [workspace.package] in Cargo.toml")?;
    let line = in_package
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .context("no version in [workspace.package]")?;
    let v = line.split('"').nth(1).context("version is not a string")?;
    Ok(v.to_owned())
}

/// `tzdata`: the binary reads time zones from /usr/share/zoneinfo; the board build bundles no
/// copy of its own (see crates/units/Cargo.toml).
fn control(version: &str, arch: &str, size_kib: u64, depends: &str) -> String {
    format!(
        "Package: gridlet
Version: {version}
Architecture: {arch}
Maintainer: {MAINTAINER}
Installed-Size: {size_kib}
Depends: {depends}, adduser, tzdata
Section: misc
Priority: optional
Homepage: https://github.com/gridlet/gridlet
Description: {SUMMARY}
 gridlet is one daemon for a small Linux board that runs a home's energy
 equipment: a CCS DC charger (DIN 70121, ISO 15118-2, ISO 15118-20 with
 bidirectional power), PV inverters, home batteries and their BMSes, meters,
 relays, price-driven control, a web UI and a REST API.
 .
 The reference board is a BeagleBone with the openinverter FoccciCape. The
 service runs as the unprivileged user gridlet with CAP_NET_RAW only, under a
 systemd watchdog kept by its control loop.
"
    )
}

/// Libraries the binary links, as package dependencies: glibc, with the version its symbols
/// need (what dpkg-shlibdeps would say; the binary needs nothing but libc and libgcc).
fn shlib_depends(objdump: &str, bin: &Path) -> Result<String> {
    let out = Command::new(objdump)
        .arg("-T")
        .arg(bin)
        .output()
        .context("running objdump (binutils)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut newest = (2u32, 2u32);
    for word in text.split_whitespace() {
        let Some(v) = word
            .trim_start_matches('(')
            .trim_end_matches(')')
            .strip_prefix("GLIBC_")
        else {
            continue;
        };
        let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
        if let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) {
            newest = newest.max((major, minor));
        }
    }
    let mut depends = format!("libc6 (>= {}.{})", newest.0, newest.1);
    let needed = Command::new(objdump).arg("-p").arg(bin).output()?;
    if String::from_utf8_lossy(&needed.stdout).contains("libgcc_s.so") {
        depends.push_str(", libgcc-s1");
    }
    Ok(depends)
}

const POSTINST: &str = r#"#!/bin/sh
# gridlet's postinst: the system user, its state directory, the configuration's check, the service.
set -e

if [ "$1" = configure ]; then
    install -d -m 0750 /var/lib/gridlet
    if ! getent passwd gridlet >/dev/null; then
        adduser --system --group --home /var/lib/gridlet --no-create-home \
            --gecos "gridlet energy controller" gridlet >/dev/null
    fi
    # GPIO, serial ports (RS485 meters), SPI: where the board's image has these groups.
    for group in gpio dialout spi; do
        if getent group "$group" >/dev/null; then
            adduser --quiet gridlet "$group" >/dev/null
        fi
    done
    chown gridlet:gridlet /var/lib/gridlet
    # The configuration may hold credentials: readable by the service, not by everyone.
    chown root:gridlet /etc/gridlet/gridlet.toml
    chmod 0640 /etc/gridlet/gridlet.toml
    if ! gridlet config check /etc/gridlet/gridlet.toml; then
        echo "gridlet: /etc/gridlet/gridlet.toml has errors (above); the service will not start until they are fixed" >&2
    fi
fi

if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    if command -v deb-systemd-helper >/dev/null; then
        if deb-systemd-helper debian-installed gridlet.service; then
            deb-systemd-helper update-state gridlet.service >/dev/null || true
        else
            deb-systemd-helper enable gridlet.service >/dev/null || true
        fi
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        if [ -n "$2" ]; then
            deb-systemd-invoke restart gridlet.service >/dev/null || true
        else
            deb-systemd-invoke start gridlet.service >/dev/null || true
        fi
    fi
fi
exit 0
"#;

const PRERM: &str = r#"#!/bin/sh
# gridlet's prerm: stop the service (it puts every actuator into its safe state) before removal.
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    deb-systemd-invoke stop gridlet.service >/dev/null || true
fi
exit 0
"#;

const POSTRM: &str = r#"#!/bin/sh
# gridlet's postrm: forget the service; on purge also its state. The system user stays (files
# elsewhere may still belong to it), as Debian recommends.
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper mask gridlet.service >/dev/null || true
fi
if [ "$1" = purge ]; then
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper purge gridlet.service >/dev/null || true
        deb-systemd-helper unmask gridlet.service >/dev/null || true
    fi
    rm -rf /var/lib/gridlet
    rmdir --ignore-fail-on-non-empty /etc/gridlet 2>/dev/null || true
fi
exit 0
"#;

/// The man page: NAME, SYNOPSIS, and clap's help of the program and of every subcommand, as the
/// binary prints them (so it never disagrees with `--help`).
fn man_page(bin: &Path, arch: &Arch, version: &str) -> Result<String> {
    let help = |args: &[&str]| -> Result<String> {
        let mut cmd = match arch.runner.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let out = cmd
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .with_context(|| format!("running {} {args:?}", bin.display()))?;
        if !out.status.success() {
            bail!(
                "{} {args:?}: {}",
                bin.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    };
    let top = help(&["--help"])?;
    // The subcommands, from the "Commands:" block of the top-level help.
    let commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    let mut m = String::new();
    writeln!(
        m,
        ".TH GRIDLET 1 \"\" \"gridlet {version}\" \"User Commands\""
    )?;
    writeln!(m, ".SH NAME\ngridlet \\- {SUMMARY}")?;
    writeln!(
        m,
        ".SH SYNOPSIS\n.B gridlet\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR"
    )?;
    writeln!(m, ".SH DESCRIPTION")?;
    verbatim(&mut m, &top);
    writeln!(m, ".SH COMMANDS")?;
    for c in &commands {
        writeln!(m, ".SS \"gridlet {c}\"")?;
        verbatim(&mut m, &help(&[c, "--help"])?);
    }
    writeln!(
        m,
        ".SH FILES\n.TP\n/etc/gridlet/gridlet.toml\nthe configuration (`gridlet config check` \
         checks it)\n.TP\n/var/lib/gridlet\nstate and history"
    )?;
    writeln!(m, ".SH SEE ALSO\n.BR systemctl (1),\n.BR journalctl (1)")?;
    Ok(m)
}

/// Preformatted text in roff, escaped (backslashes, and lines that roff would take for requests).
fn verbatim(m: &mut String, text: &str) {
    m.push_str(".nf\n");
    for line in text.lines() {
        let line = line.replace('\\', "\\e");
        if line.starts_with('.') || line.starts_with('\'') {
            m.push_str("\\&");
        }
        m.push_str(&line);
        m.push('\n');
    }
    m.push_str(".fi\n");
}

fn changelog(root: &Path, version: &str) -> Result<String> {
    let date = Command::new("git")
        .current_dir(root)
        .args(["log", "-1", "--format=%cD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 +0000".to_owned());
    Ok(format!(
        "gridlet ({version}) unstable; urgency=medium\n\n  * Built from the gridlet \
         repository; see `gridlet --version` for the commit.\n\n -- {MAINTAINER}  {date}\n"
    ))
}

/// DEP-5 copyright: ours, then every crate linked into the binary with its licence expression
/// (from `cargo metadata`), then our licences (Apache-2.0 by reference to common-licenses, as
/// Debian wants it).
fn copyright(root: &Path, target: Option<&str>) -> Result<String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"]);
    cmd.args([
        "--filter-platform",
        target.unwrap_or("x86_64-unknown-linux-gnu"),
    ]);
    let out = cmd.output().context("cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let crates = linked_crates(&meta)?;
    let mut c = String::new();
    writeln!(
        c,
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: gridlet\n\
         Source: https://github.com/gridlet/gridlet\n\n\
         Files: *\n\
         Copyright: the gridlet developers\n\
         License: MIT or Apache-2.0\n"
    )?;
    writeln!(
        c,
        "Files: usr/bin/gridlet\n\
         Copyright: the gridlet developers, and the authors of the Rust crates linked into it:"
    )?;
    let mut licences = BTreeSet::new();
    for (name, (version, licence)) in &crates {
        writeln!(c, " {name} {version}: {licence}")?;
        licences.insert(licence.clone());
    }
    writeln!(
        c,
        "License: MIT or Apache-2.0\n Each crate above is under the licence expression given with \
         it ({} distinct expressions); all are\n compatible with distributing the binary under \
         MIT or Apache-2.0.\n",
        licences.len()
    )?;
    writeln!(
        c,
        "License: Apache-2.0\n On Debian systems, the full text of the Apache License 2.0 is in\n \
         /usr/share/common-licenses/Apache-2.0 (also LICENSE-APACHE in the sources).\n"
    )?;
    for (name, file) in [("MIT", "LICENSE-MIT")] {
        writeln!(c, "License: {name}")?;
        let text = std::fs::read_to_string(root.join(file))?;
        for line in text.lines() {
            if line.trim().is_empty() {
                c.push_str(" .\n");
            } else {
                writeln!(c, " {line}")?;
            }
        }
        c.push('\n');
    }
    Ok(c)
}

/// The crates in gridlet's normal (not dev, not build) dependency graph: name -> (version,
/// licence).
fn linked_crates(meta: &serde_json::Value) -> Result<BTreeMap<String, (String, String)>> {
    let packages = meta["packages"].as_array().context("metadata: packages")?;
    let by_id: BTreeMap<&str, &serde_json::Value> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let nodes = meta["resolve"]["nodes"]
        .as_array()
        .context("metadata: resolve")?;
    let node_by_id: BTreeMap<&str, &serde_json::Value> = nodes
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let root = packages
        .iter()
        .find(|p| p["name"] == "gridlet")
        .and_then(|p| p["id"].as_str())
        .context("metadata: no gridlet package")?;
    let mut seen = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = node_by_id.get(id) else {
            continue;
        };
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if normal && let Some(d) = dep["pkg"].as_str() {
                todo.push(d);
            }
        }
    }
    let mut out = BTreeMap::new();
    for id in seen {
        let Some(p) = by_id.get(id) else { continue };
        // Our own crates are the "Files: *" paragraph.
        if p["source"].is_null() {
            continue;
        }
        let name = p["name"].as_str().unwrap_or("?").to_owned();
        let version = p["version"].as_str().unwrap_or("?").to_owned();
        let licence = p["license"]
            .as_str()
            .map(|l| l.replace('/', " OR "))
            .unwrap_or_else(|| "see the crate's licence file".to_owned());
        out.insert(name, (version, licence));
    }
    Ok(out)
}

fn md5sums(tree: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect_files(tree, tree, &mut files)?;
    files.retain(|f| !f.starts_with("DEBIAN/"));
    files.sort();
    if files.is_empty() {
        return Ok(String::new());
    }
    let out = Command::new("md5sum")
        .current_dir(tree)
        .args(&files)
        .output()
        .context("md5sum")?;
    if !out.status.success() {
        bail!("md5sum failed");
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn collect_files(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(base, &path, out)?;
        } else {
            out.push(path.strip_prefix(base)?.display().to_string());
        }
    }
    Ok(())
}

fn du_kib(tree: &Path) -> Result<u64> {
    let mut files = Vec::new();
    collect_files(tree, tree, &mut files)?;
    let mut bytes = 0;
    for f in files.iter().filter(|f| !f.starts_with("DEBIAN/")) {
        bytes += std::fs::metadata(tree.join(f))?.len().div_ceil(1024) * 1024;
    }
    Ok(bytes / 1024)
}

fn install(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    mkdirs(to)?;
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    mkdirs(path)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// gzip -9n: no name or time in the header, so the package is reproducible.
fn write_gz(path: &Path, text: &str) -> Result<()> {
    let plain = path.with_extension("");
    write(&plain, text, 0o644)?;
    run(Command::new("gzip").args(["-9nf"]).arg(&plain))?;
    Ok(())
}

fn mkdirs(file: &Path) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Directories 0755, as Debian wants them whatever the umask.
fn fix_dir_modes(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            fix_dir_modes(&path)?;
        }
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{cmd:?}: {status}");
    }
    Ok(())
}
