//! Rust names from schema names: `UpperCamelCase` types and variants, `snake_case` fields.

/// Splits a schema name into words at separators and case changes, keeping acronyms together:
/// `DC_EVStatus` -> `DC EV Status`, `X509Data` -> `X509 Data`, `EVRESSSOC` -> `EVRESSSOC`.
pub(crate) fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = if i > 0 {
            chars.get(i - 1).copied()
        } else {
            None
        };
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && match prev {
                Some(p) if p.is_ascii_lowercase() => true,
                Some(p) if p.is_ascii_uppercase() || p.is_ascii_digit() => {
                    next.is_some_and(|n| n.is_ascii_lowercase())
                }
                _ => false,
            };
        if boundary && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub(crate) fn camel(s: &str) -> String {
    let mut out = String::new();
    for w in words(s) {
        let mut cs = w.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(cs.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

pub(crate) fn snake(s: &str) -> String {
    let out = words(s)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    ident(out)
}

pub(crate) fn upper_snake(s: &str) -> String {
    words(s)
        .iter()
        .map(|w| w.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// Escapes Rust keywords as raw identifiers.
pub(crate) fn ident(s: String) -> String {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
        "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
        "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final",
        "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
    ];
    if KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        assert_eq!(snake("DC_EVStatus"), "dc_ev_status");
        assert_eq!(snake("EVRESSSOC"), "evresssoc");
        assert_eq!(snake("SAScheduleTupleID"), "sa_schedule_tuple_id");
        assert_eq!(camel("X509IssuerSerialType"), "X509IssuerSerialType");
        assert_eq!(camel("V2G_Message"), "V2gMessage");
        assert_eq!(camel("W/s"), "WS");
        assert_eq!(camel("OK_NewSessionEstablished"), "OkNewSessionEstablished");
        assert_eq!(
            camel("FAILED_RESSTemperatureInhibit"),
            "FailedRessTemperatureInhibit"
        );
        assert_eq!(snake("eMAID"), "e_maid");
        assert_eq!(snake("Type"), "r#type");
        assert_eq!(camel("PMaxScheduleEntry"), "PMaxScheduleEntry");
    }
}
