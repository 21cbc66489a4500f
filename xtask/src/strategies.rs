//! Proptest strategies for every generated type (filled in later).

use std::collections::BTreeMap;

use anyhow::Result;

use crate::xsd::Schemas;

#[derive(Debug, Default)]
pub(crate) struct Strategies {
    files: BTreeMap<String, String>,
}

impl Strategies {
    pub(crate) fn collect(
        &mut self,
        _s: &Schemas,
        _ns: &BTreeMap<String, String>,
        _module: &str,
    ) -> Result<()> {
        Ok(())
    }

    pub(crate) fn files(&self) -> BTreeMap<String, String> {
        self.files.clone()
    }

    pub(crate) fn mod_file(&self) -> String {
        String::new()
    }
}
