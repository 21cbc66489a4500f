//! Schema-informed EXI grammars of complex types (EXI 1.0 §8.5.4).
//!
//! Instead of materialising the spec's proto-grammars and normalising them, the generator builds
//! the equivalent deterministic automaton directly, Glushkov style: a grammar state is "after
//! terminal position p" (or the initial state), and its productions are the positions that can
//! follow p. Bounded repetitions (`maxOccurs` > 1) are not unrolled: the spec's unrolled copies
//! differ only in whether the repetition may loop again (count < maxOccurs) and whether it may
//! be left (count >= minOccurs), so a state is a position plus those two conditions for each
//! enclosing repetition, and the generated code tests the list length at run time.
//!
//! Event codes follow §8.5.4.3: AT(qname) sorted by qname, then SE(qname) in schema order
//! (substitution group members sorted by qname), SE(*), EE, CH. Every state of the non-strict
//! grammar also has the escape to the second level (`exi::event_code_bits`).

use anyhow::{Result, bail};

use crate::model::{ComplexInfo, Content};
use crate::xsd::{AttrDecl, ElementDecl, Particle, QName, Schemas, Term};

/// Terminal id of the `SE(*)` wildcard in every grammar (decoding it is unsupported).
pub(crate) const ANY: u8 = 254;
/// Terminal id of untyped character content in mixed types (decoding it is unsupported).
pub(crate) const CH_MIXED: u8 = 255;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Leaf(usize),
    Seq(Vec<Self>),
    Choice(Vec<Self>),
    /// minOccurs 0, maxOccurs 1.
    Opt(Box<Self>),
    /// min >= 1; max > 1 or min > 1.
    Rep {
        id: usize,
        min: u32,
        max: Option<u32>,
        body: Box<Self>,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum LeafKind {
    Attr(AttrDecl),
    /// An element particle: `decl` as written in the content model, `members` the elements that
    /// can stand for it (more than one for substitution group heads).
    Elem {
        decl: ElementDecl,
        members: Vec<ElementDecl>,
        subst: bool,
    },
    Any,
    /// The character content of a complex type with simple content.
    SimpleContent(QName),
}

#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) kind: LeafKind,
    /// Terminal ids, one per member (one for other kinds).
    pub(crate) terms: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TermKind {
    At(QName),
    Se(QName),
    SeAny,
    Ee,
    Ch,
    ChMixed,
}

#[derive(Debug, Clone)]
pub(crate) struct Terminal {
    pub(crate) id: u8,
    pub(crate) kind: TermKind,
    /// Leaf the terminal belongs to and member index within the leaf.
    pub(crate) leaf: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    /// The repetition may loop: count < maxOccurs.
    Loop(usize),
    /// The repetition may be left: count >= minOccurs.
    Exit(usize),
}

#[derive(Debug, Clone)]
struct Cont {
    /// `None` is the end of the content (EE).
    target: Option<usize>,
    conds: Vec<Cond>,
}

/// For one state selection point: which repetition conditions matter and which state table
/// applies for each combination of their truth values.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    /// (repetition id, is "count < max" (else "count >= min")).
    pub(crate) tests: Vec<(usize, bool)>,
    /// (truth values of `tests`, index into `states`).
    pub(crate) cases: Vec<(Vec<bool>, usize)>,
}

#[derive(Debug, Clone)]
pub(crate) struct TypeGrammar {
    pub(crate) leaves: Vec<Leaf>,
    pub(crate) terminals: Vec<Terminal>,
    pub(crate) root: Node,
    /// Repetition bounds by id.
    pub(crate) reps: Vec<(u32, Option<u32>)>,
    /// Distinct state tables: terminal ids in event-code order.
    pub(crate) states: Vec<Vec<u8>>,
    pub(crate) initial: usize,
    /// State selection after each leaf.
    pub(crate) after: Vec<Selection>,
    pub(crate) ee: u8,
}

struct Builder<'a> {
    schemas: &'a Schemas,
    leaves: Vec<Leaf>,
    terminals: Vec<Terminal>,
    reps: Vec<(u32, Option<u32>)>,
    next_id: u8,
}

impl Builder<'_> {
    fn term(&mut self, kind: TermKind, leaf: Option<(usize, usize)>) -> Result<u8> {
        let id = match kind {
            TermKind::SeAny => ANY,
            TermKind::ChMixed => CH_MIXED,
            _ => {
                let id = self.next_id;
                if id >= ANY {
                    bail!("too many terminals in one grammar");
                }
                self.next_id += 1;
                id
            }
        };
        if !self.terminals.iter().any(|t| t.id == id) {
            self.terminals.push(Terminal { id, kind, leaf });
        }
        Ok(id)
    }

    fn leaf(&mut self, kind: LeafKind) -> Result<Node> {
        let idx = self.leaves.len();
        let mut terms = Vec::new();
        match &kind {
            LeafKind::Attr(a) => {
                terms.push(self.term(TermKind::At(a.name.clone()), Some((idx, 0)))?)
            }
            LeafKind::Elem { members, .. } => {
                for (i, m) in members.iter().enumerate() {
                    terms.push(self.term(TermKind::Se(m.name.clone()), Some((idx, i)))?);
                }
            }
            LeafKind::Any => terms.push(self.term(TermKind::SeAny, Some((idx, 0)))?),
            LeafKind::SimpleContent(_) => terms.push(self.term(TermKind::Ch, Some((idx, 0)))?),
        }
        self.leaves.push(Leaf { kind, terms });
        Ok(Node::Leaf(idx))
    }

    fn occurs(&mut self, min: u32, max: Option<u32>, node: Node) -> Node {
        match (min, max) {
            (1, Some(1)) => node,
            (0, Some(1)) => Node::Opt(Box::new(node)),
            (0, max) => {
                let inner = self.occurs(1, max, node);
                Node::Opt(Box::new(inner))
            }
            (min, max) => {
                let id = self.reps.len();
                self.reps.push((min, max));
                Node::Rep {
                    id,
                    min,
                    max,
                    body: Box::new(node),
                }
            }
        }
    }

    fn particle(&mut self, p: &Particle) -> Result<Node> {
        let node = match &p.term {
            Term::Element(decl) => self.leaf(LeafKind::Elem {
                decl: decl.clone(),
                members: vec![decl.clone()],
                subst: false,
            })?,
            Term::Ref(q) => {
                let Some(decl) = self.schemas.elements.get(q) else {
                    bail!("unknown element {q}")
                };
                let members = self.schemas.substitution_members(q)?;
                let subst = members.len() != 1 || members.first().is_some_and(|m| &m.name != q);
                if members.is_empty() {
                    bail!("element {q} has no non-abstract member");
                }
                self.leaf(LeafKind::Elem {
                    decl: decl.clone(),
                    members,
                    subst,
                })?
            }
            Term::Any => self.leaf(LeafKind::Any)?,
            Term::Sequence(items) => {
                let nodes = items
                    .iter()
                    .map(|i| self.particle(i))
                    .collect::<Result<Vec<_>>>()?;
                Node::Seq(nodes)
            }
            Term::Choice(items) => {
                let nodes = items
                    .iter()
                    .map(|i| self.particle(i))
                    .collect::<Result<Vec<_>>>()?;
                Node::Choice(nodes)
            }
        };
        // A repeated group with a single (1,1) item repeats the item (e.g. xmldsig X509Data).
        let node = match node {
            Node::Seq(mut v)
                if v.len() == 1 && !matches!(v.first(), Some(Node::Opt(_) | Node::Rep { .. })) =>
            {
                v.remove(0)
            }
            n => n,
        };
        Ok(self.occurs(p.min, p.max, node))
    }
}

fn nullable(n: &Node) -> bool {
    match n {
        Node::Leaf(_) => false,
        Node::Seq(v) => v.iter().all(nullable),
        Node::Choice(v) => v.iter().any(nullable),
        Node::Opt(_) => true,
        Node::Rep { body, .. } => nullable(body),
    }
}

/// Leaves that can come first in `n`, in schema order.
pub(crate) fn first(n: &Node) -> Vec<usize> {
    match n {
        Node::Leaf(l) => vec![*l],
        Node::Seq(v) => {
            let mut out = Vec::new();
            for i in v {
                out.extend(first(i));
                if !nullable(i) {
                    break;
                }
            }
            out
        }
        Node::Choice(v) => v.iter().flat_map(first).collect(),
        Node::Opt(b) | Node::Rep { body: b, .. } => first(b),
    }
}

fn walk(n: &Node, cont: &[Cont], follow: &mut [Vec<Cont>]) {
    match n {
        Node::Leaf(l) => {
            if let Some(f) = follow.get_mut(*l) {
                *f = cont.to_vec();
            }
        }
        Node::Seq(v) => {
            let mut c = cont.to_vec();
            for item in v.iter().rev() {
                walk(item, &c, follow);
                let mut f: Vec<Cont> = first(item)
                    .into_iter()
                    .map(|l| Cont {
                        target: Some(l),
                        conds: vec![],
                    })
                    .collect();
                if nullable(item) {
                    f.extend(c);
                }
                c = f;
            }
        }
        Node::Choice(v) => v.iter().for_each(|a| walk(a, cont, follow)),
        Node::Opt(b) => walk(b, cont, follow),
        Node::Rep { id, body, .. } => {
            let mut inner: Vec<Cont> = first(body)
                .into_iter()
                .map(|l| Cont {
                    target: Some(l),
                    conds: vec![Cond::Loop(*id)],
                })
                .collect();
            for c in cont {
                let mut conds = c.conds.clone();
                conds.push(Cond::Exit(*id));
                inner.push(Cont {
                    target: c.target,
                    conds,
                });
            }
            walk(body, &inner, follow);
        }
    }
}

/// Builds the grammar of a complex type.
pub(crate) fn build(schemas: &Schemas, info: &ComplexInfo) -> Result<TypeGrammar> {
    let mut b = Builder {
        schemas,
        leaves: Vec::new(),
        terminals: Vec::new(),
        reps: Vec::new(),
        next_id: 0,
    };
    // Attribute uses sorted by qname (EXI 1.0 §8.5.4.1.3.1), each required or optional.
    let mut attrs = info.attributes.clone();
    attrs.sort_by(|a, b| a.name.cmp(&b.name));
    let mut items = Vec::new();
    for a in &attrs {
        let leaf = b.leaf(LeafKind::Attr(a.clone()))?;
        items.push(if a.required {
            leaf
        } else {
            Node::Opt(Box::new(leaf))
        });
    }
    let n_attrs = items.len();
    match &info.content {
        Content::Empty => {}
        Content::Simple(q) => items.push(b.leaf(LeafKind::SimpleContent(q.clone()))?),
        Content::Particle(p) => items.push(b.particle(p)?),
    }
    let root = Node::Seq(items);
    let ee = b.term(TermKind::Ee, None)?;
    if info.mixed {
        b.term(TermKind::ChMixed, None)?;
    }
    // Repetitions must consume something per iteration, or the loop conditions are moot.
    check_reps(&root)?;

    let mut follow = vec![Vec::new(); b.leaves.len()];
    walk(
        &root,
        &[Cont {
            target: None,
            conds: vec![],
        }],
        &mut follow,
    );
    let mut initial_conts: Vec<Cont> = first(&root)
        .into_iter()
        .map(|l| Cont {
            target: Some(l),
            conds: vec![],
        })
        .collect();
    if nullable(&root) {
        initial_conts.push(Cont {
            target: None,
            conds: vec![],
        });
    }

    let mut g = TypeGrammar {
        leaves: b.leaves,
        terminals: b.terminals,
        root,
        reps: b.reps,
        states: Vec::new(),
        initial: 0,
        after: Vec::new(),
        ee,
    };
    // Mixed content: CH in every state of the content grammar, which includes the attribute
    // states from which all remaining attributes may be skipped (EXI 1.0 §8.5.4.1.3.2).
    let attr_leaf_optional: Vec<bool> = attrs.iter().map(|a| !a.required).collect();
    let reaches_content = |after_attr: Option<usize>| {
        let from = after_attr.map_or(0, |i| i + 1);
        attr_leaf_optional.iter().skip(from).all(|&o| o)
    };
    let init_table = g.table(&initial_conts, &[], info.mixed && reaches_content(None))?;
    g.initial = g.intern(init_table);
    for l in 0..g.leaves.len() {
        let conts = follow.get(l).cloned().unwrap_or_default();
        let in_content = if l < n_attrs {
            reaches_content(Some(l))
        } else {
            true
        };
        let sel = g.selection(&conts, info.mixed && in_content)?;
        g.after.push(sel);
    }
    Ok(g)
}

fn check_reps(n: &Node) -> Result<()> {
    match n {
        Node::Leaf(_) => Ok(()),
        Node::Seq(v) | Node::Choice(v) => v.iter().try_for_each(check_reps),
        Node::Opt(b) => check_reps(b),
        Node::Rep { body, .. } => {
            if nullable(body) {
                bail!("repetition of a nullable particle is not supported");
            }
            check_reps(body)
        }
    }
}

impl TypeGrammar {
    fn intern(&mut self, table: Vec<u8>) -> usize {
        if let Some(i) = self.states.iter().position(|s| *s == table) {
            return i;
        }
        self.states.push(table);
        self.states.len() - 1
    }

    fn sort_key(&self, id: u8) -> (u8, usize, usize, String, String) {
        let Some(t) = self.terminals.iter().find(|t| t.id == id) else {
            return (9, 0, 0, String::new(), String::new());
        };
        let (leaf, member) = t.leaf.unwrap_or((0, 0));
        match &t.kind {
            TermKind::At(q) => (0, 0, 0, q.local.clone(), q.ns.clone()),
            TermKind::Se(_) => (3, leaf, member, String::new(), String::new()),
            TermKind::SeAny => (5, leaf, 0, String::new(), String::new()),
            TermKind::Ee => (6, 0, 0, String::new(), String::new()),
            TermKind::Ch => (7, 0, 0, String::new(), String::new()),
            TermKind::ChMixed => (8, 0, 0, String::new(), String::new()),
        }
    }

    /// The productions reachable through `conts` whose conditions hold under `truth`.
    fn table(&self, conts: &[Cont], truth: &[(Cond, bool)], mixed: bool) -> Result<Vec<u8>> {
        let mut ids = Vec::new();
        for c in conts {
            let ok = c.conds.iter().all(|cond| {
                truth
                    .iter()
                    .find(|(k, _)| k == cond)
                    .is_none_or(|(_, v)| *v)
            });
            if !ok {
                continue;
            }
            match c.target {
                Some(l) => ids.extend(
                    self.leaves
                        .get(l)
                        .map(|x| x.terms.clone())
                        .unwrap_or_default(),
                ),
                None => ids.push(self.ee),
            }
        }
        if mixed {
            ids.push(CH_MIXED);
        }
        ids.sort_by_key(|&id| self.sort_key(id));
        let before = ids.len();
        ids.dedup();
        if ids.len() != before {
            bail!("non-deterministic content model (duplicate production in one state)");
        }
        Ok(ids)
    }

    fn selection(&mut self, conts: &[Cont], mixed: bool) -> Result<Selection> {
        // Conditions that are not constant for the repetition's bounds.
        let mut tests: Vec<(usize, bool)> = Vec::new();
        for c in conts {
            for cond in &c.conds {
                let t = match *cond {
                    Cond::Loop(r) => (r, true),
                    Cond::Exit(r) => (r, false),
                };
                let (min, max) = self.reps.get(t.0).copied().unwrap_or((1, None));
                let constant = if t.1 { max.is_none() } else { min <= 1 };
                if !constant && !tests.contains(&t) {
                    tests.push(t);
                }
            }
        }
        let mut cases = Vec::new();
        for mask in 0..(1u32 << tests.len()) {
            let values: Vec<bool> = (0..tests.len()).map(|i| mask & (1 << i) != 0).collect();
            // Only combinations some count can produce: per repetition, not (count >= max and
            // count < min).
            let possible = tests.iter().zip(&values).all(|(&(r, is_loop), &v)| {
                let other = tests
                    .iter()
                    .zip(&values)
                    .find(|((r2, l2), _)| *r2 == r && *l2 != is_loop);
                match other {
                    Some((_, &ov)) => {
                        let (lt_max, ge_min) = if is_loop { (v, ov) } else { (ov, v) };
                        lt_max || ge_min
                    }
                    None => true,
                }
            });
            if !possible {
                continue;
            }
            let truth: Vec<(Cond, bool)> = tests
                .iter()
                .zip(&values)
                .map(|(&(r, is_loop), &v)| {
                    (
                        if is_loop {
                            Cond::Loop(r)
                        } else {
                            Cond::Exit(r)
                        },
                        v,
                    )
                })
                .chain(self.constant_truths(conts))
                .collect();
            let table = self.table(conts, &truth, mixed)?;
            let idx = self.intern(table);
            cases.push((values, idx));
        }
        Ok(Selection { tests, cases })
    }

    /// Conditions that always hold: looping an unbounded repetition, leaving one with min 1.
    fn constant_truths(&self, conts: &[Cont]) -> Vec<(Cond, bool)> {
        let mut out = Vec::new();
        for c in conts {
            for &cond in &c.conds {
                let (min, max) = match cond {
                    Cond::Loop(r) | Cond::Exit(r) => self.reps.get(r).copied().unwrap_or((1, None)),
                };
                let constant = match cond {
                    Cond::Loop(_) => max.is_none(),
                    Cond::Exit(_) => min <= 1,
                };
                if constant {
                    out.push((cond, true));
                }
            }
        }
        out
    }
}
