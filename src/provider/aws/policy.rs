//! Policy documents (KMS key policies, IAM and bucket policies) in canonical
//! form, so that plans compare them by meaning and not by text.
//!
//! A policy may be written as a TOML table or as a JSON string; AWS returns it
//! as JSON text. [`canonical`] turns all of them into the same `Value::Map`:
//! - a JSON string is parsed (key order and whitespace stop mattering);
//! - `Statement` is always a list (a lone statement object becomes a list of one);
//! - the string-or-list fields (`Action`, `NotAction`, `Resource`, `NotResource`,
//!   each `Principal`/`NotPrincipal` entry, each `Condition` value) become sorted,
//!   deduplicated lists, written as a bare string when they hold one element —
//!   IAM treats `"kms:*"` and `["kms:*"]` alike.
//!
//! [`canonical`] is idempotent, and [`to_json`] gives the text sent to AWS.
//! [`from_aws`] reads a document as AWS returns it: IAM URL-encodes policy
//! documents (GetRole, GetRolePolicy), KMS does not.

use std::collections::BTreeMap;

use crate::provider::ProviderError;
use crate::value::{Attrs, Value};

/// Why a value is not a policy document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy is not valid JSON: {0}")]
    Json(String),
    #[error("a policy must be a table (JSON object), not a {0}")]
    NotATable(&'static str),
}

/// Statement fields whose value is a string or a set of strings.
const SET_FIELDS: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];
/// Statement fields whose value is a principal: `"*"` or a table of sets.
const PRINCIPAL_FIELDS: &[&str] = &["Principal", "NotPrincipal"];

/// The canonical form of a policy given as a table or a JSON string.
pub fn canonical(v: &Value) -> Result<Value, PolicyError> {
    let doc = match v {
        Value::Str(text) => {
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
            Value::from_json(&json)
        }
        other => other.clone(),
    };
    let Value::Map(mut doc) = doc else { return Err(PolicyError::NotATable(doc.type_name())) };
    if let Some(st) = doc.remove("Statement") {
        let list = match st {
            Value::List(l) => l,
            single => vec![single],
        };
        doc.insert("Statement".into(), Value::List(list.into_iter().map(canonical_statement).collect()));
    }
    Ok(Value::Map(doc))
}

/// Compact JSON text of a canonical policy, for AWS.
pub fn to_json(doc: &Value) -> String {
    doc.to_json().to_string()
}

/// Replaces a policy value by its canonical form; one that does not parse is
/// left as given, for create or update to report.
pub fn normalize(v: &mut Value) {
    if let Ok(doc) = canonical(v) {
        *v = doc;
    }
}

/// A policy value from config as canonical document and the JSON text sent
/// to AWS; `what` names it in the error.
pub fn document(v: &Value, what: &str) -> Result<(Value, String), ProviderError> {
    let doc = canonical(v).map_err(|e| ProviderError::Invalid(format!("{what}: {e}")))?;
    let text = to_json(&doc);
    Ok((doc, text))
}

/// [`document`] of the policy attribute `attr`, when it is set.
pub fn desired(attrs: &Attrs, attr: &str) -> Result<Option<(Value, String)>, ProviderError> {
    match attrs.get(attr) {
        None | Some(Value::Null) => Ok(None),
        Some(p) => document(p, attr).map(Some),
    }
}

/// A policy document as AWS returns it, canonical. Text that does not start
/// like a JSON object is URL-decoded first (IAM sends documents RFC 3986
/// encoded; a raw document is never decoded, so a literal `%` in it stays).
/// Text that is still not a JSON object is kept as text, so it shows up as a
/// difference instead of failing the read.
pub fn from_aws(text: &str) -> Value {
    let text = if text.trim_start().starts_with('{') {
        text.to_owned()
    } else {
        percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
    };
    let v = Value::Str(text);
    canonical(&v).unwrap_or(v)
}

fn canonical_statement(st: Value) -> Value {
    let Value::Map(mut st) = st else { return st };
    for (name, v) in st.iter_mut() {
        if SET_FIELDS.contains(&name.as_str()) {
            *v = string_set(std::mem::take(v));
        } else if PRINCIPAL_FIELDS.contains(&name.as_str()) {
            *v = map_values(std::mem::take(v), string_set);
        } else if name == "Condition" {
            *v = map_values(std::mem::take(v), |op| map_values(op, string_set));
        }
    }
    Value::Map(st)
}

/// Applies `f` to every value of a table; anything else is returned unchanged.
fn map_values(v: Value, f: impl Fn(Value) -> Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(m.into_iter().map(|(k, v)| (k, f(v))).collect::<BTreeMap<_, _>>()),
        other => other,
    }
}

/// A string or list of strings as a sorted, deduplicated list, collapsed to a
/// bare value when it holds one element. Lists with non-string items keep
/// their order (only the one-element collapse applies).
fn string_set(v: Value) -> Value {
    let Value::List(mut items) = v else { return v };
    if items.iter().all(|i| matches!(i, Value::Str(_))) {
        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        items.dedup();
    }
    if items.len() == 1 { items.remove(0) } else { Value::List(items) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(json: &str) -> Value {
        Value::from_json(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn json_string_and_table_with_other_key_order_are_equal() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"kms:*","Resource":"*"}]}"#;
        let tbl = table(
            r#"{"Statement":[{"Resource":"*","Action":"kms:*","Principal":{"AWS":"arn:aws:iam::1:root"},"Effect":"Allow"}],"Version":"2012-10-17"}"#,
        );
        assert_eq!(canonical(&Value::str(text)).unwrap(), canonical(&tbl).unwrap());
    }

    #[test]
    fn string_or_list_fields_compare_as_sets() {
        let a = table(
            r#"{"Statement":{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:Encrypt"],
                "Principal":{"AWS":["arn:b","arn:a"]},"Resource":["*"],
                "Condition":{"StringEquals":{"kms:ViaService":["rds.us-east-1.amazonaws.com"]}}}}"#,
        );
        let b = table(
            r#"{"Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt"],
                "Principal":{"AWS":["arn:a","arn:b"]},"Resource":"*",
                "Condition":{"StringEquals":{"kms:ViaService":"rds.us-east-1.amazonaws.com"}}}]}"#,
        );
        let ca = canonical(&a).unwrap();
        assert_eq!(ca, canonical(&b).unwrap());
        let st = &ca.as_map().unwrap()["Statement"].as_list().unwrap()[0];
        assert_eq!(st.as_map().unwrap()["Resource"], Value::str("*"));
        assert_eq!(st.as_map().unwrap()["Action"].string_list(), vec!["kms:Decrypt", "kms:Encrypt"]);
    }

    #[test]
    fn different_meaning_stays_different() {
        let a = table(r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#);
        let b = table(r#"{"Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}"#);
        assert_ne!(canonical(&a).unwrap(), canonical(&b).unwrap());
    }

    #[test]
    fn canonical_is_idempotent_and_round_trips_through_json() {
        let c = canonical(&table(r#"{"Statement":{"Action":["b","a"],"Effect":"Allow"}}"#)).unwrap();
        assert_eq!(canonical(&c).unwrap(), c);
        assert_eq!(canonical(&Value::str(to_json(&c))).unwrap(), c);
    }

    #[test]
    fn documents_from_aws_are_url_decoded_when_encoded() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::b/a b%"}]}"#;
        let want = canonical(&Value::str(doc)).unwrap();
        // IAM's encoding (Python's `quote`, as moto sends it, and AWS's RFC 3986 form).
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22s3%3AGetObject%22%5D%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab/a%20b%25%22%7D%5D%7D";
        assert_eq!(from_aws(encoded), want);
        // A raw document is read as is: its `%` is not an escape.
        assert_eq!(from_aws(doc), want);
        assert_eq!(from_aws(&format!("  \n{doc}")), want);
        // Neither JSON nor encoded JSON: kept as text.
        assert_eq!(from_aws("not a policy"), Value::str("not a policy"));
    }

    #[test]
    fn documents_from_config_carry_their_text_and_name_the_attribute() {
        let (doc, text) = document(&Value::str(r#"{ "Statement": { "Action": ["b", "a"] } }"#), "policy").unwrap();
        assert_eq!(canonical(&Value::str(&text)).unwrap(), doc);
        assert_eq!(text, r#"{"Statement":[{"Action":["a","b"]}]}"#);
        let err = document(&Value::str("{"), "inline_policy[0].policy").unwrap_err();
        assert!(err.to_string().starts_with("inline_policy[0].policy: the policy is not valid JSON"), "{err}");
        let attrs = Attrs::from([("policy".to_owned(), Value::Null)]);
        assert!(desired(&attrs, "policy").unwrap().is_none());
        let mut bad = Value::str("{");
        normalize(&mut bad);
        assert_eq!(bad, Value::str("{"), "left for create to report");
    }

    #[test]
    fn rejects_non_documents() {
        assert!(matches!(canonical(&Value::str("{not json")), Err(PolicyError::Json(_))));
        assert_eq!(canonical(&Value::str("[1]")), Err(PolicyError::NotATable("list")));
        assert_eq!(canonical(&Value::Int(3)), Err(PolicyError::NotATable("integer")));
    }
}
