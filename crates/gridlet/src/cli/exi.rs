//! `gridlet exi`: decode, encode and round-trip V2G EXI messages (without the V2GTP header).

use std::io::{BufRead, Read};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use v2g_messages::Schema;

#[derive(Debug, Subcommand)]
pub(crate) enum ExiCommand {
    /// Print an EXI message (hex) as JSON.
    Decode {
        /// handshake, din, iso2, iso20, iso20-dc, iso20-ac, iso20-acdp, iso20-wpt
        #[arg(long)]
        schema: Schema,
        /// The EXI stream as hex, without the 8-byte V2GTP header.
        hex: String,
    },
    /// Read a message as JSON on stdin (as `decode` prints it) and print its EXI encoding as hex.
    Encode {
        /// handshake, din, iso2, iso20, iso20-dc, iso20-ac, iso20-acdp, iso20-wpt
        #[arg(long)]
        schema: Schema,
    },
    /// Decode and re-encode every message of a JSON-lines file (fields `schema`, `exi`,
    /// `canonical`, optional `reencoded`, `msg`, `source`) and compare the bytes.
    Roundtrip {
        /// The JSON-lines file, e.g. testdata/v2g/messages.jsonl.
        file: std::path::PathBuf,
    },
}

impl ExiCommand {
    pub(crate) fn run(self) -> Result<ExitCode> {
        match self {
            Self::Decode { schema, hex } => {
                let bytes = from_hex(&hex)?;
                let doc = v2g_messages::decode(schema, &bytes).context("decoding")?;
                println!("{}", v2g_messages::to_json(&doc)?);
                Ok(ExitCode::SUCCESS)
            }
            Self::Encode { schema } => {
                let mut json = String::new();
                std::io::stdin().read_to_string(&mut json)?;
                let doc =
                    v2g_messages::from_json(schema, &json).context("parsing the JSON message")?;
                let bytes = v2g_messages::encode(&doc).context("encoding")?;
                println!("{}", exi::Bytes(bytes).to_hex());
                Ok(ExitCode::SUCCESS)
            }
            Self::Roundtrip { file } => roundtrip(&file),
        }
    }
}

fn from_hex(s: &str) -> Result<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(exi::Bytes::from_hex(&s).context("invalid hex")?.0)
}

#[derive(serde::Deserialize)]
struct Entry {
    schema: String,
    exi: String,
    #[serde(default = "yes")]
    canonical: bool,
    reencoded: Option<String>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    source: String,
}

fn yes() -> bool {
    true
}

fn roundtrip(path: &std::path::Path) -> Result<ExitCode> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        match check(&line) {
            Ok(()) => passed += 1,
            Err(e) => {
                failed += 1;
                println!("line {n}: {e:#}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Decodes one entry; a canonical one must re-encode to the same bytes, a non-canonical one
/// to its `reencoded` form.
fn check(line: &str) -> Result<()> {
    let e: Entry = serde_json::from_str(line).context("not a corpus entry")?;
    let what = format!("{} {} ({})", e.schema, e.msg, e.source);
    let schema: Schema = e.schema.parse().with_context(|| what.clone())?;
    let input = from_hex(&e.exi)?;
    let doc = v2g_messages::decode(schema, &input).with_context(|| format!("{what}: decode"))?;
    let out = v2g_messages::encode(&doc).with_context(|| format!("{what}: encode"))?;
    let expected = match (e.canonical, &e.reencoded) {
        (true, _) => input,
        (false, Some(r)) => from_hex(r)?,
        (false, None) => return Ok(()),
    };
    if out != expected {
        bail!(
            "{what}: re-encoded {} instead of {}",
            exi::Bytes(out).to_hex(),
            exi::Bytes(expected).to_hex()
        );
    }
    Ok(())
}
