//! Webhook signing secrets: one record per account, beside the account record rather than on
//! it. Submit and poll read the account on every request to authenticate it; with the secrets
//! elsewhere they read none, and an IAM policy can allow `SECRET#` keys to the dispatcher (which
//! signs with them) and to radarctl (which makes and rotates them) only (DESIGN.md, invariant
//! 10).
//!
//! The secrets are stored as they are, since signing needs them in clear; the table is
//! encrypted at rest. Secrets were never stored anywhere else in a deployed table (no template
//! had deployed a working dispatcher before they moved here), so there is nothing to migrate
//! from the account record.

use uuid::Uuid;

use super::{Fields, Item, Read, Store, key, s};
use crate::{Error, Result, credentials::WebhookSecret};

/// An account's webhook signing secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    /// The secret that signs every delivery.
    pub current: WebhookSecret,
    /// The secret being rotated out, if a rotation is under way: deliveries are signed with
    /// both until it is retired, so receivers can switch secrets at their own pace.
    pub previous: Option<WebhookSecret>,
}

impl Secrets {
    /// A new account's: one secret, no rotation under way.
    pub fn new(current: WebhookSecret) -> Self {
        Self {
            current,
            previous: None,
        }
    }
}

const CURRENT: &str = "webhook_secret";
const PREVIOUS: &str = "previous_webhook_secret";

fn secrets_key(account_id: Uuid) -> Item {
    key(format!("SECRET#{account_id}"), "SECRET")
}

/// An account's secrets with the account they belong to: what their record holds.
#[derive(Debug, Clone, Copy)]
pub struct AccountSecrets<'a> {
    pub account_id: Uuid,
    pub secrets: &'a Secrets,
}

/// The record: the account's key and the secrets in their `whsec_` form.
impl From<AccountSecrets<'_>> for Item {
    fn from(
        AccountSecrets {
            account_id,
            secrets,
        }: AccountSecrets<'_>,
    ) -> Self {
        let mut item = secrets_key(account_id);
        item.insert(CURRENT.into(), s(secrets.current.expose()));
        if let Some(previous) = &secrets.previous {
            item.insert(PREVIOUS.into(), s(previous.expose()));
        }
        item
    }
}

impl TryFrom<&Item> for Secrets {
    type Error = Error;

    fn try_from(item: &Item) -> Result<Self> {
        let fields = Fields(item);
        Ok(Self {
            current: fields.secret(CURRENT)?,
            previous: match item.get(PREVIOUS) {
                None => None,
                Some(_) => Some(fields.secret(PREVIOUS)?),
            },
        })
    }
}

impl Store {
    /// An account's secrets; `None` when the account does not exist (its secrets are made with
    /// it, [`Store::create_account`]). Eventually consistent, like [`Store::get_account`]: a
    /// rotation reaches the signatures within a second or so.
    pub async fn get_secrets(&self, account_id: Uuid) -> Result<Option<Secrets>> {
        let item = self.get(secrets_key(account_id), Read::Eventual).await?;
        item.as_ref().map(Secrets::try_from).transpose()
    }

    /// Starts a secret rotation: `secret` signs from now on, and the current secret keeps
    /// signing beside it until [`Store::retire_previous_secret`]. False when there is no such
    /// account.
    pub async fn rotate_webhook_secret(
        &self,
        account_id: Uuid,
        secret: &WebhookSecret,
    ) -> Result<bool> {
        self.update_existing(
            secrets_key(account_id),
            "SET #previous = #current, #current = :secret",
            &[("#previous", PREVIOUS), ("#current", CURRENT)],
            &[(":secret", s(secret.expose()))],
        )
        .await
    }

    /// Ends a secret rotation: only the current secret signs. False when there is no such
    /// account.
    pub async fn retire_previous_secret(&self, account_id: Uuid) -> Result<bool> {
        self.update_existing(
            secrets_key(account_id),
            "REMOVE #previous",
            &[("#previous", PREVIOUS)],
            &[],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_survive_a_round_trip_through_their_record() {
        let account_id = Uuid::new_v4();
        for secrets in [
            Secrets::new(WebhookSecret::generate().unwrap()),
            Secrets {
                current: WebhookSecret::generate().unwrap(),
                previous: Some(WebhookSecret::generate().unwrap()),
            },
        ] {
            let item = Item::from(AccountSecrets {
                account_id,
                secrets: &secrets,
            });

            assert_eq!(item["pk"], s(format!("SECRET#{account_id}")));
            assert_eq!(item["sk"], s("SECRET"));
            assert_eq!(Secrets::try_from(&item).unwrap(), secrets);
        }
    }

    #[test]
    fn a_stored_secret_that_cannot_sign_is_a_corrupt_record() {
        let account_id = Uuid::new_v4();
        let secrets = Secrets::new(WebhookSecret::generate().unwrap());
        let mut item = Item::from(AccountSecrets {
            account_id,
            secrets: &secrets,
        });
        item.insert(PREVIOUS.into(), s("not-a-secret"));

        let error = Secrets::try_from(&item).unwrap_err();

        assert!(
            matches!(&error, Error::CorruptRecord { key, .. } if *key == format!("SECRET#{account_id}/SECRET")),
            "{error}"
        );
        assert!(
            !error.to_string().contains("not-a-secret"),
            "the stored value stays out of the error"
        );
    }
}
