//! `secret`: a Secrets Manager secret whose value pgstack writes but never keeps.
//!
//! The value is generated at apply (`generate_password`, made by Secrets
//! Manager's GetRandomPassword) or supplied at apply (`value`, write-only: from
//! a sensitive variable, i.e. `--var` or `PGSTACK_VAR_NAME`). With
//! `credentials` it is wrapped in the JSON shape the AWS rotation functions
//! expect (`username`, `password`, `engine`, `host`, `port`, `dbname`). The
//! value lives only in memory during the call that writes it: state, plans,
//! output and logs hold the version id (`version_id`) and nothing else.
//!
//! - Create: GetRandomPassword (when generating), then CreateSecret with the
//!   name, description, key, tags and the first value in one call, and a
//!   `ClientRequestToken` made from the stack, region, address and name
//!   ([`request_token`]): a CreateSecret whose reply was lost is sent once
//!   more, the same request, which Secrets Manager answers as the first (same
//!   token and value: nothing new is made). `ResourceExistsException` (the
//!   name is taken: by the same create of an earlier run, sent with the same
//!   token and another value, or by anything else) adopts the secret of that
//!   name when its ownership tags name this stack and address
//!   (DescribeSecret), and fails otherwise.
//! - Read: DescribeSecret per secret, [`PER_RESOURCE_CONCURRENCY`] at a time;
//!   a secret scheduled for deletion counts as gone.
//! - Update: UpdateSecret (description, key); TagResource / UntagResource; a
//!   new version (PutSecretValue) when asked for (`--replace`, which changes
//!   `version_id`), when `generate_password` or `keepers` change, and, with
//!   the current password kept (GetSecretValue), when `credentials` change.
//!   The secret itself is never replaced for a new value.
//! - Delete: DeleteSecret with `recovery_window_in_days` (0: at once).
//! - Adoption after a crash (`find_created`): the secret of either default
//!   name, by DescribeSecret (current at once) when its ownership tags name
//!   the stack and address; then the Resource Groups Tagging API by ownership
//!   tags (which can lag). A configured name is not known there: such a
//!   secret the index does not show yet is adopted by create, by name.
//! - The id is the secret's ARN.
//! - Orphan scan (`list_owned`): the region's shared GetResources ([`super::owned`]).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::Tag;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use futures::{StreamExt, TryStreamExt, stream};

use super::owned;
use super::rds::same_kms_key;
use super::{PER_RESOURCE_CONCURRENCY, api_error, error_code, factory, get_i64, get_str, sync_arn_tags, tags_of};
use crate::addr::ResourceAddr;
use crate::provider::schema::{
    Attr, AttrType, Default, Kind, NameRule, Ownership, Pricing, Schema, TAG_ADDRESS, TAG_STACK,
};
use crate::provider::{Ctx, Owned, PlannedUpdate, ProviderError, ReadScope, ResourceType, Result};
use crate::value::{Attrs, Value};

static GENERATOR_FIELDS: [Attr; 8] = [
    Attr::optional("length", AttrType::Int).range(4, 4096),
    Attr::optional("exclude_characters", AttrType::Str).max_len(4096),
    Attr::optional("exclude_numbers", AttrType::Bool),
    Attr::optional("exclude_punctuation", AttrType::Bool),
    Attr::optional("exclude_uppercase", AttrType::Bool),
    Attr::optional("exclude_lowercase", AttrType::Bool),
    Attr::optional("include_space", AttrType::Bool),
    Attr::optional("require_each_included_type", AttrType::Bool),
];

static CREDENTIAL_FIELDS: [Attr; 5] = [
    Attr::required("username", AttrType::Str).pattern(Kind::PgName),
    Attr::optional("engine", AttrType::Str),
    Attr::optional("host", AttrType::Str),
    Attr::optional("port", AttrType::Int).range(1, 65535),
    Attr::optional("dbname", AttrType::Str),
];

/// Recovery windows Secrets Manager accepts: 7 to 30 days, or 0 for at once.
const RECOVERY_WINDOWS: &[i64] =
    &[0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30];

static SCHEMA: Schema = Schema {
    attrs: &[
        Attr::computed("id", AttrType::Str),
        Attr::computed("arn", AttrType::Str),
        // The AWSCURRENT version: the only trace of the value pgstack keeps.
        Attr::computed("version_id", AttrType::Str),
        Attr::optional("name", AttrType::Str)
            .force_new()
            .pattern(Kind::SecretName)
            .default_name(NameRule::new(512, false, "/_+=.@")),
        Attr::optional("description", AttrType::Str).max_len(2048),
        Attr::optional("kms_key_id", AttrType::Str),
        Attr::optional("recovery_window_in_days", AttrType::Int)
            .default(Default::Int(30))
            .config_only()
            .int_one_of(RECOVERY_WINDOWS),
        Attr::optional("generate_password", AttrType::Object(&GENERATOR_FIELDS))
            .config_only()
            .conflicts_with(&["value"]),
        Attr::optional("value", AttrType::Str).write_only(),
        Attr::optional("credentials", AttrType::Object(&CREDENTIAL_FIELDS)).config_only(),
        Attr::optional("keepers", AttrType::Map(&AttrType::Str)).config_only(),
        Attr::optional("tags", AttrType::Map(&AttrType::Str)).pattern(Kind::Tags),
    ],
    guarded: true,
    taggable: true,
    ownership: Ownership::indexed("secretsmanager:secret", "secret:").arn_ids(),
    pricing: Pricing::Secret,
};

/// The `secret` resource type.
pub struct Secret;

fn sm_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    Ok(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect())
}

/// The version carrying the `AWSCURRENT` label (AWS gives it to exactly
/// one; should an emulator give it to more, the least id, so reads agree).
fn current_version(versions: Option<&std::collections::HashMap<String, Vec<String>>>) -> Option<String> {
    versions?.iter().filter(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT")).map(|(v, _)| v.clone()).min()
}

/// One secret's attributes; `None` when it does not exist or is scheduled
/// for deletion.
async fn read_secret(client: &Client, id: &str, scope: &ReadScope) -> Result<Option<(String, Attrs)>> {
    let out = match client.describe_secret().secret_id(id).send().await {
        Ok(out) => out,
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(api_error("DescribeSecret", e)),
    };
    if out.deleted_date().is_some() {
        return Ok(None);
    }
    let arn = out.arn().unwrap_or(id);
    let mut a = Attrs::new();
    a.insert("id".into(), Value::str(arn));
    a.insert("arn".into(), Value::str(arn));
    a.insert("name".into(), out.name().into());
    a.insert("version_id".into(), current_version(out.version_ids_to_stages()).into());
    a.insert("description".into(), out.description().filter(|d| !d.is_empty()).into());
    a.insert("kms_key_id".into(), out.kms_key_id().into());
    if scope.wants("tags") {
        let map: BTreeMap<String, String> = out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned())))
            .collect();
        a.insert("tags".into(), Value::from(map));
    }
    Ok(Some((id.to_owned(), a)))
}

async fn read_all(client: &Client, id: &str) -> Result<Attrs> {
    read_secret(client, id, &ReadScope::All).await?.map(|(_, a)| a).ok_or_else(|| ProviderError::NotFound(id.into()))
}

/// A new password from Secrets Manager's generator, with the settings of
/// `generate_password` (AWS's defaults for what is unset).
async fn generate(client: &Client, settings: &BTreeMap<String, Value>) -> Result<String> {
    let flag = |name: &str| settings.get(name).and_then(Value::as_bool);
    let out = client
        .get_random_password()
        .set_password_length(settings.get("length").and_then(Value::as_i64))
        .set_exclude_characters(settings.get("exclude_characters").and_then(Value::as_str).map(str::to_owned))
        .set_exclude_numbers(flag("exclude_numbers"))
        .set_exclude_punctuation(flag("exclude_punctuation"))
        .set_exclude_uppercase(flag("exclude_uppercase"))
        .set_exclude_lowercase(flag("exclude_lowercase"))
        .set_include_space(flag("include_space"))
        .set_require_each_included_type(flag("require_each_included_type"))
        .send()
        .await
        .map_err(|e| api_error("GetRandomPassword", e))?;
    out.random_password()
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::Invalid("GetRandomPassword returned no password".into()))
}

/// A fresh password: the supplied `value`, else a generated one, else none.
async fn fresh_password(client: &Client, desired: &Attrs) -> Result<Option<String>> {
    if let Some(v) = get_str(desired, "value") {
        return Ok(Some(v.to_owned()));
    }
    match desired.get("generate_password").and_then(Value::as_map) {
        Some(settings) => generate(client, settings).await.map(Some),
        None => Ok(None),
    }
}

/// The secret string: the password alone, or the `credentials` JSON shape
/// with the password in it. `None` when there is nothing to store.
fn secret_string(password: Option<&str>, credentials: Option<&BTreeMap<String, Value>>) -> Option<String> {
    let Some(fields) = credentials else { return password.map(str::to_owned) };
    let mut doc = serde_json::Map::new();
    for (k, v) in fields.iter().filter(|(_, v)| !v.is_null()) {
        doc.insert(k.clone(), v.to_json());
    }
    if let Some(p) = password {
        doc.insert("password".into(), serde_json::Value::String(p.to_owned()));
    }
    Some(serde_json::Value::Object(doc).to_string())
}

/// The password inside a stored secret string: its `password` field when it
/// is a JSON object, otherwise the whole string.
fn password_in(stored: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(doc)) => doc.get("password").and_then(|p| p.as_str()).map(str::to_owned),
        _ => Some(stored.to_owned()),
    }
}

fn credentials(attrs: &Attrs) -> Option<&BTreeMap<String, Value>> {
    attrs.get("credentials").and_then(Value::as_map)
}

/// Whether an update must write a new version with a fresh password:
/// `--replace` (a changed `version_id`) or new generator settings or keepers.
fn wants_new_value(update: &PlannedUpdate) -> bool {
    update.changes_any(&["version_id", "generate_password", "keepers"])
}

async fn put_value(client: &Client, id: &str, value: String) -> Result<()> {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| api_error("PutSecretValue", e))?;
    Ok(())
}

/// The `ClientRequestToken` of the CreateSecret for `name` at `address` of
/// `stack` in `region`: the same for every repeat of that create (a resend
/// after a lost reply, the next run's create after a crash), so Secrets
/// Manager treats a repeat as the same request; another name (a replacement
/// under the other default name) gets another token. A UUID-shaped SHA-256
/// prefix, as the SDK's own tokens look (32 to 64 characters).
fn request_token(stack: &str, region: &str, address: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(["pgstack CreateSecret", stack, region, address, name].join("\0").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Whether a secret's `tags` name `stack` and `address` as its owner.
fn owned_by(tags: &BTreeMap<String, String>, stack: &str, address: &str) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(stack) && tags.get(TAG_ADDRESS).map(String::as_str) == Some(address)
}

/// The live secret named `name`, when its ownership tags name `stack` and
/// `address`: its attributes (DescribeSecret).
async fn owned_named(client: &Client, name: &str, stack: &str, address: &str) -> Result<Option<Attrs>> {
    let Some((_, attrs)) = read_secret(client, name, &ReadScope::All).await? else { return Ok(None) };
    Ok(owned_by(&tags_of(&attrs), stack, address).then_some(attrs))
}

/// Whether an error says the secret is already scheduled for deletion.
fn scheduled_for_deletion<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    let message = match err {
        SdkError::ServiceError(se) => se.err().message().unwrap_or_default(),
        _ => "",
    };
    message.contains("marked deleted") || message.contains("scheduled for deletion")
}

#[async_trait]
impl ResourceType for Secret {
    fn type_name(&self) -> &'static str {
        "secret"
    }

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn renewal_attr(&self) -> Option<&'static str> {
        Some("version_id")
    }

    fn suppress_diff(&self, attr: &str, current: &Value, desired: &Value) -> bool {
        attr == "kms_key_id" && same_kms_key(current, desired)
    }

    async fn read_many(&self, ctx: &Ctx, ids: &[String], scope: &ReadScope) -> Result<BTreeMap<String, Attrs>> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let client = &factory(ctx)?.secretsmanager(&ctx.region).await;
        let reads: Vec<_> = ids.iter().map(|id| read_secret(client, id, scope)).collect();
        let found: Vec<_> = stream::iter(reads).buffer_unordered(PER_RESOURCE_CONCURRENCY).try_collect().await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, ctx: &Ctx, desired: &Attrs) -> Result<Attrs> {
        let name = get_str(desired, "name").ok_or_else(|| ProviderError::Invalid("name is required".into()))?;
        let tags = tags_of(desired);
        let address = tags.get(TAG_ADDRESS).cloned().unwrap_or_default();
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        let password = fresh_password(&client, desired).await?;
        let req = client
            .create_secret()
            .name(name)
            .client_request_token(request_token(&ctx.stack, &ctx.region, &address, name))
            .set_description(get_str(desired, "description").map(str::to_owned))
            .set_kms_key_id(get_str(desired, "kms_key_id").map(str::to_owned))
            .set_secret_string(secret_string(password.as_deref(), credentials(desired)))
            .set_tags(Some(sm_tags(&tags)?));
        let sent = match req.clone().send().await {
            Err(e @ SdkError::ServiceError(_)) => Err(e),
            Err(e) => match api_error("CreateSecret", e) {
                // The reply was lost: the same request, same token and value,
                // is answered as the first was, and makes nothing new.
                ProviderError::Transport { .. } => {
                    let what = "sending CreateSecret again after its reply was lost (the same request token: AWS answers it as the first)";
                    ctx.progress.report(what, std::time::Duration::ZERO);
                    req.send().await
                }
                unsent => return Err(unsent),
            },
            Ok(out) => Ok(out),
        };
        let out = match sent {
            Ok(out) => out,
            Err(e) if error_code(&e) == Some("ResourceExistsException") => {
                return match owned_named(&client, name, &ctx.stack, &address).await? {
                    // This create, made by an earlier attempt: adopted as it is.
                    Some(attrs) => Ok(attrs),
                    None => Err(ProviderError::Invalid(format!(
                        "{} (a secret named `{name}` exists and its ownership tags do not name this stack's `{address}`: \
                         import it with `pgstack import`, or choose another `name`)",
                        api_error("CreateSecret", e)
                    ))),
                };
            }
            Err(e) if error_code(&e) == Some("InvalidRequestException") => {
                let err = api_error("CreateSecret", e);
                return Err(ProviderError::Invalid(format!(
                    "{err} (a secret of this name scheduled for deletion blocks the name until it is deleted; \
                     restore it with `aws secretsmanager restore-secret --secret-id {name}` and `pgstack import` it)"
                )));
            }
            Err(e) => return Err(api_error("CreateSecret", e)),
        };
        let arn = out.arn().ok_or_else(|| ProviderError::Invalid("CreateSecret returned no ARN".into()))?;
        read_all(&client, arn).await
    }

    async fn update(&self, ctx: &Ctx, id: &str, update: &PlannedUpdate) -> Result<Attrs> {
        let (prior, desired) = (&update.before, &update.after);
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        if update.changes_any(&["description", "kms_key_id"]) {
            client
                .update_secret()
                .secret_id(id)
                .set_description(get_str(desired, "description").map(str::to_owned))
                .set_kms_key_id(get_str(desired, "kms_key_id").map(str::to_owned))
                .send()
                .await
                .map_err(|e| api_error("UpdateSecret", e))?;
        }
        if wants_new_value(update) {
            let password = fresh_password(&client, desired).await?;
            if let Some(value) = secret_string(password.as_deref(), credentials(desired)) {
                put_value(&client, id, value).await?;
            }
        } else if update.changes("credentials") {
            // New host, port or user name: the same password in the new shape.
            let stored =
                client.get_secret_value().secret_id(id).send().await.map_err(|e| api_error("GetSecretValue", e))?;
            let password = stored.secret_string().and_then(password_in);
            if let Some(value) = secret_string(password.as_deref(), credentials(desired)) {
                put_value(&client, id, value).await?;
            }
        }
        if update.changes("tags") {
            sync_arn_tags!(client, secret_id = id, &tags_of(prior), &tags_of(desired), sm_tags);
        }
        read_all(&client, id).await
    }

    async fn delete(&self, ctx: &Ctx, id: &str, prior: &Attrs) -> Result<()> {
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        let call = client.delete_secret().secret_id(id);
        let call = match get_i64(prior, "recovery_window_in_days").unwrap_or(30) {
            0 => call.force_delete_without_recovery(true),
            days => call.recovery_window_in_days(days),
        };
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(()),
            // Already scheduled for deletion: what was asked for.
            Err(e) if error_code(&e) == Some("InvalidRequestException") && scheduled_for_deletion(&e) => Ok(()),
            Err(e) => Err(api_error("DeleteSecret", e)),
        }
    }

    /// By either default name first (DescribeSecret, current at once), then
    /// by the tagging index.
    async fn find_created(&self, ctx: &Ctx, addr: &ResourceAddr) -> Result<Option<String>> {
        let client = factory(ctx)?.secretsmanager(&ctx.region).await;
        if let Some(rule) = SCHEMA.attr("name").and_then(|a| a.default_name) {
            for name in [rule.name_for(&ctx.stack, addr), rule.alternate_for(&ctx.stack, addr)] {
                if let Some(attrs) = owned_named(&client, &name, &ctx.stack, &addr.to_string()).await? {
                    return Ok(get_str(&attrs, "id").map(str::to_owned));
                }
            }
        }
        let found = owned::tagged(ctx, Some(addr), &["secretsmanager:secret"]).await?;
        for (arn, _) in &found {
            // Secrets scheduled for deletion read as gone.
            if let Some((id, _)) = read_secret(&client, arn, &ReadScope::All).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// From the region's shared tagging index ([`owned::indexed`]).
    async fn list_owned(&self, ctx: &Ctx, known: &BTreeSet<String>) -> Result<Vec<Owned>> {
        owned::indexed(ctx, self.type_name(), known).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn the_value_is_the_password_or_the_credentials_shape() {
        assert_eq!(secret_string(Some("pw"), None).as_deref(), Some("pw"));
        assert_eq!(secret_string(None, None), None);
        let creds = map(&[
            ("username", "app".into()),
            ("host", "db.example".into()),
            ("port", Value::Int(5432)),
            ("dbname", Value::Null),
        ]);
        let doc: serde_json::Value = serde_json::from_str(&secret_string(Some("pw"), Some(&creds)).unwrap()).unwrap();
        assert_eq!(doc, serde_json::json!({"username": "app", "host": "db.example", "port": 5432, "password": "pw"}));
    }

    #[test]
    fn the_password_is_found_in_either_shape() {
        assert_eq!(password_in(r#"{"username":"a","password":"p"}"#).as_deref(), Some("p"));
        assert_eq!(password_in("plain").as_deref(), Some("plain"));
        assert_eq!(password_in(r#"{"username":"a"}"#), None);
    }

    #[test]
    fn a_new_value_is_written_for_replace_generator_or_keeper_changes_only() {
        let prior: Attrs = [
            ("version_id".to_string(), Value::str("v1")),
            ("generate_password".to_string(), Value::Map(map(&[("length", Value::Int(32))]))),
            ("description".to_string(), Value::str("a")),
        ]
        .into();
        let planned = |d: &Attrs| Secret.planned_update(&prior, d, &[]);
        let mut d = prior.clone();
        d.insert("description".into(), Value::str("b"));
        assert!(!wants_new_value(&planned(&d)));
        // `--replace`: the plan changes `version_id` to unknown, filled as null.
        let mut renewal = planned(&d);
        renewal.after.insert("version_id".into(), Value::Null);
        renewal.changed.push("version_id".into());
        assert!(wants_new_value(&renewal), "--replace");
        let mut d = prior.clone();
        d.insert("generate_password".into(), Value::Map(map(&[("length", Value::Int(40))])));
        assert!(wants_new_value(&planned(&d)));
        let mut d = prior.clone();
        d.insert("keepers".into(), Value::Map(map(&[("rotated", "2026-12".into())])));
        assert!(wants_new_value(&planned(&d)));
    }

    #[test]
    fn the_request_token_is_the_same_for_a_repeat_and_differs_for_another_create() {
        let token = request_token("shop", "us-east-1", "secret.app", "shop-app");
        assert_eq!(token, request_token("shop", "us-east-1", "secret.app", "shop-app"));
        assert_eq!(token.len(), 36, "{token}");
        assert!(token.chars().all(|c| c.is_ascii_hexdigit() || c == '-'), "{token}");
        for other in [
            request_token("shop2", "us-east-1", "secret.app", "shop-app"),
            request_token("shop", "us-west-2", "secret.app", "shop-app"),
            request_token("shop", "us-east-1", "secret.db", "shop-app"),
            request_token("shop", "us-east-1", "secret.app", "shop-app-1a2b3c4d"),
            // No ambiguity where the parts meet.
            request_token("sho", "pus-east-1", "secret.app", "shop-app"),
        ] {
            assert_ne!(token, other);
        }
        let tags: BTreeMap<String, String> = [(TAG_STACK, "shop"), (TAG_ADDRESS, "secret.app")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(owned_by(&tags, "shop", "secret.app"));
        assert!(!owned_by(&tags, "shop", "secret.db") && !owned_by(&tags, "other", "secret.app"));
        assert!(!owned_by(&BTreeMap::new(), "shop", "secret.app"));
    }

    #[test]
    fn the_current_version_is_the_one_labelled_awscurrent() {
        let versions: std::collections::HashMap<String, Vec<String>> = [
            ("old".to_string(), vec!["AWSPREVIOUS".to_string()]),
            ("new".to_string(), vec!["AWSCURRENT".to_string(), "AWSPENDING".to_string()]),
        ]
        .into();
        assert_eq!(current_version(Some(&versions)).as_deref(), Some("new"));
        assert_eq!(current_version(None), None);
    }
}
