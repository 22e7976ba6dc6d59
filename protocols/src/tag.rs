//! Interning of tag names and text values, so samples carry 4-byte ids instead of strings.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::{TagId, TextId};

/// Tag names to ids, fixed once the config is loaded. Ids are dense, in declaration order.
#[derive(Debug, Default, Clone)]
pub struct TagRegistry {
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, TagId>,
}

impl TagRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `name`, interning it on first sight.
    pub fn intern(&mut self, name: &str) -> TagId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = TagId(u32::try_from(self.names.len()).expect("more than 4 billion tags"));
        let name: Arc<str> = Arc::from(name);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    pub fn id(&self, name: &str) -> Option<TagId> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, id: TagId) -> Option<&str> {
        self.names.get(id.0 as usize).map(|n| &**n)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (TagId, &str)> {
        self.names.iter().enumerate().map(|(i, n)| (TagId(i as u32), &**n))
    }
}

/// Text values seen at run time (serial instrument status words, OPC UA strings).
///
/// Shared by drivers and readers; a value seen twice gets the same id, so a status tag that toggles between
/// a few texts costs nothing after the first sight.
#[derive(Debug, Default)]
pub struct TextPool {
    inner: RwLock<TextPoolInner>,
}

#[derive(Debug, Default)]
struct TextPoolInner {
    texts: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, TextId>,
}

impl TextPool {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn intern(&self, text: &str) -> TextId {
        if let Some(&id) = self.inner.read().unwrap_or_else(|e| e.into_inner()).ids.get(text) {
            return id;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = inner.ids.get(text) {
            return id;
        }
        let id = TextId(u32::try_from(inner.texts.len()).unwrap_or(u32::MAX));
        let text: Arc<str> = Arc::from(text);
        inner.texts.push(text.clone());
        inner.ids.insert(text, id);
        id
    }

    pub fn get(&self, id: TextId) -> Option<Arc<str>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).texts.get(id.0 as usize).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_dense() {
        let mut reg = TagRegistry::new();
        let a = reg.intern("kiln.temp");
        let b = reg.intern("incomer.kw");
        assert_eq!(reg.intern("kiln.temp"), a);
        assert_eq!((a, b), (TagId(0), TagId(1)));
        assert_eq!(reg.name(b), Some("incomer.kw"));
        assert_eq!(reg.id("nope"), None);
        assert_eq!(reg.len(), 2);
    }

    #[test]
    fn text_pool_reuses_ids() {
        let pool = TextPool::new();
        let run = pool.intern("RUN");
        assert_eq!(pool.intern("STOP"), TextId(1));
        assert_eq!(pool.intern("RUN"), run);
        assert_eq!(pool.get(run).as_deref(), Some("RUN"));
        assert_eq!(pool.get(TextId(9)), None);
    }
}
