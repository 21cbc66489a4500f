//! Emits Rust: one module per target namespace (types, their EXI codec) and, for each schema,
//! the `Document` of its global elements with `decode`/`encode` entry points.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use crate::grammar::{self, ANY, LeafKind, Node, TermKind, TypeGrammar};
use crate::model::{Content, Repr, SimpleInfo};
use crate::names::{camel, snake, upper_snake};
use crate::xsd::{ElementDecl, Particle, QName, Schemas, Term, XS};

/// Repetitions without `maxOccurs` are capped at this many items when decoding, so that
/// decoding never allocates without bound. Documented in ARCHITECTURE.md.
pub(crate) const UNBOUNDED_LIMIT: u32 = 1024;

/// Generated code for one Rust module.
#[derive(Debug, Default)]
pub(crate) struct ModOut {
    /// Item name -> code (types and their codec sub-modules), for de-duplication across schemas.
    pub(crate) items: BTreeMap<String, (String, String)>,
    pub(crate) document: Option<String>,
    pub(crate) title: String,
    /// Proptest strategies: item name -> code.
    pub(crate) strategies: BTreeMap<String, String>,
    /// Global elements: (test name, strategy expression of the Document variant).
    pub(crate) roots: Vec<(String, String)>,
    /// Accessors of the enums of elements: enum name -> `impl` block (see `gen_accessors`).
    pub(crate) accessors: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) modules: BTreeMap<String, ModOut>,
    pub(crate) qnames: BTreeMap<QName, u16>,
}

impl Output {
    fn qid(&mut self, q: &QName) -> Result<u16> {
        let n = u16::try_from(self.qnames.len()).context("too many qualified names")?;
        Ok(*self.qnames.entry(q.clone()).or_insert(n))
    }

    /// Registers an item; an item of the same name must have the same code.
    fn register(&mut self, module: &str, name: &str, ty: String, codec: String) -> Result<()> {
        let m = self.modules.entry(module.to_owned()).or_default();
        match m.items.get(name) {
            Some((t, c)) if *t == ty && *c == codec => Ok(()),
            Some(_) => bail!("{module}::{name} generated twice with different content"),
            None => {
                m.items.insert(name.to_owned(), (ty, codec));
                Ok(())
            }
        }
    }
}

/// Where a Rust type lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RustTy {
    Named { module: String, name: String },
    Prim(&'static str),
}

impl RustTy {
    fn path(&self, from: &str) -> String {
        match self {
            Self::Named { module, name } if module == from => name.clone(),
            Self::Named { module, name } => format!("crate::{module}::{name}"),
            Self::Prim(p) => (*p).to_owned(),
        }
    }
}

pub(crate) struct Gen<'a> {
    pub(crate) out: &'a mut Output,
    pub(crate) s: &'a Schemas,
    pub(crate) ns_modules: &'a BTreeMap<String, String>,
    done: BTreeSet<QName>,
}

#[derive(Debug, Clone)]
enum Shape {
    Leaf(usize),
    Opt {
        first: Vec<u8>,
        inner: Box<Self>,
    },
    Rep {
        id: usize,
        min: u32,
        max: Option<u32>,
        first: Vec<u8>,
        body: Box<Self>,
    },
    Group {
        ty: String,
        fields: Vec<Field>,
    },
    Choice {
        ty: String,
        variants: Vec<Variant>,
    },
    /// A wildcard: no field, decoding it is an error.
    Skip {
        required: bool,
    },
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    xml: String,
    shape: Shape,
    doc: String,
}

#[derive(Debug, Clone)]
struct Variant {
    name: String,
    xml: String,
    first: Vec<u8>,
    shape: Shape,
}

/// Per complex type generation state.
struct TypeCx<'g> {
    g: &'g TypeGrammar,
    /// Items already generated in the module (to avoid reusing a name for different content).
    existing: Option<&'g BTreeMap<String, (String, String)>>,
    module: String,
    owner: String,
    owner_base: String,
    /// Value type of each leaf.
    leaf_ty: Vec<String>,
    /// Code of helper types (groups, choices, substitution enums): (name, code).
    extra: Vec<(String, String)>,
    consts: BTreeMap<u8, String>,
    qids: Vec<u16>,
    /// Element decoding/encoding snippets per leaf and member.
    elem_dec: BTreeMap<(usize, usize), String>,
    elem_enc: BTreeMap<(usize, usize), String>,
    /// Value coding snippets for attribute and simple-content leaves.
    value_dec: BTreeMap<usize, String>,
    value_enc: BTreeMap<usize, String>,
    uses_el: bool,
    xcount: usize,
    abstract_type: bool,
    leaf_strat: BTreeMap<usize, String>,
    extra_strat: Vec<(String, String)>,
}

fn first_terms(g: &TypeGrammar, n: &Node) -> Vec<u8> {
    let mut v: Vec<u8> = grammar::first(n)
        .into_iter()
        .flat_map(|l| g.leaves.get(l).map(|x| x.terms.clone()).unwrap_or_default())
        .collect();
    v.retain(|&t| t != ANY);
    v
}

fn pattern(consts: &BTreeMap<u8, String>, terms: &[u8]) -> String {
    terms
        .iter()
        .filter_map(|t| consts.get(t).cloned())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A place expression as the receiver of a field access or method call: `*x` (a `&mut`
/// binding) as `x`, which auto-dereferences (`*x.f` would dereference the field).
fn place_base(place: &str) -> &str {
    place.strip_prefix('*').unwrap_or(place)
}

/// Fills the place `place` into a decode template written on `@PLACE@`.
fn fill_place(template: &str, place: &str) -> String {
    template
        .replace("@PLACE@.", &format!("{}.", place_base(place)))
        .replace("@PLACE@", place)
}

fn doc_escape(s: &str) -> String {
    s.replace('[', "\\[").replace(']', "\\]")
}

impl<'a> Gen<'a> {
    pub(crate) fn new(
        out: &'a mut Output,
        s: &'a Schemas,
        ns_modules: &'a BTreeMap<String, String>,
    ) -> Self {
        Self {
            out,
            s,
            ns_modules,
            done: BTreeSet::new(),
        }
    }

    fn module_of(&self, ns: &str) -> Result<String> {
        self.ns_modules
            .get(ns)
            .cloned()
            .with_context(|| format!("no module for namespace {ns}"))
    }

    fn type_name(&self, q: &QName) -> String {
        match self.s.types.get(q).and_then(|t| t.anonymous_of.clone()) {
            Some(a) => camel(&a),
            None => camel(&q.local),
        }
    }

    /// Ensures the Rust type for schema type `q` exists; returns it.
    fn ensure(&mut self, q: &QName) -> Result<RustTy> {
        if self.s.is_simple(q) {
            return self.ensure_simple(q);
        }
        let module = self.module_of(&q.ns)?;
        let name = self.type_name(q);
        let ty = RustTy::Named { module, name };
        if self.done.insert(q.clone()) {
            self.gen_complex(q)
                .with_context(|| format!("generating {q}"))?;
        }
        Ok(ty)
    }

    fn ensure_simple(&mut self, q: &QName) -> Result<RustTy> {
        let info = self.s.simple_info(q)?;
        if let Some(owner) = &info.enum_owner {
            let module = self.module_of(&owner.ns)?;
            let name = self.type_name(owner);
            if self.done.insert(owner.clone()) {
                let (ty, codec) = self.gen_enum(owner, &name, &info)?;
                self.out.register(&module, &name, ty, codec)?;
            }
            return Ok(RustTy::Named { module, name });
        }
        let prim = prim_ty(&info);
        let anonymous = self
            .s
            .types
            .get(q)
            .is_some_and(|t| t.anonymous_of.is_some());
        if q.ns == XS || anonymous {
            return Ok(RustTy::Prim(prim));
        }
        let module = self.module_of(&q.ns)?;
        let name = self.type_name(q);
        if self.done.insert(q.clone()) {
            let mut code = String::new();
            writeln!(
                code,
                "/// `{}` (`{}`): {}.",
                q.local,
                q.ns,
                facets_doc(&info)
            )?;
            if let Some(d) = self.s.types.get(q).and_then(|t| t.doc.clone()) {
                writeln!(code, "///\n/// {}", doc_escape(&d))?;
            }
            writeln!(code, "pub type {name} = {prim};")?;
            self.out.register(&module, &name, code, String::new())?;
        }
        Ok(RustTy::Named { module, name })
    }

    fn gen_enum(&self, q: &QName, name: &str, info: &SimpleInfo) -> Result<(String, String)> {
        let n = info.enumeration.len();
        let mut variants = Vec::new();
        for v in &info.enumeration {
            let id = camel(v);
            if id.is_empty() || variants.iter().any(|(x, _): &(String, String)| *x == id) {
                bail!("enumeration {q}: cannot name value {v:?}");
            }
            variants.push((id, v.clone()));
        }
        let mut c = String::new();
        writeln!(
            c,
            "/// `{}` (`{}`): enumeration, encoded as its index in schema order (EXI 1.0 §7.2).",
            q.local, q.ns
        )?;
        writeln!(
            c,
            "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]"
        )?;
        writeln!(c, "pub enum {name} {{")?;
        for (i, (id, v)) in variants.iter().enumerate() {
            writeln!(c, "    /// `{v}`")?;
            if i == 0 {
                writeln!(c, "    #[default]")?;
            }
            writeln!(c, "    #[serde(rename = {v:?})]\n    {id},")?;
        }
        writeln!(c, "}}\n\nimpl {name} {{")?;
        writeln!(
            c,
            "    /// All values in schema order (the EXI index order)."
        )?;
        let all = variants
            .iter()
            .map(|(id, _)| format!("Self::{id}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(c, "    pub const ALL: [Self; {n}] = [{all}];\n")?;
        writeln!(
            c,
            "    /// The value as spelled in the schema.\n    #[must_use]\n    pub const fn as_str(self) -> &'static str {{\n        match self {{"
        )?;
        for (id, v) in &variants {
            writeln!(c, "            Self::{id} => {v:?},")?;
        }
        writeln!(c, "        }}\n    }}\n\n")?;
        writeln!(
            c,
            "    pub(crate) fn decode(d: &mut exi::Decoder<'_>) -> Result<Self, exi::DecodeError> {{"
        )?;
        writeln!(c, "        match d.read_enum({n})? {{")?;
        for (i, (id, _)) in variants.iter().enumerate() {
            writeln!(c, "            {i} => Ok(Self::{id}),")?;
        }
        writeln!(
            c,
            "            _ => Err(d.err(exi::DecodeErrorKind::Grammar)),\n        }}\n    }}\n"
        )?;
        writeln!(
            c,
            "    pub(crate) fn encode(self, e: &mut exi::Encoder) {{\n        e.write_enum(self as u32, {n});\n    }}\n}}"
        )?;
        Ok((c, String::new()))
    }

    fn gen_complex(&mut self, q: &QName) -> Result<()> {
        let info = self.s.complex_info(q)?;
        let g = grammar::build(self.s, &info)?;
        let module = self.module_of(&q.ns)?;
        let owner = self.type_name(q);
        let owner_base = owner
            .strip_suffix("Type")
            .filter(|s| !s.is_empty())
            .unwrap_or(&owner)
            .to_owned();
        let mut cx = TypeCx {
            g: &g,
            existing: None,
            module: module.clone(),
            owner: owner.clone(),
            owner_base,
            leaf_ty: Vec::new(),
            extra: Vec::new(),
            consts: BTreeMap::new(),
            qids: Vec::new(),
            elem_dec: BTreeMap::new(),
            elem_enc: BTreeMap::new(),
            value_dec: BTreeMap::new(),
            value_enc: BTreeMap::new(),
            uses_el: false,
            xcount: 0,
            leaf_strat: BTreeMap::new(),
            extra_strat: Vec::new(),
            abstract_type: matches!(self.s.types.get(q).map(|t| &t.def), Some(crate::xsd::TypeDef::Complex(d)) if d.is_abstract),
        };
        // Terminal constants.
        let mut used_names = BTreeSet::new();
        for t in &g.terminals {
            let base = match &t.kind {
                TermKind::At(q) => format!("AT_{}", upper_snake(&q.local)),
                TermKind::Se(q) => upper_snake(&q.local),
                TermKind::SeAny => "ANY".to_owned(),
                TermKind::Ee => "EE".to_owned(),
                TermKind::Ch => "CH".to_owned(),
                TermKind::ChMixed => "CH_MIXED".to_owned(),
            };
            let mut name = if base.starts_with(|c: char| c.is_ascii_digit()) {
                format!("E_{base}")
            } else {
                base
            };
            if !used_names.insert(name.clone())
                || name.starts_with('S') && name[1..].chars().all(|c| c.is_ascii_digit())
            {
                name = format!("{name}_{}", t.id);
                used_names.insert(name.clone());
            }
            cx.consts.insert(t.id, name);
        }
        // Leaf value types and coding snippets.
        for (li, leaf) in g.leaves.iter().enumerate() {
            let ty = match &leaf.kind {
                LeafKind::Attr(a) => {
                    let qid = self.out.qid(&a.name)?;
                    let rt = self.ensure(&a.type_name)?;
                    let info = self.s.simple_info(&a.type_name)?;
                    cx.value_dec.insert(
                        li,
                        value_dec_stmt(&info, &rt.path(&module), &qid.to_string(), &a.name.local),
                    );
                    cx.value_enc
                        .insert(li, value_enc(&info, &rt.path(&module), "VALUE"));
                    cx.leaf_strat
                        .insert(li, value_strat(&info, &rt.path("__none__")));
                    rt.path(&module)
                }
                LeafKind::SimpleContent(st) => {
                    let rt = self.ensure(st)?;
                    let info = self.s.simple_info(st)?;
                    if matches!(info.repr(), Repr::String { .. }) {
                        cx.uses_el = true;
                    }
                    cx.value_dec
                        .insert(li, value_dec_stmt(&info, &rt.path(&module), "el", &q.local));
                    cx.value_enc
                        .insert(li, value_enc(&info, &rt.path(&module), "VALUE"));
                    cx.leaf_strat
                        .insert(li, value_strat(&info, &rt.path("__none__")));
                    rt.path(&module)
                }
                LeafKind::Any => "()".to_owned(),
                LeafKind::Elem {
                    decl,
                    members,
                    subst,
                } => {
                    let mut member_tys = Vec::new();
                    let mut member_strats = Vec::new();
                    for (mi, m) in members.iter().enumerate() {
                        let (dec, enc, ty) = self.element_code(m, &module, true)?;
                        cx.elem_dec.insert((li, mi), dec);
                        cx.elem_enc.insert((li, mi), enc);
                        member_tys.push(ty);
                        member_strats.push(self.element_strat(m)?);
                    }
                    if *subst {
                        let name = camel(&decl.name.local);
                        let code = subst_enum(&name, decl, members, &member_tys)?;
                        cx.extra.push((name.clone(), code));
                        let arms: Vec<String> = members
                            .iter()
                            .zip(&member_strats)
                            .map(|(m, st)| {
                                format!("{st}.prop_map({name}::{})", camel(&m.name.local))
                            })
                            .collect();
                        cx.extra_strat.push((name.clone(), format!("pub fn {}() -> BoxedStrategy<{name}> {{\n prop_oneof![{}].boxed()\n}}\n", snake(&name), arms.join(", "))));
                        cx.leaf_strat.insert(li, format!("{}()", snake(&name)));
                        name
                    } else {
                        cx.leaf_strat
                            .insert(li, member_strats.first().cloned().unwrap_or_default());
                        member_tys.first().cloned().unwrap_or_default()
                    }
                }
            };
            cx.leaf_ty.push(ty);
            let qid = match &leaf.kind {
                LeafKind::Attr(a) => self.out.qid(&a.name)?,
                _ => 0,
            };
            cx.qids.push(qid);
        }
        let Node::Seq(items) = &g.root else {
            bail!("root is not a sequence")
        };
        cx.existing = self.out.modules.get(&module).map(|m| &m.items);
        let mut fields = Vec::new();
        cx.seq_fields(items, &mut fields)?;
        let (ty_code, codec_code) = cx.emit(q, &info.content, &fields)?;
        let mut strats = std::mem::take(&mut cx.extra_strat);
        strats.push((owner.clone(), cx.struct_strat(&owner, &fields)));
        let extra = std::mem::take(&mut cx.extra);
        self.out.register(&module, &owner, ty_code, codec_code)?;
        for (name, code) in extra {
            self.out.register(&module, &name, code, String::new())?;
        }
        let m = self.out.modules.entry(module.clone()).or_default();
        for (name, code) in strats {
            m.strategies.insert(name, code);
        }
        Ok(())
    }

    /// Decode statement (into the place `@PLACE@`), encode statement and value type of element
    /// `m`.
    fn element_code(
        &mut self,
        m: &ElementDecl,
        module: &str,
        in_codec: bool,
    ) -> Result<(String, String, String)> {
        let qid = self.out.qid(&m.name)?;
        let rt = self.ensure(&m.type_name)?;
        let ty = rt.path(module);
        let local = &m.name.local;
        if self.s.is_simple(&m.type_name) {
            let info = self.s.simple_info(&m.type_name)?;
            let qid = qid.to_string();
            let dec = match value_dec_into(&info, &qid) {
                Some(into) => format!("d.simple({local:?}, |d| {into})?;"),
                None => format!(
                    "@PLACE@ = d.simple({local:?}, |d| {})?;",
                    value_dec(&info, &ty, &qid, local)
                ),
            };
            let enc = format!(
                "e.simple({local:?}, |e| {{ {}; Ok(()) }})?;",
                value_enc(&info, &ty, "VALUE")
            );
            Ok((dec, enc, ty))
        } else {
            let RustTy::Named { module: tm, name } = &rt else {
                bail!("complex type without name")
            };
            let codec = if tm == module && in_codec {
                snake(name)
            } else if tm == module {
                format!("codec::{}", snake(name))
            } else {
                format!("crate::{tm}::codec::{}", snake(name))
            };
            let dec =
                format!("d.element({local:?}, |d| {codec}::decode(d, {qid}, &mut @PLACE@))?;");
            let enc = format!("e.element({local:?}, |e| {codec}::encode(e, VALUE, {qid}))?;");
            Ok((dec, enc, ty))
        }
    }

    /// Strategy expression for the content of element `m`.
    fn element_strat(&mut self, m: &ElementDecl) -> Result<String> {
        let rt = self.ensure(&m.type_name)?;
        if self.s.is_simple(&m.type_name) {
            let info = self.s.simple_info(&m.type_name)?;
            return Ok(value_strat(&info, &rt.path("__none__")));
        }
        let RustTy::Named { module, name } = &rt else {
            bail!("complex type without name")
        };
        Ok(format!(
            "crate::strategies::{}::{}()",
            module.replace("::", "_"),
            snake(name)
        ))
    }

    /// Emits the `Document` of a schema: its global elements (EXI 1.0 §8.5.1).
    pub(crate) fn gen_document(&mut self, module: &str, title: &str, doc_key: &str) -> Result<()> {
        let globals: Vec<ElementDecl> = self.s.elements.values().cloned().collect();
        let n = globals.len();
        let width = exi_bits(n as u64 + 1);
        let mut variants = Vec::new();
        let mut roots = Vec::new();
        for gel in &globals {
            let st = self.element_strat(gel)?;
            roots.push((
                snake(&gel.name.local),
                format!(
                    "{st}.prop_map(crate::{module}::Document::{})",
                    camel(&gel.name.local)
                ),
            ));
            let (dec, enc, ty) = self.element_code(gel, module, false)?;
            variants.push((
                camel(&gel.name.local),
                gel.name.local.clone(),
                gel.name.ns.clone(),
                dec,
                enc,
                ty,
            ));
        }
        let mut c = String::new();
        writeln!(
            c,
            "/// A {title} document: one of the schema's global elements as the root."
        )?;
        writeln!(
            c,
            "///\n/// The root element's event code is its index in this list, sorted by local name then"
        )?;
        writeln!(
            c,
            "/// namespace ({n} elements and `SE(*)`: {width} bits, EXI 1.0 §8.5.1)."
        )?;
        writeln!(
            c,
            "#[allow(clippy::large_enum_variant)] // Built once per message; boxing would hurt construction."
        )?;
        writeln!(
            c,
            "#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]\npub enum Document {{"
        )?;
        for (name, xml, ns, _, _, ty) in &variants {
            writeln!(
                c,
                "    /// `{xml}` (`{ns}`)\n    #[serde(rename = {xml:?})]\n    {name}({ty}),"
            )?;
        }
        writeln!(c, "}}\n")?;
        writeln!(
            c,
            "/// Decodes a {title} EXI stream (without the V2GTP header). Bytes after the end of the"
        )?;
        writeln!(
            c,
            "/// document are ignored.\n///\n/// # Errors\n/// If the stream is not a valid EXI document of this schema."
        )?;
        let (first, ..) = variants.first().context("schema without global elements")?;
        // `decode` starts from the root element's own default value, so that nothing is
        // replaced, and decodes it inside the `Result` it returns, so that the document is
        // built in the caller's return slot rather than moved there; `decode_into` reuses the
        // caller's document if it is the same element.
        writeln!(
            c,
            "pub fn decode(input: &[u8]) -> Result<Document, exi::DecodeError> {{\n    let mut d = exi::Decoder::new(input)?;\n    let code = d.read_nbit({width})?;\n    let mut result = Ok(match code {{"
        )?;
        for (i, (name, ..)) in variants.iter().enumerate() {
            writeln!(c, "        {i} => Document::{name}(Default::default()),")?;
        }
        writeln!(
            c,
            "        // Not a root element: `decode_root` reports it.\n        _ => Document::{first}(Default::default()),\n    }});\n    if let Ok(doc) = &mut result {{\n        decode_root(&mut d, code, doc)?;\n    }}\n    result\n}}\n"
        )?;
        writeln!(
            c,
            "/// Decodes a {title} EXI stream into `doc`, as [`decode`] does, but in place: a document\n/// decoded into again keeps its root element's value if the root is the same element.\n///\n/// # Errors\n/// If the stream is not a valid EXI document of this schema (`doc` is then unspecified)."
        )?;
        writeln!(
            c,
            "pub fn decode_into(input: &[u8], doc: &mut Document) -> Result<(), exi::DecodeError> {{\n    let mut d = exi::Decoder::new(input)?;\n    let code = d.read_nbit({width})?;\n    decode_root(&mut d, code, doc)\n}}\n"
        )?;
        writeln!(
            c,
            "/// Decodes the root element whose event code is `code` into `doc`.\nfn decode_root(d: &mut exi::Decoder<'_>, code: u32, doc: &mut Document) -> Result<(), exi::DecodeError> {{\n    match code {{"
        )?;
        for (i, (name, _, _, dec, _, _)) in variants.iter().enumerate() {
            writeln!(
                c,
                "        {i} => {{\n            if !matches!(doc, Document::{name}(_)) {{\n                *doc = Document::{name}(Default::default());\n            }}\n            if let Document::{name}(v) = doc {{\n                {}\n            }}\n        }}",
                dec.replace("@PLACE@", "*v")
            )?;
        }
        writeln!(
            c,
            "        {n} => return Err(d.err(exi::DecodeErrorKind::Unsupported(\"wildcard root element\"))),"
        )?;
        writeln!(
            c,
            "        _ => return Err(d.err(exi::DecodeErrorKind::InvalidEventCode {{ code, productions: {} }})),\n    }}\n    Ok(())\n}}\n",
            n + 1
        )?;
        writeln!(
            c,
            "/// Encodes a {title} document (without the V2GTP header).\n///\n/// # Errors"
        )?;
        writeln!(
            c,
            "/// If a value violates the schema: too long, out of range, wrong number of items."
        )?;
        writeln!(
            c,
            "pub fn encode(doc: &Document) -> Result<Vec<u8>, exi::EncodeError> {{\n    let mut out = Vec::with_capacity(64);\n    encode_into(doc, &mut out)?;\n    Ok(out)\n}}\n"
        )?;
        writeln!(
            c,
            "/// Encodes a {title} document into `out`, as [`encode`] does, replacing its content but\n/// keeping its allocation.\n///\n/// # Errors\n/// As [`encode`] (`out` is then empty)."
        )?;
        writeln!(
            c,
            "pub fn encode_into(doc: &Document, out: &mut Vec<u8>) -> Result<(), exi::EncodeError> {{"
        )?;
        writeln!(
            c,
            "    let mut e = exi::Encoder::with_buffer(std::mem::take(out));\n    match doc {{"
        )?;
        for (i, (name, _, _, _, enc, _)) in variants.iter().enumerate() {
            writeln!(
                c,
                "        Document::{name}(v) => {{\n            e.write_nbit({i}, {width});\n            {}\n        }}",
                enc.replace("VALUE", "v")
            )?;
        }
        writeln!(c, "    }}\n    *out = e.finish();\n    Ok(())\n}}")?;
        let _ = doc_key;
        let m = self.out.modules.entry(module.to_owned()).or_default();
        m.document = Some(c);
        m.title = title.to_owned();
        m.roots = roots;
        Ok(())
    }
}

fn exi_bits(count: u64) -> u32 {
    if count <= 1 {
        0
    } else {
        64 - (count - 1).leading_zeros()
    }
}

fn prim_ty(info: &SimpleInfo) -> &'static str {
    match info.prim {
        crate::model::Prim::String => "String",
        crate::model::Prim::Binary => "exi::Bytes",
        crate::model::Prim::Boolean => "bool",
        crate::model::Prim::Int(k) => k.rust(),
    }
}

fn facets_doc(info: &SimpleInfo) -> String {
    let mut parts = Vec::new();
    match info.repr() {
        Repr::NBit { min, max, .. } => {
            parts.push(format!("{min}..={max}, n-bit offset from {min}"))
        }
        Repr::Unsigned(_) | Repr::Signed(_) => {
            if let (Some(a), Some(b)) = (info.min, info.max) {
                parts.push(format!("{a}..={b}"));
            }
        }
        Repr::String { max } | Repr::Binary { max } => match (info.min_len, max) {
            (Some(a), Some(b)) if a == b => parts.push(format!("length {a}")),
            (a, b) => {
                if let Some(a) = a {
                    parts.push(format!("minLength {a}"));
                }
                if let Some(b) = b {
                    parts.push(format!("maxLength {b}"));
                }
            }
        },
        _ => {}
    }
    if parts.is_empty() {
        "restriction".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Decode expression (a `Result<()>`) of a simple value that is decoded into the place
/// `@PLACE@`, reusing its allocation (strings and binary data); `None` for the others.
fn value_dec_into(info: &SimpleInfo, qid: &str) -> Option<String> {
    let max = |m: Option<u64>| m.map_or("u64::MAX".to_owned(), |m| m.to_string());
    match info.repr() {
        Repr::Binary { max: m } => Some(format!("d.read_bytes_into({}, &mut @PLACE@)", max(m))),
        Repr::String { max: m } => Some(format!(
            "d.read_string_into({}, {qid}, &mut @PLACE@)",
            max(m)
        )),
        _ => None,
    }
}

/// Decode statement of a simple value into the place `@PLACE@`.
fn value_dec_stmt(info: &SimpleInfo, ty: &str, qid: &str, what: &str) -> String {
    match value_dec_into(info, qid) {
        Some(into) => format!("{into}?;"),
        None => format!("@PLACE@ = {}?;", value_dec(info, ty, qid, what)),
    }
}

/// Decode expression (a `Result`) of a simple value.
fn value_dec(info: &SimpleInfo, ty: &str, qid: &str, what: &str) -> String {
    match info.repr() {
        Repr::Enum { .. } => format!("{ty}::decode(d)"),
        Repr::NBit { min, max, kind } => {
            format!("d.read_ranged::<{}>({min}, {max}, {what:?})", kind.rust())
        }
        Repr::Unsigned(kind) => format!("d.read_uint::<{}>({what:?})", kind.rust()),
        Repr::Signed(kind) => format!("d.read_int::<{}>({what:?})", kind.rust()),
        Repr::BigInt => "d.read_integer()".to_owned(),
        Repr::Boolean => "d.read_bool()".to_owned(),
        Repr::Binary { max } => format!(
            "d.read_bytes({})",
            max.map_or("u64::MAX".to_owned(), |m| m.to_string())
        ),
        Repr::String { max } => format!(
            "d.read_string({}, {qid})",
            max.map_or("u64::MAX".to_owned(), |m| m.to_string())
        ),
    }
}

/// Encode statement of a simple value `v` (a reference).
fn value_enc(info: &SimpleInfo, _ty: &str, v: &str) -> String {
    match info.repr() {
        Repr::Enum { .. } => format!("{v}.encode(e)"),
        Repr::NBit {
            min,
            max,
            kind: crate::model::IntKind::I64,
        } => format!("e.write_ranged(*{v}, {min}, {max})?"),
        Repr::NBit { min, max, .. } => format!("e.write_ranged(i64::from(*{v}), {min}, {max})?"),
        Repr::Unsigned(crate::model::IntKind::U64) => format!("e.write_unsigned(*{v})"),
        Repr::Unsigned(_) => format!("e.write_unsigned(u64::from(*{v}))"),
        Repr::Signed(crate::model::IntKind::I64) => format!("e.write_int(*{v})"),
        Repr::Signed(_) => format!("e.write_int(i64::from(*{v}))"),
        Repr::BigInt => format!("e.write_integer({v})"),
        Repr::Boolean => format!("e.write_bool(*{v})"),
        Repr::Binary { max } => format!(
            "e.write_bytes({v}, {})?",
            max.map_or("u64::MAX".to_owned(), |m| m.to_string())
        ),
        Repr::String { max } => format!(
            "e.write_string({v}, {})?",
            max.map_or("u64::MAX".to_owned(), |m| m.to_string())
        ),
    }
}

/// Proptest strategy expression for a simple value within its facets (lists and strings kept
/// short so that cases stay fast).
fn value_strat(info: &SimpleInfo, ty: &str) -> String {
    match info.repr() {
        Repr::Enum { .. } => format!("proptest::sample::select({ty}::ALL.to_vec())"),
        Repr::BigInt => "any::<i64>().prop_map(exi::Integer::from)".to_owned(),
        Repr::NBit { kind, .. } | Repr::Unsigned(kind) | Repr::Signed(kind) => {
            let t = kind.rust();
            format!(
                "({}{t}..={}{t})",
                info.min.unwrap_or(0),
                info.max.unwrap_or(0)
            )
        }
        Repr::Boolean => "any::<bool>()".to_owned(),
        Repr::Binary { max } => format!(
            "vec(any::<u8>(), 0..={}).prop_map(exi::Bytes)",
            max.unwrap_or(64).min(40)
        ),
        Repr::String { max } => format!(
            "vec(any::<char>(), 0..={}).prop_map(String::from_iter)",
            max.unwrap_or(64).min(20)
        ),
    }
}

fn subst_enum(
    name: &str,
    head: &ElementDecl,
    members: &[ElementDecl],
    tys: &[String],
) -> Result<String> {
    let mut c = String::new();
    writeln!(
        c,
        "/// The substitution group of `{}` (`{}`): one variant per non-abstract member, in EXI",
        head.name.local, head.name.ns
    )?;
    writeln!(
        c,
        "/// event-code order (sorted by qualified name, EXI 1.0 §8.5.4.1.6)."
    )?;
    writeln!(
        c,
        "#[allow(clippy::large_enum_variant)] // Built once per message; boxing would hurt construction."
    )?;
    writeln!(
        c,
        "#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]\npub enum {name} {{"
    )?;
    for (m, ty) in members.iter().zip(tys) {
        let abs = if m.is_abstract {
            ", abstract: never sent by conforming peers"
        } else {
            ""
        };
        writeln!(
            c,
            "    /// `{}` (`{}`{abs})\n    #[serde(rename = {:?})]\n    {}({ty}),",
            m.name.local,
            m.name.ns,
            m.name.local,
            camel(&m.name.local)
        )?;
    }
    writeln!(c, "}}\n")?;
    let (first, ty) = members
        .first()
        .zip(tys.first())
        .context("empty substitution group")?;
    writeln!(
        c,
        "impl Default for {name} {{\n    fn default() -> Self {{\n        Self::{}(<{ty}>::default())\n    }}\n}}",
        camel(&first.name.local)
    )?;
    Ok(c)
}

impl TypeCx<'_> {
    fn leaf_name(&self, l: usize) -> (String, String) {
        match self.g.leaves.get(l).map(|x| &x.kind) {
            Some(LeafKind::Attr(a)) => (snake(&a.name.local), a.name.local.clone()),
            Some(LeafKind::Elem { decl, .. }) => (snake(&decl.name.local), decl.name.local.clone()),
            Some(LeafKind::SimpleContent(_)) => ("value".to_owned(), "value".to_owned()),
            _ => ("any".to_owned(), "any".to_owned()),
        }
    }

    fn first_leaf_xml(&self, n: &Node) -> String {
        grammar::first(n)
            .first()
            .map(|&l| self.leaf_name(l).1)
            .unwrap_or_default()
    }

    fn seq_fields(&mut self, items: &[Node], fields: &mut Vec<Field>) -> Result<()> {
        for item in items {
            if let Node::Seq(inner) = item {
                self.seq_fields(inner, fields)?;
                continue;
            }
            let shape = self.shape(item)?;
            if matches!(shape, Shape::Skip { .. }) {
                fields.push(Field {
                    name: String::new(),
                    xml: String::new(),
                    shape,
                    doc: String::new(),
                });
                continue;
            }
            let (mut name, xml) = self.node_name(item, &shape);
            while fields.iter().any(|f| f.name == name) {
                name.push('_');
            }
            let doc = self.field_doc(item);
            fields.push(Field {
                name,
                xml,
                shape,
                doc,
            });
        }
        Ok(())
    }

    fn field_doc(&self, n: &Node) -> String {
        let occurs = match n {
            Node::Opt(_) => "optional".to_owned(),
            Node::Rep { min, max, .. } => format!(
                "{min}..={} items",
                max.map_or("unbounded".to_owned(), |m| m.to_string())
            ),
            _ => "required".to_owned(),
        };
        let inner = match n {
            Node::Opt(b) => b.as_ref(),
            Node::Rep { body, .. } => body.as_ref(),
            x => x,
        };
        let what = match inner {
            Node::Leaf(l) => match self.g.leaves.get(*l).map(|x| &x.kind) {
                Some(LeafKind::Attr(a)) => format!("Attribute `{}`", a.name.local),
                Some(LeafKind::Elem {
                    decl, subst: true, ..
                }) => format!(
                    "Element `{}` or a member of its substitution group",
                    decl.name.local
                ),
                Some(LeafKind::Elem { decl, .. }) => format!("Element `{}`", decl.name.local),
                Some(LeafKind::SimpleContent(_)) => "Character content".to_owned(),
                _ => "Wildcard".to_owned(),
            },
            Node::Choice(_) => "A choice".to_owned(),
            _ => "A group".to_owned(),
        };
        format!("{what} ({occurs}).")
    }

    fn node_name(&self, n: &Node, shape: &Shape) -> (String, String) {
        match (n, shape) {
            (Node::Leaf(l), _) => self.leaf_name(*l),
            (Node::Opt(b), Shape::Opt { inner, .. }) => self.node_name(b, inner),
            (Node::Rep { body, .. }, Shape::Rep { body: s, .. }) => {
                let (n, x) = self.node_name(body, s);
                if matches!(**s, Shape::Choice { .. } | Shape::Group { .. }) {
                    (format!("{n}s"), x)
                } else {
                    (n, x)
                }
            }
            (_, Shape::Group { ty, .. } | Shape::Choice { ty, .. }) => {
                let base = ty
                    .strip_prefix(&self.owner_base)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(ty);
                (snake(base), base.to_owned())
            }
            _ => ("value".to_owned(), "value".to_owned()),
        }
    }

    fn shape(&mut self, n: &Node) -> Result<Shape> {
        Ok(match n {
            Node::Leaf(l) => match self.g.leaves.get(*l).map(|x| &x.kind) {
                Some(LeafKind::Any) => Shape::Skip { required: true },
                _ => Shape::Leaf(*l),
            },
            Node::Opt(b) => match self.shape(b)? {
                Shape::Skip { .. } => Shape::Skip { required: false },
                s => Shape::Opt {
                    first: first_terms(self.g, b),
                    inner: Box::new(s),
                },
            },
            Node::Rep { id, min, max, body } => match self.shape(body)? {
                Shape::Skip { .. } => Shape::Skip { required: *min > 0 },
                s => Shape::Rep {
                    id: *id,
                    min: *min,
                    max: *max,
                    first: first_terms(self.g, body),
                    body: Box::new(s),
                },
            },
            Node::Seq(items) => {
                let mut fields = Vec::new();
                self.seq_fields(items, &mut fields)?;
                let names: Vec<String> = items
                    .iter()
                    .map(|i| camel(&self.first_leaf_xml(i)))
                    .take(2)
                    .collect();
                let ty = format!("{}{}", self.owner_base, names.concat());
                let code = self.group_struct(&ty, &fields);
                self.extra.push((ty.clone(), code));
                let st = self.struct_strat(&ty, &fields);
                self.extra_strat.push((ty.clone(), st));
                Shape::Group { ty, fields }
            }
            Node::Choice(alts) => {
                let mut variants = Vec::new();
                for a in alts {
                    let s = self.shape(a)?;
                    if matches!(s, Shape::Skip { .. }) {
                        continue;
                    }
                    let xml = self.first_leaf_xml(a);
                    let name = match &s {
                        Shape::Leaf(l) => match self.g.leaves.get(*l).map(|x| &x.kind) {
                            Some(LeafKind::Elem { decl, .. }) => camel(&decl.name.local),
                            _ => camel(&xml),
                        },
                        _ => camel(&xml),
                    };
                    variants.push(Variant {
                        name,
                        xml,
                        first: first_terms(self.g, a),
                        shape: s,
                    });
                }
                if variants.is_empty() {
                    return Ok(Shape::Skip { required: true });
                }
                let mut ty = self.choice_name(&variants);
                let mut code = self.choice_enum(&ty, &variants);
                let clash = |name: &str, code: &str| {
                    self.existing
                        .and_then(|e| e.get(name))
                        .is_some_and(|(c, _)| c != code)
                        || self.extra.iter().any(|(n, c)| n == name && c != code)
                };
                if clash(&ty, &code) {
                    ty = format!("{}{ty}", self.owner_base);
                    code = self.choice_enum(&ty, &variants);
                }
                let arms: Vec<String> = variants
                    .iter()
                    .map(|v| format!("{}.prop_map({ty}::{})", self.strat(&v.shape), v.name))
                    .collect();
                self.extra_strat.push((
                    ty.clone(),
                    format!(
                        "pub fn {}() -> BoxedStrategy<{ty}> {{\n prop_oneof![{}].boxed()\n}}\n",
                        snake(&ty),
                        arms.join(", ")
                    ),
                ));
                self.extra.push((ty.clone(), code));
                Shape::Choice { ty, variants }
            }
        })
    }

    fn choice_name(&self, variants: &[Variant]) -> String {
        let lists: Vec<Vec<String>> = variants
            .iter()
            .map(|v| crate::names::words(&v.xml))
            .collect();
        let mut suffix: Vec<String> = Vec::new();
        if lists.len() > 1 {
            'outer: for k in 1.. {
                let mut w = None;
                for l in &lists {
                    if l.len() < k + 1 {
                        break 'outer;
                    }
                    let cur = l.get(l.len() - k);
                    match (w, cur) {
                        (None, Some(c)) => w = Some(c),
                        (Some(p), Some(c)) if p == c => {}
                        _ => break 'outer,
                    }
                }
                if let Some(w) = w {
                    suffix.insert(0, w.clone());
                }
            }
        }
        let s = camel(&suffix.join("_"));
        if s.len() >= 8 {
            s
        } else if s.is_empty() {
            format!("{}Choice", self.owner_base)
        } else {
            format!("{}{s}", self.owner_base)
        }
    }

    fn field_attrs(&self, f: &Field) -> String {
        // Choices and substitution groups are flattened so that the JSON keys are the element
        // names, as in the XML: `"Body": {"CurrentDemandReq": {...}}`.
        let enum_like = |s: &Shape| match s {
            Shape::Choice { .. } => true,
            Shape::Leaf(l) => matches!(
                self.g.leaves.get(*l).map(|x| &x.kind),
                Some(LeafKind::Elem { subst: true, .. })
            ),
            _ => false,
        };
        let flatten = match &f.shape {
            Shape::Opt { inner, .. } => enum_like(inner),
            s => enum_like(s),
        };
        if flatten {
            return "#[serde(flatten)]".to_owned();
        }
        match &f.shape {
            Shape::Opt { .. } => format!(
                "#[serde(rename = {:?}, default, skip_serializing_if = \"Option::is_none\")]",
                f.xml
            ),
            Shape::Rep { min: 0, .. } => format!(
                "#[serde(rename = {:?}, default, skip_serializing_if = \"Vec::is_empty\")]",
                f.xml
            ),
            _ => format!("#[serde(rename = {:?})]", f.xml),
        }
    }

    fn rust_type(&self, s: &Shape) -> String {
        match s {
            Shape::Leaf(l) => self.leaf_ty.get(*l).cloned().unwrap_or_default(),
            Shape::Opt { inner, .. } => format!("Option<{}>", self.rust_type(inner)),
            Shape::Rep { body, .. } => format!("Vec<{}>", self.rust_type(body)),
            Shape::Group { ty, .. } | Shape::Choice { ty, .. } => ty.clone(),
            Shape::Skip { .. } => "()".to_owned(),
        }
    }

    fn struct_fields(&self, fields: &[Field]) -> String {
        let mut c = String::new();
        for f in fields
            .iter()
            .filter(|f| !matches!(f.shape, Shape::Skip { .. }))
        {
            let _ = writeln!(
                c,
                "    /// {}\n    {}\n    pub {}: {},",
                f.doc,
                self.field_attrs(f),
                f.name,
                self.rust_type(&f.shape)
            );
        }
        c
    }

    fn group_struct(&self, ty: &str, fields: &[Field]) -> String {
        format!(
            "/// A group of `{}`'s content model.\n#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]\npub struct {ty} {{\n{}}}\n",
            self.owner,
            self.struct_fields(fields)
        )
    }

    fn choice_enum(&self, ty: &str, variants: &[Variant]) -> String {
        let alts: Vec<String> = variants.iter().map(|v| format!("`{}`", v.xml)).collect();
        let mut c = format!("/// A choice of {}.\n", alts.join(", "));
        c.push_str("#[allow(clippy::large_enum_variant)] // Built once per message; boxing would hurt construction.\n");
        let _ = writeln!(
            c,
            "#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]\npub enum {ty} {{"
        );
        for v in variants {
            let _ = writeln!(
                c,
                "    /// `{}`\n    #[serde(rename = {:?})]\n    {}({}),",
                v.xml,
                v.xml,
                v.name,
                self.rust_type(&v.shape)
            );
        }
        c.push_str("}\n\n");
        if let Some(v) = variants.first() {
            let _ = writeln!(
                c,
                "impl Default for {ty} {{\n    fn default() -> Self {{\n        Self::{}(Default::default())\n    }}\n}}",
                v.name
            );
        }
        c
    }

    /// Strategy expression for a shape.
    fn strat(&self, s: &Shape) -> String {
        match s {
            Shape::Leaf(l) => self.leaf_strat.get(l).cloned().unwrap_or_default(),
            Shape::Opt { inner, .. } => format!("proptest::option::of({})", self.strat(inner)),
            Shape::Rep { min, max, body, .. } => {
                // Short lists keep cases fast; lists up to a small maxOccurs hit the bound.
                let hi = max.map_or(min + 2, |m| if m <= 4 { m } else { (min + 2).min(m) });
                format!("vec({}, {min}..={hi})", self.strat(body))
            }
            Shape::Group { ty, .. } | Shape::Choice { ty, .. } => format!("{}()", snake(ty)),
            Shape::Skip { .. } => "Just(())".to_owned(),
        }
    }

    fn fields_strat(&self, ty: &str, fields: &[Field]) -> String {
        let live: Vec<&Field> = fields
            .iter()
            .filter(|f| !matches!(f.shape, Shape::Skip { .. }))
            .collect();
        if live.is_empty() {
            return format!("Just({ty} {{}})");
        }
        let chunks: Vec<&[&Field]> = live.chunks(8).collect();
        let tuple = chunks
            .iter()
            .map(|c| {
                format!(
                    "({},)",
                    c.iter()
                        .map(|f| self.strat(&f.shape))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let pat = chunks
            .iter()
            .map(|c| {
                format!(
                    "({},)",
                    c.iter()
                        .map(|f| format!("f_{}", f.name.trim_start_matches("r#")))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let init = live
            .iter()
            .map(|f| format!("{}: f_{}", f.name, f.name.trim_start_matches("r#")))
            .collect::<Vec<_>>()
            .join(", ");
        format!("({tuple},).prop_map(|({pat},)| {ty} {{ {init} }})")
    }

    fn struct_strat(&self, ty: &str, fields: &[Field]) -> String {
        format!(
            "pub fn {}() -> BoxedStrategy<{ty}> {{\n{}.boxed()\n}}\n",
            snake(ty),
            self.fields_strat(ty, fields)
        )
    }

    fn state_const(&self, idx: usize) -> String {
        format!("S{idx}")
    }

    /// The expression selecting the state after leaf `l`, given the count expressions of the
    /// enclosing repetitions.
    fn after(&self, l: usize, counters: &[(usize, String)]) -> Result<String> {
        let sel = self.g.after.get(l).context("no selection")?;
        if sel.tests.is_empty() {
            let (_, idx) = sel.cases.first().context("no case")?;
            return Ok(self.state_const(*idx));
        }
        let mut conds = Vec::new();
        for &(r, is_loop) in &sel.tests {
            let count = counters
                .iter()
                .find(|(id, _)| *id == r)
                .map(|(_, c)| c.clone())
                .context("repetition counter out of scope")?;
            let (min, max) = self.g.reps.get(r).copied().context("rep")?;
            conds.push(if is_loop {
                format!("{count} < {}", max.unwrap_or(u32::MAX))
            } else {
                format!("{count} >= {min}")
            });
        }
        let mut s = format!("match ({},) {{", conds.join(", "));
        let n = sel.cases.len();
        for (i, (vals, idx)) in sel.cases.iter().enumerate() {
            let pat = if i + 1 == n {
                "_".to_owned()
            } else {
                format!(
                    "({},)",
                    vals.iter()
                        .map(bool::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let _ = write!(s, " {pat} => {},", self.state_const(*idx));
        }
        s.push_str(" }");
        Ok(s)
    }

    fn term(&self, t: u8) -> String {
        self.consts.get(&t).cloned().unwrap_or_default()
    }

    /// Statements that decode shape `s` into the place `place`, overwriting all of it: a
    /// message is built where it will stay (no value is returned up the nesting and moved at each
    /// level), and a value decoded into again reuses its options and enum variants.
    fn dec(
        &mut self,
        s: &Shape,
        place: &str,
        counters: &mut Vec<(usize, String)>,
    ) -> Result<String> {
        Ok(match s {
            Shape::Leaf(l) => {
                let leaf = self.g.leaves.get(*l).context("leaf")?;
                let after = self.after(*l, counters)?;
                let read = match &leaf.kind {
                    LeafKind::Attr(_) | LeafKind::SimpleContent(_) => {
                        let t = self.term(*leaf.terms.first().context("term")?);
                        let v = self.value_dec.get(l).cloned().unwrap_or_default();
                        let v = fill_place(&v, place);
                        format!(
                            "if t != {t} {{ return Err(d.err(DecodeErrorKind::Grammar)); }}\n{v}"
                        )
                    }
                    LeafKind::Elem { subst: false, .. } => {
                        let t = self.term(*leaf.terms.first().context("term")?);
                        let v = self
                            .elem_dec
                            .get(&(*l, 0))
                            .cloned()
                            .unwrap_or_default()
                            .clone();
                        let v = fill_place(&v, place);
                        format!(
                            "if t != {t} {{ return Err(d.err(DecodeErrorKind::Grammar)); }}\n{v}"
                        )
                    }
                    LeafKind::Elem { members, .. } => {
                        let ty = self.leaf_ty.get(*l).cloned().unwrap_or_default();
                        let mut m = "match t {\n".to_owned();
                        for (mi, mem) in members.iter().enumerate() {
                            let t = self.term(*leaf.terms.get(mi).context("term")?);
                            let v = self.elem_dec.get(&(*l, mi)).cloned().unwrap_or_default();
                            let variant = format!("{ty}::{}", camel(&mem.name.local));
                            let only = members.len() == 1;
                            let _ = writeln!(
                                m,
                                "{t} => {{\n{}\n}}",
                                self.variant_into(place, &variant, only, &v)
                            );
                        }
                        m.push_str("_ => return Err(d.err(DecodeErrorKind::Grammar)),\n}");
                        m
                    }
                    LeafKind::Any => bail!("wildcard leaf decoded"),
                };
                format!("{read}\nt = d.read_event({after})?;\n")
            }
            Shape::Opt { first, inner } => {
                let pat = pattern(&self.consts, first);
                self.xcount += 1;
                let x = format!("x{}", self.xcount);
                let inner = self.dec(inner, &format!("*{x}"), counters)?;
                let base = place_base(place);
                format!(
                    "if matches!(t, {pat}) {{\nlet {x} = {base}.get_or_insert_with(Default::default);\n{inner}}} else {{\n{place} = None;\n}}\n"
                )
            }
            Shape::Rep {
                id,
                min,
                max,
                first,
                body,
            } => {
                let pat = pattern(&self.consts, first);
                let limit = max.unwrap_or(UNBOUNDED_LIMIT);
                let too_few = if *min == 1 {
                    format!("c{id} == 0")
                } else {
                    format!("c{id} < {min}")
                };
                self.xcount += 1;
                let x = format!("x{}", self.xcount);
                counters.push((*id, format!("c{id}")));
                let body = self.dec(body, &format!("*{x}"), counters)?;
                counters.pop();
                let base = place_base(place);
                format!(
                    "{base}.clear();\nlet mut c{id} = 0usize;\nwhile matches!(t, {pat}) {{\nif c{id} >= {limit} {{ return Err(d.err(DecodeErrorKind::TooManyOccurrences {{ max: {limit} }})); }}\nc{id} += 1;\n{base}.push(Default::default());\nlet Some({x}) = {base}.last_mut() else {{ return Err(d.err(DecodeErrorKind::Grammar)); }};\n{body}}}\nif {too_few} {{ return Err(d.err(DecodeErrorKind::Grammar)); }}\n"
                )
            }
            Shape::Group { fields, .. } => self.dec_fields(fields, place, counters)?,
            Shape::Choice { ty, variants } => {
                let mut m = "match t {\n".to_owned();
                for v in variants {
                    let pat = pattern(&self.consts, &v.first);
                    let inner = self.dec(&v.shape, "@PLACE@", counters)?;
                    let variant = format!("{ty}::{}", v.name);
                    let only = variants.len() == 1;
                    let _ = writeln!(
                        m,
                        "{pat} => {{\n{}\n}}",
                        self.variant_into(place, &variant, only, &inner)
                    );
                }
                m.push_str("_ => return Err(d.err(DecodeErrorKind::Grammar)),\n}\n");
                m
            }
            Shape::Skip { .. } => bail!("skip decoded"),
        })
    }

    /// Statements that make `place` the enum variant `variant` (keeping its content if it is
    /// that variant already) and decode its content with `dec` (a template on `@PLACE@`). `only`:
    /// the enum has no other variant.
    fn variant_into(&mut self, place: &str, variant: &str, only: bool, dec: &str) -> String {
        self.xcount += 1;
        let x = format!("x{}", self.xcount);
        let dec = fill_place(dec, &format!("*{x}"));
        if only {
            return format!("let {variant}({x}) = &mut {place};\n{dec}");
        }
        format!(
            "if !matches!({place}, {variant}(_)) {{ {place} = {variant}(Default::default()); }}\nlet {variant}({x}) = &mut {place} else {{ return Err(d.err(DecodeErrorKind::Grammar)); }};\n{dec}"
        )
    }

    /// Statements that decode `fields` into the fields of the struct at `place`.
    fn dec_fields(
        &mut self,
        fields: &[Field],
        place: &str,
        counters: &mut Vec<(usize, String)>,
    ) -> Result<String> {
        let mut code = String::new();
        for f in fields {
            if matches!(f.shape, Shape::Skip { .. }) {
                continue;
            }
            let field = format!("{}.{}", place_base(place), f.name);
            code.push_str(&self.dec(&f.shape, &field, counters)?);
        }
        Ok(code)
    }

    fn enc(&mut self, s: &Shape, v: &str, counters: &mut Vec<(usize, String)>) -> Result<String> {
        Ok(match s {
            Shape::Leaf(l) => {
                let leaf = self.g.leaves.get(*l).context("leaf")?;
                let after = self.after(*l, counters)?;
                let write = match &leaf.kind {
                    LeafKind::Attr(_) | LeafKind::SimpleContent(_) => {
                        let t = self.term(*leaf.terms.first().context("term")?);
                        let val = self
                            .value_enc
                            .get(l)
                            .cloned()
                            .unwrap_or_default()
                            .replace("VALUE", "x");
                        format!("{{\nlet x = {v};\ne.write_event(st, {t})?;\n{val};\n}}")
                    }
                    LeafKind::Elem { subst: false, .. } => {
                        let t = self.term(*leaf.terms.first().context("term")?);
                        let enc = self
                            .elem_enc
                            .get(&(*l, 0))
                            .cloned()
                            .unwrap_or_default()
                            .replace("VALUE", "x");
                        format!("{{\nlet x = {v};\ne.write_event(st, {t})?;\n{enc}\n}}")
                    }
                    LeafKind::Elem { members, .. } => {
                        let ty = self.leaf_ty.get(*l).cloned().unwrap_or_default();
                        let mut m = format!("match {v} {{\n");
                        for (mi, mem) in members.iter().enumerate() {
                            let t = self.term(*leaf.terms.get(mi).context("term")?);
                            let enc = self
                                .elem_enc
                                .get(&(*l, mi))
                                .cloned()
                                .unwrap_or_default()
                                .replace("VALUE", "m");
                            let _ = writeln!(
                                m,
                                "{ty}::{}(m) => {{\ne.write_event(st, {t})?;\n{enc}\n}}",
                                camel(&mem.name.local)
                            );
                        }
                        m.push('}');
                        m
                    }
                    LeafKind::Any => bail!("wildcard leaf encoded"),
                };
                format!("{write}\nst = {after};\n")
            }
            Shape::Opt { inner, .. } => {
                self.xcount += 1;
                let x = format!("x{}", self.xcount);
                let inner = self.enc(inner, &x, counters)?;
                format!("if let Some({x}) = {v} {{\n{inner}}}\n")
            }
            Shape::Rep {
                id, min, max, body, ..
            } => {
                self.xcount += 1;
                let x = format!("x{}", self.xcount);
                counters.push((*id, format!("i{id} + 1")));
                let body = self.enc(body, &x, counters)?;
                counters.pop();
                let msg = format!(
                    "between {min} and {} items",
                    max.map_or("any number of".to_owned(), |m| m.to_string())
                );
                let list = format!("l{id}");
                let too_few = if *min == 1 {
                    format!("{list}.is_empty()")
                } else {
                    format!("{list}.len() < {min}")
                };
                let max_check = max
                    .map(|m| format!(" || {list}.len() > {m}"))
                    .unwrap_or_default();
                format!(
                    "let {list} = {v};\nif {too_few}{max_check} {{ return Err(EncodeError::new(EncodeErrorKind::Occurrences({msg:?}))); }}\nfor (i{id}, {x}) in {list}.iter().enumerate() {{\nlet _ = i{id};\n{body}}}\n"
                )
            }
            Shape::Group { fields, .. } => {
                let mut c = String::new();
                for f in fields {
                    if matches!(f.shape, Shape::Skip { .. }) {
                        continue;
                    }
                    let code = self.enc(&f.shape, &format!("&{v}.{}", f.name), counters)?;
                    c.push_str(&code);
                }
                c
            }
            Shape::Choice { ty, variants } => {
                self.xcount += 1;
                let x = format!("x{}", self.xcount);
                let mut m = format!("match {v} {{\n");
                for var in variants {
                    let inner = self.enc(&var.shape, &x, counters)?;
                    let _ = writeln!(m, "{ty}::{}({x}) => {{\n{inner}}}", var.name);
                }
                m.push_str("}\n");
                m
            }
            Shape::Skip { .. } => bail!("skip encoded"),
        })
    }

    fn emit(&mut self, q: &QName, content: &Content, fields: &[Field]) -> Result<(String, String)> {
        let owner = self.owner.clone();
        let mut t = String::new();
        let is_abstract = self.abstract_type;
        let kind = match (content, is_abstract) {
            (_, true) => "abstract complex type",
            (Content::Simple(_), _) => "complex type with simple content",
            _ => "complex type",
        };
        writeln!(t, "/// `{}` (`{}`): {kind}.", q.local, q.ns)?;
        writeln!(
            t,
            "#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]\npub struct {owner} {{\n{}}}",
            self.struct_fields(fields)
        )?;

        let encodable = !fields
            .iter()
            .any(|f| matches!(f.shape, Shape::Skip { required: true }));
        let mut c = String::new();
        writeln!(c, "/// EXI grammar and codec of [`{owner}`].")?;
        writeln!(
            c,
            "pub(crate) mod {} {{\n    use super::*;\n",
            snake(&owner)
        )?;
        for tm in &self.g.terminals {
            let name = self.term(tm.id);
            let what = match &tm.kind {
                TermKind::At(q) => format!("AT({})", q.local),
                TermKind::Se(q) => format!("SE({})", q.local),
                TermKind::SeAny => "SE(*), unsupported".to_owned(),
                TermKind::Ee => "EE".to_owned(),
                TermKind::Ch => "CH (typed content)".to_owned(),
                TermKind::ChMixed => "CH (mixed text), unsupported".to_owned(),
            };
            writeln!(c, "    const {name}: u8 = {}; // {what}", tm.id)?;
        }
        let states_at = c.len();
        let el = if self.uses_el { "el" } else { "_el" };
        let body = self.dec_fields(fields, "out", &mut Vec::new())?;
        let init_state = self.state_const(self.g.initial);
        let t_mut = if body.contains("t = d.read_event") {
            "mut "
        } else {
            ""
        };
        let out = if body.contains("out.") { "out" } else { "_out" };
        writeln!(
            c,
            "\n    /// Decodes the content of an element of this type into `out`, overwriting all of it.\n    pub(crate) fn decode(d: &mut Decoder<'_>, {el}: QNameId, {out}: &mut {owner}) -> Result<(), DecodeError> {{\n        let {t_mut}t = d.read_event({init_state})?;\n{body}        if t != EE {{\n            return Err(d.err(DecodeErrorKind::Grammar));\n        }}\n        Ok(())\n    }}\n"
        )?;
        if encodable {
            let mut body = String::new();
            for f in fields {
                if matches!(f.shape, Shape::Skip { .. }) {
                    continue;
                }
                let code = self.enc(&f.shape, &format!("&v.{}", f.name), &mut Vec::new())?;
                body.push_str(&code);
            }
            let v = if fields
                .iter()
                .any(|f| !matches!(f.shape, Shape::Skip { .. }))
            {
                "v"
            } else {
                "_v"
            };
            let st_mut = if body.contains("st = ") { "mut " } else { "" };
            writeln!(
                c,
                "    pub(crate) fn encode(e: &mut Encoder, {v}: &{owner}, _el: QNameId) -> Result<(), EncodeError> {{\n        let {st_mut}st: &[u8] = {init_state};\n{body}        e.write_event(st, EE)\n    }}\n}}"
            )?;
        } else {
            writeln!(
                c,
                "    pub(crate) fn encode(_e: &mut Encoder, _v: &{owner}, _el: QNameId) -> Result<(), EncodeError> {{\n        Err(EncodeError::new(EncodeErrorKind::Unsupported(\"required wildcard (xs:any) content\")))\n    }}\n}}"
            )?;
        }
        let mut states = String::new();
        for (i, st) in self.g.states.iter().enumerate() {
            let names: Vec<String> = st.iter().map(|&id| self.term(id)).collect();
            let name = format!("S{i}");
            let used = c.match_indices(&name).any(|(at, _)| {
                !c[at + name.len()..]
                    .starts_with(|ch: char| ch.is_ascii_alphanumeric() || ch == '_')
            });
            if !used {
                states.push_str(
                    "    #[allow(dead_code)] // Reached only after unsupported wildcard content.\n",
                );
            }
            writeln!(states, "    const {name}: &[u8] = &[{}];", names.join(", "))?;
        }
        c.insert_str(states_at, &states);
        let _ = &self.qids;
        let _ = &self.module;
        Ok((t, c))
    }
}

/// A field every message of a V2G schema may have, read through an accessor on the enums of
/// elements: (element name, accessor, whether it is returned by value).
const MESSAGE_FIELDS: &[(&str, &str, bool)] = &[
    ("ResponseCode", "response_code", true),
    ("Header", "header", false),
];

/// Names and common fields of the enums of elements (each schema's `Document` and the
/// substitution groups, such as DIN 70121 and ISO 15118-2 `BodyElement`), so that code reading
/// messages needs no hand-written tables: `name()` (the element name), `response_name()` (for
/// a request `FooReq`, its response `FooRes` in the same enum) and an accessor for each of
/// [`MESSAGE_FIELDS`] that some members have. With them, a strategy of the requests among the
/// members (`document_request()`, `body_element_request()`), for tests that feed a peer
/// arbitrary requests.
impl Gen<'_> {
    pub(crate) fn gen_accessors(&mut self, module: &str) -> Result<()> {
        let globals: Vec<ElementDecl> = self.s.elements.values().cloned().collect();
        let mut enums = vec![(module.to_owned(), "Document".to_owned(), globals)];
        let heads: BTreeSet<QName> = self
            .s
            .elements
            .values()
            .filter_map(|e| e.substitution_group.clone())
            .collect();
        for head in heads {
            let module = self.module_of(&head.ns)?;
            let name = camel(&head.local);
            // Only the groups some type uses are generated (by `subst_enum`).
            let generated = self
                .out
                .modules
                .get(&module)
                .and_then(|m| m.items.get(&name))
                .is_some_and(|(code, _)| code.starts_with("/// The substitution group of"));
            if generated {
                enums.push((module, name, self.s.substitution_members(&head)?));
            }
        }
        for (module, name, members) in enums {
            let code = self.element_enum_accessors(&module, &name, &members)?;
            let strategy = self.request_strategy(&name, &members)?;
            let m = self.out.modules.entry(module).or_default();
            m.accessors.insert(name.clone(), code);
            if let Some(strategy) = strategy {
                m.strategies.insert(format!("{name}Request"), strategy);
            }
        }
        Ok(())
    }

    /// The strategy of the members of enum `name` that are requests, `None` if none is.
    fn request_strategy(&mut self, name: &str, members: &[ElementDecl]) -> Result<Option<String>> {
        let mut arms = Vec::new();
        for (m, _) in requests(members) {
            let st = self.element_strat(m)?;
            arms.push(format!("{st}.prop_map({name}::{})", camel(&m.name.local)));
        }
        if arms.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "/// The requests among [`{name}`]'s elements (those with a response).\npub fn {}_request() -> BoxedStrategy<{name}> {{\n prop_oneof![{}].boxed()\n}}\n",
            snake(name),
            arms.join(", ")
        )))
    }

    fn element_enum_accessors(
        &mut self,
        module: &str,
        name: &str,
        members: &[ElementDecl],
    ) -> Result<String> {
        let variant = |m: &ElementDecl| camel(&m.name.local);
        let mut c = format!("impl {name} {{\n");
        c.push_str("    /// The element name in the schema.\n    #[must_use]\n    pub const fn name(&self) -> &'static str {\n        match self {\n");
        for m in members {
            writeln!(
                c,
                "            Self::{}(_) => {:?},",
                variant(m),
                m.name.local
            )?;
        }
        c.push_str("        }\n    }\n");
        let responses = requests(members);
        if !responses.is_empty() {
            c.push_str("\n    /// For a request, the name of its response (`FooRes` for `FooReq`); `None` for other\n    /// elements.\n    #[must_use]\n    pub const fn response_name(&self) -> Option<&'static str> {\n        match self {\n");
            for (m, res) in &responses {
                writeln!(c, "            Self::{}(_) => Some({res:?}),", variant(m))?;
            }
            c.push_str("            _ => None,\n        }\n    }\n");
        }
        for &(element, accessor, by_value) in MESSAGE_FIELDS {
            let mut with = Vec::new();
            let mut types = BTreeSet::new();
            for m in members {
                if let Some(ty) = self.required_child(&m.type_name, element) {
                    types.insert(ty.clone());
                    with.push(variant(m));
                }
            }
            // A field of different types in different members has no one accessor.
            let [ty] = &types.into_iter().collect::<Vec<_>>()[..] else {
                continue;
            };
            let ty = self.ensure(ty)?.path(module);
            let field = snake(element);
            let rest = if with.len() < members.len() {
                "            _ => None,\n"
            } else {
                ""
            };
            let arms = |prefix: &str| {
                with.iter()
                    .map(|v| format!("            Self::{v}(v) => Some({prefix}v.{field}),\n"))
                    .collect::<String>()
            };
            if by_value {
                write!(
                    c,
                    "\n    /// The `{element}` of the elements that have one.\n    #[must_use]\n    pub const fn {accessor}(&self) -> Option<{ty}> {{\n        match self {{\n{}{rest}        }}\n    }}\n",
                    arms("")
                )?;
            } else {
                write!(
                    c,
                    "\n    /// The `{element}` of the elements that have one.\n    #[must_use]\n    pub const fn {accessor}(&self) -> Option<&{ty}> {{\n        match self {{\n{}{rest}        }}\n    }}\n",
                    arms("&")
                )?;
                write!(
                    c,
                    "\n    /// The `{element}` of the elements that have one, to change it.\n    pub fn {accessor}_mut(&mut self) -> Option<&mut {ty}> {{\n        match self {{\n{}{rest}        }}\n    }}\n",
                    arms("&mut ")
                )?;
            }
        }
        c.push_str("}\n");
        Ok(c)
    }

    /// The schema type of `element` when complex type `ty` has it as a required single child
    /// (a plain field, neither `Option` nor `Vec`).
    fn required_child(&self, ty: &QName, element: &str) -> Option<QName> {
        fn find(s: &Schemas, p: &Particle, element: &str) -> Option<QName> {
            if p.min != 1 || p.max != Some(1) {
                return None;
            }
            match &p.term {
                Term::Sequence(items) => items.iter().find_map(|i| find(s, i, element)),
                Term::Element(d) if d.name.local == element => Some(d.type_name.clone()),
                Term::Ref(q) if q.local == element => {
                    s.elements.get(q).map(|d| d.type_name.clone())
                }
                _ => None,
            }
        }
        if self.s.is_simple(ty) {
            return None;
        }
        match self.s.complex_info(ty).ok()?.content {
            Content::Particle(p) => find(self.s, &p, element),
            _ => None,
        }
    }
}

/// The requests among `members` (`FooReq` with a `FooRes` among them), with their response.
fn requests(members: &[ElementDecl]) -> Vec<(&ElementDecl, String)> {
    members
        .iter()
        .filter_map(|m| {
            let res = format!("{}Res", m.name.local.strip_suffix("Req")?);
            members
                .iter()
                .any(|x| x.name.local == res)
                .then_some((m, res))
        })
        .collect()
}
