//! Resource addresses: `TYPE.NAME`, `TYPE.NAME["KEY"]`, `module.M.TYPE.NAME`.
//!
//! An address is the identity of a resource instance across config, plan and
//! state. Its `Display` form is parseable by `FromStr` (round trip).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Address of one resource instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceAddr {
    /// Module path from the root, outermost first; empty for root resources.
    pub module: Vec<String>,
    pub rtype: String,
    pub name: String,
    /// The `for_each` key, when the resource is repeated.
    pub key: Option<String>,
}

impl ResourceAddr {
    pub fn new(rtype: impl Into<String>, name: impl Into<String>) -> Self {
        ResourceAddr { module: Vec::new(), rtype: rtype.into(), name: name.into(), key: None }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn in_module(mut self, module: Vec<String>) -> Self {
        self.module = module;
        self
    }

    /// The address of the resource block this instance comes from (key dropped).
    pub fn resource(&self) -> ResourceAddr {
        ResourceAddr { key: None, ..self.clone() }
    }

    /// True when `self` names `other` exactly, or names the whole resource
    /// block `other` is an instance of (a `--target` / `--allow-destroy` match).
    pub fn matches(&self, other: &ResourceAddr) -> bool {
        self == other || (self.key.is_none() && self.resource() == other.resource())
    }
}

impl fmt::Display for ResourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.module {
            write!(f, "module.{m}.")?;
        }
        write!(f, "{}.{}", self.rtype, self.name)?;
        if let Some(k) = &self.key {
            write!(f, "[{k:?}]")?;
        }
        Ok(())
    }
}

/// Why a string is not a resource address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a resource address: {reason} (expected TYPE.NAME, TYPE.NAME[\"KEY\"] or module.M.TYPE.NAME)")]
pub struct AddrParseError {
    pub input: String,
    pub reason: &'static str,
}

impl FromStr for ResourceAddr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| AddrParseError { input: s.to_owned(), reason };
        // Parts `NAME` or `NAME["KEY"]`, separated by dots (a key may hold dots).
        let mut parts: Vec<(&str, Option<String>)> = Vec::new();
        let mut rest = s;
        loop {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let name = &rest[..end];
            if name.is_empty() || !name.chars().all(is_ident_char) {
                return Err(err("each part must be a name of letters, digits, '_' or '-'"));
            }
            rest = &rest[end..];
            let mut key = None;
            if let Some(after) = rest.strip_prefix("[\"") {
                let close = after.find("\"]").ok_or_else(|| err("the key must be written [\"KEY\"]"))?;
                key = Some(after[..close].to_owned());
                rest = &after[close + 2..];
            } else if rest.starts_with('[') {
                return Err(err("the key must be written [\"KEY\"]"));
            }
            parts.push((name, key));
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None if rest.is_empty() => break,
                None => return Err(err("a key must end the part it indexes")),
            }
        }
        let mut module = Vec::new();
        let mut at = &parts[..];
        while at.len() > 2 && at[0] == ("module", None) {
            module.push(match &at[1].1 {
                Some(k) => format!("{}[{k:?}]", at[1].0),
                None => at[1].0.to_owned(),
            });
            at = &at[2..];
        }
        match at {
            [(t, None), (n, key)] => {
                Ok(ResourceAddr { module, rtype: (*t).to_owned(), name: (*n).to_owned(), key: key.clone() })
            }
            _ => Err(err("wrong number of parts")),
        }
    }
}

/// Characters allowed in type, resource, module and attribute names.
pub fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

impl Serialize for ResourceAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for s in [
            "vpc.main",
            "subnet.db[\"us-east-1a\"]",
            "module.net.module.inner.vpc.main",
            "module.replica[\"eu.west\"].db_instance.main",
            "module.a[\"x\"].module.b.subnet.db[\"1\"]",
        ] {
            let a: ResourceAddr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let a: ResourceAddr = "module.net.subnet.db[\"a\"]".parse().unwrap();
        assert_eq!(a.module, vec!["net"]);
        assert_eq!(a.key.as_deref(), Some("a"));
    }

    #[test]
    fn rejects_malformed() {
        assert!("vpc".parse::<ResourceAddr>().is_err());
        assert!("vpc.main[a]".parse::<ResourceAddr>().is_err());
        assert!("vpc..main".parse::<ResourceAddr>().is_err());
        for bad in ["vpc[\"a\"].main", "module.m[\"a\"]x.vpc.main", "vpc.main[\"a\"", "module[\"a\"].m.vpc.main", ""] {
            assert!(bad.parse::<ResourceAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn block_address_matches_its_instances() {
        let block: ResourceAddr = "subnet.db".parse().unwrap();
        let inst: ResourceAddr = "subnet.db[\"a\"]".parse().unwrap();
        assert!(block.matches(&inst));
        assert!(!inst.matches(&block));
    }
}
