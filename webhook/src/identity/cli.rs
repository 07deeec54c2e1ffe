//! `agentnet-webhook ca list|add-root|use-signer|remove-root`: the CA rotation steps as
//! commands on the CA Secret (run them in a webhook pod with `kubectl exec`, whose
//! ServiceAccount may edit the Secret, or locally with `--kubeconfig`). Each edit is
//! validated as a whole pool before it is written; the webhooks pick it up from their
//! watch.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use time::OffsetDateTime;

use super::ca::rotate::{self, Summary};
use super::ca::store::{CaStore, StoreError};
use crate::config::{CaCli, CaCommand};

/// Runs one command; returns what to print.
pub async fn run(cli: CaCli, client: kube::Client) -> Result<String, StoreError> {
    let secrets: Api<Secret> = Api::namespaced(client, &cli.namespace);
    let store = CaStore::new(secrets, cli.secret.clone());
    let now = OffsetDateTime::now_utc();
    match cli.command {
        CaCommand::List => list(&store).await,
        CaCommand::AddRoot { id } => {
            let wanted = id.unwrap_or_else(|| rotate::new_id(now));
            store
                .edit(|data| rotate::add_root(data, Some(&wanted), now).map(|(d, _)| d))
                .await?;
            Ok(format!("{wanted}\n"))
        }
        CaCommand::UseSigner { id } => {
            store
                .edit(|data| rotate::use_signer(data, &id, now))
                .await?;
            Ok(format!("{id} now signs new certificates\n"))
        }
        CaCommand::RemoveRoot { id } => {
            store
                .edit(|data| rotate::remove_root(data, &id, now))
                .await?;
            Ok(format!("{id} is no longer trusted\n"))
        }
    }
}

async fn list(store: &CaStore) -> Result<String, StoreError> {
    let missing = || StoreError::Missing(store.name().to_owned());
    let (data, _) = store.read().await?.ok_or_else(missing)?;
    Ok(table(&rotate::summaries(&data)))
}

fn table(cas: &[Summary]) -> String {
    let mut out = String::from("ID\tSIGNER\tKEY\tNOT AFTER\tSUBJECT\n");
    for ca in cas {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            ca.id,
            if ca.signer { "yes" } else { "no" },
            if ca.has_key { "yes" } else { "no" },
            super::service::rfc3339(ca.not_after),
            ca.subject
        );
    }
    out
}
