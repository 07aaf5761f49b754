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
        let (head, key) = match s.find('[') {
            Some(i) => {
                let rest = &s[i..];
                let inner = rest
                    .strip_prefix("[\"")
                    .and_then(|r| r.strip_suffix("\"]"))
                    .ok_or_else(|| err("the key must be written [\"KEY\"]"))?;
                (&s[..i], Some(inner.to_owned()))
            }
            None => (s, None),
        };
        let parts: Vec<&str> = head.split('.').collect();
        if parts.iter().any(|p| p.is_empty() || !p.chars().all(is_ident_char)) {
            return Err(err("each part must be a name of letters, digits, '_' or '-'"));
        }
        let mut module = Vec::new();
        let mut rest = &parts[..];
        while rest.len() > 2 && rest[0] == "module" {
            module.push(rest[1].to_owned());
            rest = &rest[2..];
        }
        match rest {
            [t, n] => Ok(ResourceAddr { module, rtype: (*t).to_owned(), name: (*n).to_owned(), key }),
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
        for s in ["vpc.main", "subnet.db[\"us-east-1a\"]", "module.net.module.inner.vpc.main"] {
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
    }

    #[test]
    fn block_address_matches_its_instances() {
        let block: ResourceAddr = "subnet.db".parse().unwrap();
        let inst: ResourceAddr = "subnet.db[\"a\"]".parse().unwrap();
        assert!(block.matches(&inst));
        assert!(!inst.matches(&block));
    }
}
