//! `gridlet plc image` and `gridlet plc pib`: the modem's image files (NVM chains, SPI flash
//! dumps) and its PIB, offline. The formats live in crate `qca-image`; this is file I/O and
//! printing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use homeplug::{MacAddr, Nmk};
use qca_image::flash::FlashLayout;
use qca_image::nvm::Chain;
use qca_image::pib::{DeviceRole, Edit, FIELDS, Pib};
use qca_image::{ChainRole, merge};

/// NVM image files and SPI flash dumps.
#[derive(Debug, Subcommand)]
pub(crate) enum ImageCommand {
    /// Split an NVM file into its modules (FILE-00.nvm, ... as nvmsplit names them), or a whole
    /// SPI flash dump into softloader.nvm, firmware.nvm and pib.pib.
    Split {
        /// The NVM file or flash dump.
        file: PathBuf,
        /// Where to write (default: beside FILE).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Split the chain at the start of FILE into modules even if more follows (what nvmsplit
        /// does with a flash dump).
        #[arg(long)]
        parts: bool,
    },
    /// Join module files into one NVM file, in the order given (as nvmmerge).
    Merge {
        /// The module files.
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Output file (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Check NVM files and flash dumps: headers, links, checksums; list the modules.
    Check {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The PIB (Parameter Information Block) in a file.
#[derive(Debug, Subcommand)]
pub(crate) enum PibCommand {
    /// Print the fields a charger needs (offsets as setpib/getpib use them).
    Show {
        /// The PIB file (.pib / .nvm).
        file: PathBuf,
    },
    /// Check the checksums and that the preferred NID is the NMK's (as chkpib).
    Check {
        /// The PIB files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Change fields: typed options, and/or a raw edit `OFFSET TYPE VALUE [TYPE VALUE]...` as
    /// setpib takes it (offset in hex; types byte word long huge hfid mac key text data fill zero
    /// skip). Checksums are redone. In place unless --out.
    Set {
        /// The PIB file.
        file: PathBuf,
        /// Raw edit: OFFSET TYPE VALUE [TYPE VALUE]...
        edit: Vec<String>,
        /// The modem's MAC address.
        #[arg(long)]
        mac: Option<MacAddr>,
        /// The NMK (32 hex digits); the preferred NID is derived from it.
        #[arg(long)]
        nmk: Option<String>,
        /// SLAC role: off, pev or evse.
        #[arg(long)]
        role: Option<String>,
        /// Write here instead of in place.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Read the PIB the module runs with (VS_MODULE_OPERATION from memory).
    Read(super::plc_modem::PibReadArgs),
    /// Write a PIB file to the module's flash, verify it and restart the module.
    Write(super::plc_modem::PibWriteArgs),
    /// Configure the PIB as the charger's modem (the board's EVSE profile) with this MAC.
    /// Idempotent. In place unless --out.
    Evse {
        /// The PIB file.
        file: PathBuf,
        /// The modem's MAC address.
        #[arg(long)]
        mac: MacAddr,
        /// Write here instead of in place.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Writes through a temporary file and a rename, so that a failed write never leaves a half
/// file where a good one was.
fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// nvmsplit's part name: the file name with its extension replaced by `-NN.nvm`.
fn part_name(file: &Path, index: usize) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = match name.rfind('.') {
        Some(dot) if dot > 0 => &name[..dot],
        _ => &name,
    };
    format!("{stem}-{index:02}.nvm")
}

fn beside(file: &Path) -> PathBuf {
    file.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

impl ImageCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Split { file, out, parts } => split(&file, out, parts),
            Self::Merge { parts, out } => {
                let bytes = parts
                    .iter()
                    .map(|p| read(p))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let merged = merge(&bytes).context("merging")?;
                match out {
                    Some(out) => write(&out, &merged)?,
                    None => {
                        use std::io::Write as _;
                        std::io::stdout().write_all(&merged)?;
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Self::Check { files } => {
                let mut ok = true;
                for file in &files {
                    if let Err(e) = check_image(file) {
                        println!("{}: {e:#}", file.display());
                        ok = false;
                    }
                }
                Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
        }
    }
}

/// An NVM file is one chain to its end; anything else with chains in it is a flash dump.
enum ImageFile {
    Nvm(Chain),
    Dump(FlashLayout),
}

fn classify(bytes: &[u8]) -> anyhow::Result<ImageFile> {
    match Chain::parse_prefix(bytes) {
        Ok((chain, len)) if len == bytes.len() => Ok(ImageFile::Nvm(chain)),
        first => {
            let layout = FlashLayout::scan(bytes);
            if layout.chains.is_empty() {
                first?;
                bail!("no NVM chain in the file");
            }
            Ok(ImageFile::Dump(layout))
        }
    }
}

fn split(file: &Path, out: Option<PathBuf>, parts: bool) -> anyhow::Result<ExitCode> {
    let bytes = read(file)?;
    let dir = out.unwrap_or_else(|| beside(file));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let kind = if parts {
        let (chain, _) = Chain::parse_prefix(&bytes)
            .with_context(|| format!("{} does not start with an NVM chain", file.display()))?;
        ImageFile::Nvm(chain)
    } else {
        classify(&bytes).with_context(|| format!("reading {}", file.display()))?
    };
    match kind {
        ImageFile::Nvm(chain) => {
            for (i, part) in chain.split().iter().enumerate() {
                let path = dir.join(part_name(file, i));
                write(&path, part)?;
                println!("{}", path.display());
            }
        }
        ImageFile::Dump(layout) => {
            for role in [ChainRole::Softloader, ChainRole::Firmware, ChainRole::Pib] {
                let chain = layout
                    .get(role)
                    .with_context(|| format!("splitting the flash dump {}", file.display()))?;
                let path = dir.join(role.file_name());
                write(&path, &chain.to_file()?)?;
                println!(
                    "{} (chain at {:#x}, {} modules, {} bytes)",
                    path.display(),
                    chain.offset,
                    chain.chain.modules.len(),
                    chain.len
                );
            }
            for extra in layout
                .chains
                .iter()
                .filter(|c| layout.get(c.role).map(|first| first.offset) != Ok(c.offset))
            {
                println!(
                    "note: another {:?} chain at {:#x} ({} bytes) not written",
                    extra.role, extra.offset, extra.len
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_chain(chain: &Chain) {
    for (i, m) in chain.modules.iter().enumerate() {
        println!(
            "  module {i}: v{} {:<14} {:>8} bytes, image checksum {:#010x}",
            m.header.version(),
            m.header.image_type().name(),
            m.image.len(),
            m.header.image_checksum()
        );
    }
}

fn check_image(file: &Path) -> anyhow::Result<()> {
    let bytes = read(file)?;
    match classify(&bytes)? {
        ImageFile::Nvm(chain) => {
            Chain::parse(&bytes)?;
            println!(
                "{}: NVM file, header version {}, {} modules, good",
                file.display(),
                chain.version().unwrap_or(0),
                chain.modules.len()
            );
            print_chain(&chain);
        }
        ImageFile::Dump(layout) => {
            println!(
                "{}: flash dump of {} bytes, {} chains",
                file.display(),
                bytes.len(),
                layout.chains.len()
            );
            let mut bad = None;
            for c in &layout.chains {
                let verdict = c.chain.check();
                println!(
                    " {:?} chain at {:#x}, {} bytes: {}",
                    c.role,
                    c.offset,
                    c.len,
                    verdict
                        .as_ref()
                        .map_or_else(ToString::to_string, |()| "good".into())
                );
                print_chain(&c.chain);
                if let Err(e) = verdict {
                    bad.get_or_insert(e);
                }
            }
            for role in [ChainRole::Softloader, ChainRole::Firmware, ChainRole::Pib] {
                layout.get(role)?;
            }
            if let Some(e) = bad {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

impl PibCommand {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Self::Show { file } => {
                let pib = load_pib(&file)?;
                show(&file, &pib);
                Ok(ExitCode::SUCCESS)
            }
            Self::Check { files } => {
                let mut ok = true;
                for file in &files {
                    match load_pib(file).and_then(|p| Ok(p.check()?)) {
                        Ok(()) => println!("{}: good", file.display()),
                        Err(e) => {
                            println!("{}: {e:#}", file.display());
                            ok = false;
                        }
                    }
                }
                Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            Self::Set {
                file,
                edit,
                mac,
                nmk,
                role,
                out,
            } => {
                let mut pib = load_pib(&file)?;
                if edit.is_empty() && mac.is_none() && nmk.is_none() && role.is_none() {
                    bail!("nothing to set: give OFFSET TYPE VALUE, --mac, --nmk or --role");
                }
                if !edit.is_empty() {
                    pib.apply(&Edit::from_args(&edit)?)?;
                }
                if let Some(mac) = mac {
                    pib.set_mac(mac)?;
                }
                if let Some(nmk) = nmk {
                    pib.set_nmk(parse_nmk(&nmk)?)?;
                }
                if let Some(role) = role {
                    pib.set_device_role(parse_role(&role)?)?;
                }
                write(out.as_deref().unwrap_or(&file), &pib.to_bytes())?;
                Ok(ExitCode::SUCCESS)
            }
            Self::Read(args) => args.run(),
            Self::Write(args) => args.run(),
            Self::Evse { file, mac, out } => {
                let mut pib = load_pib(&file)?;
                pib.apply_evse_profile(mac)?;
                let out = out.unwrap_or(file);
                write(&out, &pib.to_bytes())?;
                println!("{}: EVSE profile, MAC {mac}", out.display());
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn load_pib(file: &Path) -> anyhow::Result<Pib> {
    Pib::parse(&read(file)?).with_context(|| format!("reading the PIB in {}", file.display()))
}

fn parse_nmk(text: &str) -> anyhow::Result<Nmk> {
    let bytes = hex::decode(text.replace(':', "")).context("the NMK is not hex")?;
    let key: [u8; 16] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the NMK must be 16 bytes (32 hex digits)"))?;
    Ok(Nmk(key))
}

fn parse_role(text: &str) -> anyhow::Result<DeviceRole> {
    Ok(match text {
        "off" => DeviceRole::Disabled,
        "pev" => DeviceRole::Pev,
        "evse" => DeviceRole::Evse,
        _ => bail!("role must be off, pev or evse, not {text:?}"),
    })
}

fn show(file: &Path, pib: &Pib) {
    let verdict = pib.check().map_or_else(
        |e| format!("BAD: {e}"),
        |()| "checksums and NID good".into(),
    );
    println!(
        "{}: {} PIB, {} bytes, {verdict}",
        file.display(),
        if pib.is_nvm() {
            "NVM (QCA7000)"
        } else {
            "bare"
        },
        pib.data().len()
    );
    if let Ok(role) = pib.device_role() {
        println!("role    {role:?}");
    }
    if let Ok(nid) = pib.preferred_nid() {
        println!("nid     {nid}");
    }
    for f in FIELDS {
        let value = pib
            .get(f.offset, f.kind)
            .unwrap_or_else(|_| "(beyond the PIB's end)".into());
        println!(
            "{:04X} {:<5} {:<20} {value}",
            f.offset,
            f.kind.name(),
            f.name
        );
    }
}
