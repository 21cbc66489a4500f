//! Resolves the loaded schemas into what the EXI grammars need: the effective content and
//! attributes of complex types (extensions flattened), the value space and EXI representation of
//! simple types (EXI 1.0 §7), and substitution groups.

use anyhow::{Context, Result, bail};

use crate::xsd::{AttrDecl, ElementDecl, Particle, QName, Schemas, Term, TypeDef, XS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntKind {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    /// `xs:integer`: unbounded.
    Big,
}

impl IntKind {
    pub(crate) fn rust(self) -> &'static str {
        match self {
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::Big => "exi::Integer",
        }
    }

    fn bounds(self) -> (Option<i128>, Option<i128>) {
        match self {
            Self::I8 => (Some(i8::MIN.into()), Some(i8::MAX.into())),
            Self::I16 => (Some(i16::MIN.into()), Some(i16::MAX.into())),
            Self::I32 => (Some(i32::MIN.into()), Some(i32::MAX.into())),
            Self::I64 => (Some(i64::MIN.into()), Some(i64::MAX.into())),
            Self::U8 => (Some(0), Some(u8::MAX.into())),
            Self::U16 => (Some(0), Some(u16::MAX.into())),
            Self::U32 => (Some(0), Some(u32::MAX.into())),
            Self::U64 => (Some(0), Some(u64::MAX.into())),
            Self::Big => (None, None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prim {
    String,
    Binary,
    Boolean,
    Int(IntKind),
}

/// A simple type's value space and how EXI represents it.
#[derive(Debug, Clone)]
pub(crate) struct SimpleInfo {
    pub(crate) prim: Prim,
    pub(crate) enumeration: Vec<String>,
    /// The type that declares the enumeration (names the generated Rust enum).
    pub(crate) enum_owner: Option<QName>,
    pub(crate) min: Option<i128>,
    pub(crate) max: Option<i128>,
    pub(crate) max_len: Option<u64>,
    pub(crate) min_len: Option<u64>,
}

/// The EXI representation of a simple value (EXI 1.0 §7.1, §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Repr {
    Enum {
        owner: QName,
        count: u32,
    },
    /// Range of at most 4096 values: n-bit offset from `min`.
    NBit {
        min: i128,
        max: i128,
        kind: IntKind,
    },
    Unsigned(IntKind),
    Signed(IntKind),
    BigInt,
    Boolean,
    Binary {
        max: Option<u64>,
    },
    String {
        max: Option<u64>,
    },
}

impl SimpleInfo {
    pub(crate) fn repr(&self) -> Repr {
        if let Some(owner) = &self.enum_owner {
            #[allow(clippy::cast_possible_truncation)]
            return Repr::Enum {
                owner: owner.clone(),
                count: self.enumeration.len() as u32,
            };
        }
        match self.prim {
            Prim::String => Repr::String { max: self.max_len },
            Prim::Binary => Repr::Binary { max: self.max_len },
            Prim::Boolean => Repr::Boolean,
            Prim::Int(IntKind::Big) => Repr::BigInt,
            Prim::Int(kind) => match (self.min, self.max) {
                (Some(min), Some(max)) if max - min < 4096 => Repr::NBit { min, max, kind },
                (Some(min), _) if min >= 0 => Repr::Unsigned(kind),
                _ => Repr::Signed(kind),
            },
        }
    }
}

fn builtin(local: &str) -> Option<SimpleInfo> {
    let prim = match local {
        "string" | "normalizedString" | "token" | "anyURI" | "ID" | "IDREF" | "NCName" | "Name"
        | "language" | "NMTOKEN" | "anySimpleType" => Prim::String,
        "hexBinary" | "base64Binary" => Prim::Binary,
        "boolean" => Prim::Boolean,
        "byte" => Prim::Int(IntKind::I8),
        "short" => Prim::Int(IntKind::I16),
        "int" => Prim::Int(IntKind::I32),
        "long" => Prim::Int(IntKind::I64),
        "unsignedByte" => Prim::Int(IntKind::U8),
        "unsignedShort" => Prim::Int(IntKind::U16),
        "unsignedInt" => Prim::Int(IntKind::U32),
        "unsignedLong" => Prim::Int(IntKind::U64),
        "integer" => Prim::Int(IntKind::Big),
        _ => return None,
    };
    let (min, max) = match prim {
        Prim::Int(k) => k.bounds(),
        _ => (None, None),
    };
    Some(SimpleInfo {
        prim,
        enumeration: Vec::new(),
        enum_owner: None,
        min,
        max,
        max_len: None,
        min_len: None,
    })
}

/// The effective content of a complex type.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Empty,
    /// Simple content of this simple type.
    Simple(QName),
    Particle(Particle),
}

#[derive(Debug, Clone)]
pub(crate) struct ComplexInfo {
    pub(crate) attributes: Vec<AttrDecl>,
    pub(crate) content: Content,
    pub(crate) mixed: bool,
}

impl Schemas {
    pub(crate) fn is_simple(&self, q: &QName) -> bool {
        if q.ns == XS {
            return q.local != "anyType";
        }
        matches!(
            self.types.get(q).map(|t| &t.def),
            Some(TypeDef::Simple { .. })
        )
    }

    pub(crate) fn simple_info(&self, q: &QName) -> Result<SimpleInfo> {
        if q.ns == XS {
            return builtin(&q.local).with_context(|| format!("unsupported built-in type {q}"));
        }
        let t = self
            .types
            .get(q)
            .with_context(|| format!("unknown type {q}"))?;
        let TypeDef::Simple { base, facets } = &t.def else {
            bail!("{q} is not a simple type")
        };
        let mut info = self.simple_info(base)?;
        if !facets.enumeration.is_empty() {
            info.enumeration.clone_from(&facets.enumeration);
            info.enum_owner = Some(q.clone());
        }
        if let Some(v) = facets.min_inclusive {
            info.min = Some(info.min.map_or(v, |m| m.max(v)));
        }
        if let Some(v) = facets.max_inclusive {
            info.max = Some(info.max.map_or(v, |m| m.min(v)));
        }
        if let Some(v) = facets.max_length {
            info.max_len = Some(info.max_len.map_or(v, |m| m.min(v)));
        }
        if let Some(v) = facets.min_length {
            info.min_len = Some(info.min_len.map_or(v, |m| m.max(v)));
        }
        Ok(info)
    }

    pub(crate) fn complex_info(&self, q: &QName) -> Result<ComplexInfo> {
        if q.ns == XS && q.local == "anyType" {
            return Ok(ComplexInfo {
                attributes: Vec::new(),
                content: Content::Empty,
                mixed: false,
            });
        }
        let t = self
            .types
            .get(q)
            .with_context(|| format!("unknown type {q}"))?;
        let TypeDef::Complex(def) = &t.def else {
            bail!("{q} is not a complex type")
        };
        let mut attributes = Vec::new();
        let mut content = Content::Empty;
        if let Some(base) = &def.base {
            if self.is_simple(base) {
                content = Content::Simple(base.clone());
            } else {
                let b = self.complex_info(base)?;
                attributes = b.attributes;
                content = b.content;
            }
        }
        attributes.extend(def.attributes.iter().cloned());
        if let Some(p) = &def.particle {
            content = match content {
                Content::Empty => Content::Particle(p.clone()),
                Content::Particle(b) => Content::Particle(Particle {
                    min: 1,
                    max: Some(1),
                    term: Term::Sequence(vec![b, p.clone()]),
                }),
                Content::Simple(_) => bail!("{q}: particle added to simple content"),
            };
        }
        Ok(ComplexInfo {
            attributes,
            content,
            mixed: def.mixed,
        })
    }

    /// The members of the substitution group headed by `head` (the head included), sorted by
    /// qualified name (EXI 1.0 §8.5.4.1.6). Abstract elements are members too: EXIficient and
    /// libcbv2g give them event codes (ISO 15118-2 `BodyElement`, `TimeInterval`, ...), and real
    /// ISO 15118-2 traffic is encoded so.
    pub(crate) fn substitution_members(&self, head: &QName) -> Result<Vec<ElementDecl>> {
        let mut members = Vec::new();
        for e in self.elements.values() {
            let mut cur = Some(e.name.clone());
            let mut steps = 0;
            while let Some(c) = cur {
                if &c == head {
                    members.push(e.clone());
                    break;
                }
                steps += 1;
                if steps > 64 {
                    bail!("substitution group cycle at {}", e.name);
                }
                cur = self
                    .elements
                    .get(&c)
                    .and_then(|x| x.substitution_group.clone());
            }
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(members)
    }
}
