//! Loads the XML Schema subset the V2G schemas use into an owned model: global elements,
//! named (and anonymous) types, particles, attributes and facets. Namespace prefixes are resolved
//! while loading, so the rest of the generator works on qualified names only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The XML Schema namespace.
pub(crate) const XS: &str = "http://www.w3.org/2001/XMLSchema";

/// A qualified name. Ordered by local name first, then namespace: the EXI sort order for
/// qualified names (EXI 1.0 §8.5.4.1.2, §8.5.4.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct QName {
    pub(crate) ns: String,
    pub(crate) local: String,
}

impl QName {
    pub(crate) fn new(ns: &str, local: &str) -> Self {
        Self {
            ns: ns.to_owned(),
            local: local.to_owned(),
        }
    }
}

impl Ord for QName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (&self.local, &self.ns).cmp(&(&other.local, &other.ns))
    }
}

impl PartialOrd for QName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for QName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{}}}{}", self.ns, self.local)
    }
}

/// An element declaration (global or local).
#[derive(Debug, Clone)]
pub(crate) struct ElementDecl {
    pub(crate) name: QName,
    pub(crate) type_name: QName,
    pub(crate) is_abstract: bool,
    pub(crate) substitution_group: Option<QName>,
}

#[derive(Debug, Clone)]
pub(crate) struct AttrDecl {
    pub(crate) name: QName,
    pub(crate) type_name: QName,
    pub(crate) required: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Particle {
    pub(crate) min: u32,
    /// `None` is `unbounded`.
    pub(crate) max: Option<u32>,
    pub(crate) term: Term,
}

#[derive(Debug, Clone)]
pub(crate) enum Term {
    Element(ElementDecl),
    Ref(QName),
    /// `xs:any`; the namespace constraint only decides between `SE(*)` and `SE(uri:*)`, and all
    /// V2G wildcards are `##any`/`##other`, both `SE(*)` (EXI 1.0 §8.5.4.1.6).
    Any,
    Sequence(Vec<Particle>),
    Choice(Vec<Particle>),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Facets {
    pub(crate) enumeration: Vec<String>,
    pub(crate) min_inclusive: Option<i128>,
    pub(crate) max_inclusive: Option<i128>,
    pub(crate) max_length: Option<u64>,
    pub(crate) min_length: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) enum TypeDef {
    Simple { base: QName, facets: Facets },
    Complex(ComplexDef),
}

#[derive(Debug, Clone)]
pub(crate) struct ComplexDef {
    pub(crate) is_abstract: bool,
    pub(crate) mixed: bool,
    /// `complexContent`/`simpleContent` extension base.
    pub(crate) base: Option<QName>,
    pub(crate) simple_content: bool,
    pub(crate) attributes: Vec<AttrDecl>,
    pub(crate) particle: Option<Particle>,
}

/// A named or anonymous type; anonymous ones get a synthetic name (see `anonymous_of`).
#[derive(Debug, Clone)]
pub(crate) struct NamedType {
    pub(crate) def: TypeDef,
    /// For anonymous types: the name of the element that declares it.
    pub(crate) anonymous_of: Option<String>,
    pub(crate) doc: Option<String>,
}

/// All declarations of a set of schema files.
#[derive(Debug, Default)]
pub(crate) struct Schemas {
    pub(crate) elements: BTreeMap<QName, ElementDecl>,
    pub(crate) types: BTreeMap<QName, NamedType>,
    /// Target namespaces per loaded file, in load order.
    pub(crate) files: Vec<(PathBuf, String)>,
    loaded: BTreeSet<PathBuf>,
}

impl Schemas {
    /// Loads `path` and everything it imports (recursively) into `self`; returns the target
    /// namespaces of the files loaded for this root.
    pub(crate) fn load(&mut self, path: &Path) -> Result<()> {
        let path = path
            .canonicalize()
            .with_context(|| format!("schema {}", path.display()))?;
        if !self.loaded.insert(path.clone()) {
            return Ok(());
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let opts = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(&text, opts)
            .with_context(|| format!("parsing {}", path.display()))?;
        let root = doc.root_element();
        let tns = root.attribute("targetNamespace").unwrap_or("").to_owned();
        let qualified = root.attribute("elementFormDefault") == Some("qualified");
        self.files.push((path.clone(), tns.clone()));
        let ctx = Ctx {
            tns: &tns,
            qualified,
        };
        for child in root.children().filter(roxmltree::Node::is_element) {
            match child.tag_name().name() {
                "import" | "include" => {
                    let loc = child
                        .attribute("schemaLocation")
                        .context("import without schemaLocation")?;
                    let dir = path.parent().context("schema path has no parent")?;
                    let mut target = dir.join(loc);
                    // The schema files of each standard import xmldsig from their own directory;
                    // we keep a single copy at the root of the schema directory.
                    if !target.exists()
                        && let Some(up) = dir.parent().map(|p| p.join(loc)).filter(|p| p.exists())
                    {
                        target = up;
                    }
                    self.load(&target)?;
                }
                "element" => {
                    let decl = self.element(&ctx, child, true, "")?;
                    self.elements.insert(decl.name.clone(), decl);
                }
                "complexType" | "simpleType" => {
                    let name = child
                        .attribute("name")
                        .context("global type without name")?;
                    let def = self.type_def(&ctx, child, name)?;
                    let q = QName::new(&tns, name);
                    self.types.insert(
                        q,
                        NamedType {
                            def,
                            anonymous_of: None,
                            doc: documentation(child),
                        },
                    );
                }
                "annotation" => {}
                other => bail!(
                    "unsupported top-level schema component {other} in {}",
                    path.display()
                ),
            }
        }
        Ok(())
    }

    fn element(
        &mut self,
        ctx: &Ctx<'_>,
        node: roxmltree::Node<'_, '_>,
        global: bool,
        owner: &str,
    ) -> Result<ElementDecl> {
        let name = node.attribute("name").context("element without name")?;
        let ns = if global || ctx.qualified || node.attribute("form") == Some("qualified") {
            ctx.tns
        } else {
            ""
        };
        let qname = QName::new(ns, name);
        let type_name = if let Some(t) = node.attribute("type") {
            resolve(node, t)?
        } else if let Some(anon) = node
            .children()
            .find(|c| c.is_element() && matches!(c.tag_name().name(), "complexType" | "simpleType"))
        {
            // Anonymous type: named after the element (and its owner for local elements).
            let synthetic = if global {
                name.to_owned()
            } else {
                format!("{owner}_{name}")
            };
            let def = self.type_def(ctx, anon, &synthetic)?;
            let q = QName::new(ctx.tns, &format!("{synthetic}#anonymous"));
            self.types.insert(
                q.clone(),
                NamedType {
                    def,
                    anonymous_of: Some(synthetic),
                    doc: documentation(node),
                },
            );
            q
        } else {
            QName::new(XS, "anyType")
        };
        Ok(ElementDecl {
            name: qname,
            type_name,
            is_abstract: node.attribute("abstract") == Some("true"),
            substitution_group: node
                .attribute("substitutionGroup")
                .map(|s| resolve(node, s))
                .transpose()?,
        })
    }

    fn type_def(
        &mut self,
        ctx: &Ctx<'_>,
        node: roxmltree::Node<'_, '_>,
        name: &str,
    ) -> Result<TypeDef> {
        if node.tag_name().name() == "simpleType" {
            let r = child(node, "restriction")
                .with_context(|| format!("simpleType {name}: only restrictions are supported"))?;
            let base = resolve(r, r.attribute("base").context("restriction without base")?)?;
            let mut facets = Facets::default();
            for f in r.children().filter(roxmltree::Node::is_element) {
                let v = f.attribute("value").unwrap_or("");
                match f.tag_name().name() {
                    "enumeration" => facets.enumeration.push(v.to_owned()),
                    "minInclusive" => facets.min_inclusive = Some(v.parse()?),
                    "maxInclusive" => facets.max_inclusive = Some(v.parse()?),
                    "maxLength" => facets.max_length = Some(v.parse()?),
                    "minLength" => facets.min_length = Some(v.parse()?),
                    "length" => {
                        facets.max_length = Some(v.parse()?);
                        facets.min_length = Some(v.parse()?);
                    }
                    "annotation" => {}
                    other => bail!("simpleType {name}: unsupported facet {other}"),
                }
            }
            return Ok(TypeDef::Simple { base, facets });
        }
        let mut def = ComplexDef {
            is_abstract: node.attribute("abstract") == Some("true"),
            mixed: node.attribute("mixed") == Some("true"),
            base: None,
            simple_content: false,
            attributes: Vec::new(),
            particle: None,
        };
        let mut body = node;
        if let Some(cc) = child(node, "complexContent").or_else(|| child(node, "simpleContent")) {
            def.simple_content = cc.tag_name().name() == "simpleContent";
            if cc.attribute("mixed") == Some("true") {
                def.mixed = true;
            }
            let ext = child(cc, "extension")
                .with_context(|| format!("complexType {name}: only extensions are supported"))?;
            def.base = Some(resolve(
                ext,
                ext.attribute("base").context("extension without base")?,
            )?);
            body = ext;
        }
        for c in body.children().filter(roxmltree::Node::is_element) {
            match c.tag_name().name() {
                "sequence" | "choice" => def.particle = Some(self.particle(ctx, c, name)?),
                "attribute" => {
                    let aname = c.attribute("name").context("attribute without name")?;
                    let t = c.attribute("type").context("attribute without type")?;
                    def.attributes.push(AttrDecl {
                        name: QName::new("", aname),
                        type_name: resolve(c, t)?,
                        required: c.attribute("use") == Some("required"),
                    });
                }
                "annotation" => {}
                other => bail!("complexType {name}: unsupported {other}"),
            }
        }
        Ok(TypeDef::Complex(def))
    }

    fn particle(
        &mut self,
        ctx: &Ctx<'_>,
        node: roxmltree::Node<'_, '_>,
        owner: &str,
    ) -> Result<Particle> {
        let min = node.attribute("minOccurs").map_or(Ok(1), str::parse)?;
        let max = match node.attribute("maxOccurs") {
            None => Some(1),
            Some("unbounded") => None,
            Some(v) => Some(v.parse()?),
        };
        let term = match node.tag_name().name() {
            "element" => {
                if let Some(r) = node.attribute("ref") {
                    Term::Ref(resolve(node, r)?)
                } else {
                    Term::Element(self.element(ctx, node, false, owner)?)
                }
            }
            "any" => Term::Any,
            "sequence" | "choice" => {
                let mut items = Vec::new();
                for c in node.children().filter(roxmltree::Node::is_element) {
                    if c.tag_name().name() != "annotation" {
                        items.push(self.particle(ctx, c, owner)?);
                    }
                }
                if node.tag_name().name() == "sequence" {
                    Term::Sequence(items)
                } else {
                    Term::Choice(items)
                }
            }
            other => bail!("unsupported particle {other} in {owner}"),
        };
        Ok(Particle { min, max, term })
    }
}

struct Ctx<'a> {
    tns: &'a str,
    qualified: bool,
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn documentation(node: roxmltree::Node<'_, '_>) -> Option<String> {
    let d = child(child(node, "annotation")?, "documentation")?;
    let text: String = d.text()?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then_some(text)
}

/// Resolves a `prefix:local` reference against the namespaces in scope at `node`.
fn resolve(node: roxmltree::Node<'_, '_>, value: &str) -> Result<QName> {
    let (prefix, local) = match value.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, value),
    };
    let ns = node
        .lookup_namespace_uri(prefix)
        .with_context(|| format!("unknown namespace prefix in {value}"))?;
    Ok(QName::new(ns, local))
}
