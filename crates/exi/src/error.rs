//! Decode and encode errors. Both say what was wrong and where: the bit offset (decode) and the
//! path of elements from the document root to the innermost element being processed.

use std::fmt;

/// What went wrong while decoding an EXI stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended in the middle of the document.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// The EXI header is not `10` + options-absent + version 1 (EXI 1.0 §5).
    #[error("invalid EXI header: {0}")]
    InvalidHeader(&'static str),
    /// An event code larger than the grammar state allows.
    #[error("invalid event code {code} in a grammar state with {productions} productions")]
    InvalidEventCode {
        /// The decoded first-level code.
        code: u32,
        /// First-level productions of the state (the escape code is `productions`).
        productions: usize,
    },
    /// A second-level event (xsi:type, xsi:nil, undeclared element, attribute or character
    /// content: a deviation from the schema, EXI 1.0 §8.5.4.4.1), which V2G messages never use.
    #[error("unsupported second-level event (deviation from the schema)")]
    UnsupportedEvent,
    /// Content this codec does not represent: wildcard (`xs:any`) elements and mixed-content
    /// text of the xmldsig schema.
    #[error("unsupported content: {0}")]
    Unsupported(&'static str),
    /// A number does not fit the value space of its schema type.
    #[error("value out of range for {0}")]
    OutOfRange(&'static str),
    /// An enumeration index beyond the enumeration's values (EXI 1.0 §7.2).
    #[error("enumeration index {index} out of range ({count} values)")]
    InvalidEnumeration {
        /// Decoded index.
        index: u32,
        /// Number of values in the enumeration.
        count: u32,
    },
    /// A string or binary value longer than the schema's `maxLength`/`length` allows, or than
    /// the input could hold.
    #[error("length {len} exceeds the maximum {max}")]
    TooLong {
        /// Announced length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// More repetitions than the schema's `maxOccurs` (or the documented limit for unbounded).
    #[error("more than {max} occurrences")]
    TooManyOccurrences {
        /// The limit.
        max: usize,
    },
    /// A character code point that is not a Unicode scalar value.
    #[error("invalid character code point {0:#x}")]
    InvalidChar(u64),
    /// A string-table hit whose compact identifier is not in the partition (EXI 1.0 §7.3.3).
    #[error("string table {partition} hit {index} out of range ({size} entries)")]
    InvalidStringHit {
        /// `local` or `global`.
        partition: &'static str,
        /// Decoded compact identifier.
        index: u32,
        /// Entries in the partition.
        size: usize,
    },
    /// The grammar accepted an event the generated code does not expect (a generator bug).
    #[error("internal grammar mismatch")]
    Grammar,
}

/// A decode failure with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(Box<DecodeErrorInner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct DecodeErrorInner {
    kind: DecodeErrorKind,
    bit_offset: usize,
    /// Innermost element first (pushed while unwinding).
    path: Vec<&'static str>,
}

impl DecodeError {
    /// An error of `kind` detected at `bit_offset`.
    #[cold]
    #[must_use]
    pub fn new(kind: DecodeErrorKind, bit_offset: usize) -> Self {
        Self(Box::new(DecodeErrorInner {
            kind,
            bit_offset,
            path: Vec::new(),
        }))
    }

    /// Records that the error happened inside element `name` (called while unwinding).
    #[cold]
    #[must_use]
    pub fn within(mut self, name: &'static str) -> Self {
        self.0.path.push(name);
        self
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.0.kind
    }

    /// Bit offset from the start of the EXI stream where the error was detected.
    #[must_use]
    pub fn bit_offset(&self) -> usize {
        self.0.bit_offset
    }

    /// Element path from the root, e.g. `["V2G_Message", "Body", "CurrentDemandReq"]`.
    #[must_use]
    pub fn path(&self) -> Vec<&'static str> {
        self.0.path.iter().rev().copied().collect()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at bit {}", self.0.kind, self.0.bit_offset)?;
        if !self.0.path.is_empty() {
            write!(f, " in ")?;
            for (i, p) in self.0.path.iter().rev().enumerate() {
                if i > 0 {
                    write!(f, "/")?;
                }
                write!(f, "{p}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// What went wrong while encoding a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeErrorKind {
    /// A string or binary value longer than the schema allows.
    #[error("length {len} exceeds the maximum {max}")]
    TooLong {
        /// Actual length.
        len: usize,
        /// The limit.
        max: u64,
    },
    /// A number outside the schema type's range.
    #[error("value {value} out of range {min}..={max}")]
    OutOfRange {
        /// The value.
        value: i128,
        /// Smallest allowed.
        min: i128,
        /// Largest allowed.
        max: i128,
    },
    /// The value does not fit the grammar: fewer items than `minOccurs` or more than
    /// `maxOccurs`.
    #[error("{0}")]
    Occurrences(&'static str),
    /// Content this codec cannot write (required `xs:any` wildcard content).
    #[error("unsupported content: {0}")]
    Unsupported(&'static str),
    /// The grammar has no production for this event in this state (a generator bug, or a list
    /// with a wrong number of items).
    #[error("no production for the event in this grammar state")]
    Grammar,
}

/// An encode failure with the element path where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(Box<EncodeErrorInner>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct EncodeErrorInner {
    kind: EncodeErrorKind,
    path: Vec<&'static str>,
}

impl EncodeError {
    /// An error of `kind`.
    #[cold]
    #[must_use]
    pub fn new(kind: EncodeErrorKind) -> Self {
        Self(Box::new(EncodeErrorInner {
            kind,
            path: Vec::new(),
        }))
    }

    /// Records that the error happened inside element `name` (called while unwinding).
    #[cold]
    #[must_use]
    pub fn within(mut self, name: &'static str) -> Self {
        self.0.path.push(name);
        self
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &EncodeErrorKind {
        &self.0.kind
    }

    /// Element path from the root.
    #[must_use]
    pub fn path(&self) -> Vec<&'static str> {
        self.0.path.iter().rev().copied().collect()
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.kind)?;
        if !self.0.path.is_empty() {
            write!(f, " in ")?;
            for (i, p) in self.0.path.iter().rev().enumerate() {
                if i > 0 {
                    write!(f, "/")?;
                }
                write!(f, "{p}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for EncodeError {}
