//! Reading and writing sysfs attributes, with errors that name the file and say whose fault they
//! are.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use devices::DeviceError;

/// An attribute could not be read, written or understood.
#[derive(Debug)]
pub(crate) enum AttrError {
    /// The kernel refused the read or write (or the file is not there).
    Io {
        path: PathBuf,
        /// What we wrote, for a write.
        written: Option<String>,
        source: io::Error,
    },
    /// The content is not what the attribute should hold.
    Parse {
        path: PathBuf,
        content: String,
        expected: &'static str,
    },
}

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path,
                written: Some(v),
                source,
            } => write!(f, "writing {v:?} to {}: {source}", path.display()),
            Self::Io {
                path,
                written: None,
                source,
            } => write!(f, "reading {}: {source}", path.display()),
            Self::Parse {
                path,
                content,
                expected,
            } => write!(f, "{}: {content:?} is not {expected}", path.display()),
        }
    }
}

impl AttrError {
    /// The error as `device`'s. A write the kernel found invalid (EINVAL) is a refused command;
    /// content we cannot parse is invalid data; anything else (missing file, permission, a
    /// driver gone) means our side is unusable.
    pub(crate) fn device(self, device: &str) -> DeviceError {
        let reason = self.to_string();
        let device = device.to_owned();
        match self {
            Self::Io {
                written: Some(_),
                source,
                ..
            } if source.kind() == io::ErrorKind::InvalidInput => {
                DeviceError::Rejected { device, reason }
            }
            Self::Io { .. } => DeviceError::Link { device, reason },
            Self::Parse { .. } => DeviceError::InvalidData { device, reason },
        }
    }
}

/// Longer than any attribute we read (a number, `normal`/`inversed`): more is not our file.
const MAX_ATTR: usize = 64;

/// Reads an attribute, without surrounding white space.
pub(crate) fn read(path: &Path) -> Result<String, AttrError> {
    let io_err = |source| AttrError::Io {
        path: path.to_owned(),
        written: None,
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    read_open(&file, path)
}

/// Reads an attribute from a file kept open. sysfs produces the value afresh for every read at
/// offset 0, so a sampling loop re-reads one open file instead of opening it per sample.
pub(crate) fn read_open(file: &File, path: &Path) -> Result<String, AttrError> {
    let mut buf = [0u8; MAX_ATTR];
    let n = file.read_at(&mut buf, 0).map_err(|source| AttrError::Io {
        path: path.to_owned(),
        written: None,
        source,
    })?;
    let parse_err = |content: &[u8]| AttrError::Parse {
        path: path.to_owned(),
        content: String::from_utf8_lossy(content).into_owned(),
        expected: "a short text attribute",
    };
    if n == buf.len() {
        return Err(parse_err(&buf));
    }
    let text = std::str::from_utf8(&buf[..n]).map_err(|_| parse_err(&buf[..n]))?;
    Ok(text.trim().to_owned())
}

/// Parses an attribute's content as `T`.
pub(crate) fn parse<T: FromStr>(
    path: &Path,
    content: String,
    expected: &'static str,
) -> Result<T, AttrError> {
    content.parse().map_err(|_| AttrError::Parse {
        path: path.to_owned(),
        content,
        expected,
    })
}

/// Reads and parses an attribute.
pub(crate) fn read_parse<T: FromStr>(path: &Path, expected: &'static str) -> Result<T, AttrError> {
    parse(path, read(path)?, expected)
}

/// Writes an attribute in one `write(2)`, as sysfs wants. Never creates the file: a missing
/// attribute is an error, not a new file (which matters for the fake trees in tests, and for a
/// mistyped root that happens to be writable).
pub(crate) fn write(path: &Path, value: &str) -> Result<(), AttrError> {
    let io_err = |source| AttrError::Io {
        path: path.to_owned(),
        written: Some(value.to_owned()),
        source,
    };
    // Truncation is ignored by sysfs and keeps a regular file (a test tree) holding only the
    // new value.
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(io_err)?;
    file.write_all(value.as_bytes()).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file_and_the_party_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("duty_cycle");
        let err = read(&path).unwrap_err().device("cp");
        assert!(
            matches!(&err, DeviceError::Link { device, reason } if device == "cp" && reason.contains("duty_cycle")),
            "{err}"
        );
        assert!(write(&path, "1").is_err(), "never creates the attribute");
        assert!(!path.exists());

        std::fs::write(&path, "12x\n").unwrap();
        let err = read_parse::<u64>(&path, "a number of nanoseconds")
            .unwrap_err()
            .device("cp");
        assert!(
            matches!(&err, DeviceError::InvalidData { reason, .. } if reason.contains("\"12x\"") && reason.contains("nanoseconds")),
            "{err}"
        );
        std::fs::write(&path, "9".repeat(100)).unwrap();
        assert!(read(&path).is_err(), "too long for an attribute");

        let refused = AttrError::Io {
            path: path.clone(),
            written: Some("5".into()),
            source: io::Error::from_raw_os_error(22),
        };
        assert!(matches!(refused.device("cp"), DeviceError::Rejected { .. }));
    }

    #[test]
    fn writes_replace_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("period");
        std::fs::write(&path, "1000000\n").unwrap();
        write(&path, "500").unwrap();
        assert_eq!(read(&path).unwrap(), "500");
        assert_eq!(read_parse::<u64>(&path, "a number").unwrap(), 500);
    }
}
