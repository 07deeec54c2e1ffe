//! agentnet-webhook on the shared control plane: the Helm chart installed with
//! `helm template … | kubectl apply` and the webhook running as a local process
//! (the control plane has no kubelet, so the chart's Deployment never runs; the
//! chart's `webhook.url` value points the API server at the local process instead).
//!
//! `shared()` installs the release `agentnet` once per test process and starts one
//! webhook for every e2e module; it is killed when the process exits (a detached
//! watcher, as for the control plane). `Isolated::start` runs a second release with
//! its own MutatingWebhookConfiguration that only selects namespaces carrying
//! `ISOLATION_LABEL=<release>`, which the shared release excludes, so a test can stop
//! its webhook without touching anyone else's pods.
//!
//! The binary is built once with `cargo build -p agentnet-webhook` (the artifact path is
//! read from cargo's JSON messages, so `CARGO_TARGET_DIR` and profiles are honoured);
//! set `AGENTNET_WEBHOOK_BIN` to use a prebuilt one instead. Its configuration is the
//! environment the chart gives the Deployment's container, with only the listen
//! addresses, kubeconfig and downward-API values replaced, so e2e also checks that the
//! chart configures the binary correctly.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::sidecar::PrivateControlPlane;
use crate::{client, control_plane, crds, eventually, kubectl_stdin, output_text};

mod chart;
mod process;

pub use chart::{deployment_env, render};
pub use process::{free_port, random_suffix, webhook_binary};

/// Namespace label that routes a namespace to one isolated release (and away from the
/// shared one).
pub const ISOLATION_LABEL: &str = "agentnet.dev/e2e-release";
/// The shared release: its name, so also its MutatingWebhookConfiguration's.
pub const SHARED_RELEASE: &str = "agentnet";

/// A running local webhook and the release that points at it.
pub struct LocalWebhook {
    pub release: String,
    pub namespace: String,
    /// The MutatingWebhookConfiguration (cluster-scoped) of the release.
    pub mutating_webhook: String,
    pub port: u16,
    pub metrics_port: u16,
    /// The identity listener (`POST /v1/certify`, `GET /v1/policy/view`) on 127.0.0.1.
    pub identity_port: u16,
    /// The loopback debug listener (`/debug/sidecars`).
    pub debug_port: u16,
    /// The webhook's stdout and stderr.
    pub log: PathBuf,
    child: Mutex<Option<Child>>,
    /// The environment it was started with (the chart's), for replicas.
    env: Vec<(String, String)>,
}

/// Another replica of a release's webhook (as a Deployment's second pod), on ports of
/// its own; it can be killed and started again on the same ports. Killed on drop.
pub struct Replica {
    env: Vec<(String, String)>,
    ports: process::Ports,
    kubeconfig: PathBuf,
    pub log: PathBuf,
    child: Mutex<Option<Child>>,
}

static SHARED: OnceCell<LocalWebhook> = OnceCell::const_new();

/// The shared release and webhook, installed and started on first use.
pub async fn shared() -> Result<&'static LocalWebhook> {
    SHARED.get_or_try_init(start_shared).await
}

async fn start_shared() -> Result<LocalWebhook> {
    // The CRDs first: the webhook repoints their conversion at itself, which the
    // one-time CRD install must not undo afterwards.
    crds::install_crds().await?;
    let isolation = [
        (
            "webhook.namespaceSelectorExpressions[0].key",
            ISOLATION_LABEL,
        ),
        (
            "webhook.namespaceSelectorExpressions[0].operator",
            "DoesNotExist",
        ),
        ("identity.podCertificates.enabled", "true"),
        ("identity.podCertificates.inject", "false"), // pods keep the default volumes
    ];
    let namespace = format!("agentnet-e2e-{}", random_suffix());
    let webhook = LocalWebhook::start(SHARED_RELEASE, &namespace, &isolation, true).await?;
    let pid = webhook
        .child
        .lock()
        .ok()
        .and_then(|c| c.as_ref().map(Child::id));
    process::reap_at_exit(pid.context("no webhook process")?)?;
    Ok(webhook)
}

/// A release of its own, for tests that stop their webhook. Dropping it kills the
/// process; its cluster objects stay (they select only its own namespaces).
pub struct Isolated(pub LocalWebhook);

impl Isolated {
    pub async fn start(release: &str) -> Result<Self> {
        shared().await?;
        let isolation = [
            (
                "webhook.namespaceSelectorExpressions[0].key",
                ISOLATION_LABEL,
            ),
            ("webhook.namespaceSelectorExpressions[0].operator", "In"),
            ("webhook.namespaceSelectorExpressions[0].values[0]", release),
            // The CRDs are shared: only the shared release serves their conversion.
            ("webhook.conversion.enabled", "false"),
            // One status writer per cluster: the shared release's.
            ("statusController.enabled", "false"),
            // One identity (CA, trust bundles) per cluster: the shared release's; so
            // no policy service either (its pods never run: no kubelet here).
            ("identity.enabled", "false"),
            ("sidecar.policySource", "kube"),
        ];
        let namespace = format!("{release}-system");
        Ok(Self(
            LocalWebhook::start(release, &namespace, &isolation, false).await?,
        ))
    }

    /// Labels that put a test namespace under this release (and opt it in).
    pub fn namespace_labels(&self) -> [(&str, &str); 2] {
        [
            ("agentnet.dev/inject", "enabled"),
            (ISOLATION_LABEL, self.0.release.as_str()),
        ]
    }
}

impl Drop for Isolated {
    fn drop(&mut self) {
        self.0.stop();
    }
}

// === impl LocalWebhook ===

impl LocalWebhook {
    async fn start(
        release: &str,
        namespace: &str,
        values: &[(&str, &str)],
        crds: bool,
    ) -> Result<Self> {
        create_namespace(namespace).await?;
        let ports = process::Ports::free()?;
        let url = format!("https://127.0.0.1:{}", ports.webhook);
        let manifest = chart::render(release, namespace, &url, values, crds)?;
        chart::apply(&manifest)?;
        let env = chart::deployment_env(&manifest, namespace)?;
        let log = std::env::temp_dir().join(format!(
            "agentnet-e2e-webhook-{release}-{}.log",
            std::process::id()
        ));
        let child = process::spawn(&env, ports, &control_plane().kubeconfig, &log)?;
        let webhook = Self {
            env,
            release: release.to_owned(),
            namespace: namespace.to_owned(),
            mutating_webhook: release.to_owned(),
            port: ports.webhook,
            metrics_port: ports.metrics,
            identity_port: ports.identity,
            debug_port: ports.debug,
            log,
            child: Mutex::new(Some(child)),
        };
        webhook.wait_until_serving().await?;
        Ok(webhook)
    }

    /// A second replica of this release, named `instance` (its Leases and Events say
    /// so), started now.
    pub fn replica(&self, instance: &str) -> Result<Replica> {
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "AGENTNET_INSTANCE");
        env.push(("AGENTNET_INSTANCE".into(), instance.into()));
        let log = std::env::temp_dir().join(format!(
            "agentnet-e2e-webhook-{instance}-{}.log",
            std::process::id()
        ));
        let replica = Replica {
            env,
            ports: process::Ports::free()?,
            kubeconfig: control_plane().kubeconfig.clone(),
            log,
            child: Mutex::new(None),
        };
        replica.start()?;
        Ok(replica)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        let guard = self.child.lock().ok()?;
        guard.as_ref().map(Child::id)
    }

    /// Kills the process (idempotent).
    pub fn stop(&self) {
        let Ok(mut guard) = self.child.lock() else {
            return;
        };
        if let Some(mut child) = guard.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `GET <path>` on the webhook's plain-HTTP metrics listener: (status, body).
    pub fn admin_get(&self, path: &str) -> Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.metrics_port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .context("no HTTP status")?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// The webhook's log so far, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ready once the process answers and its CA is in the webhook configuration; the
    /// API server then needs a moment to pick the configuration up, which callers
    /// absorb by polling their first admission.
    async fn wait_until_serving(&self) -> Result<()> {
        let mwc: Api<MutatingWebhookConfiguration> = Api::all(client().await?);
        let result = eventually(
            "the local webhook to publish its caBundle",
            Duration::from_secs(60),
            || {
                let mwc = mwc.clone();
                async move {
                    self.check_alive()?;
                    let ready = self
                        .admin_get("/readyz")
                        .map(|(s, _)| s == 200)
                        .unwrap_or(false);
                    let config = mwc.get(&self.mutating_webhook).await?;
                    let has_ca = config
                        .webhooks
                        .iter()
                        .flatten()
                        .all(|w| w.client_config.ca_bundle.is_some());
                    Ok((ready && has_ca).then_some(()))
                }
            },
        )
        .await;
        result.with_context(|| format!("webhook log:\n{}", self.log_text()))
    }

    fn check_alive(&self) -> Result<()> {
        let mut guard = self.child.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        match guard.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => bail!("agentnet-webhook exited with {status}"),
            Some(Err(e)) => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Polls server-side dry-run pod creations in `namespace` until the webhook injects
/// them: the API server picks up a new webhook configuration or caBundle through an
/// informer, so the first admissions after a start may still fail or pass it by.
pub async fn until_injecting(namespace: &str) -> Result<()> {
    let probe = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"probe-"},
        "spec":{"automountServiceAccountToken":false,"containers":[{"name":"app","image":"example.com/probe:1"}]}}"#;
    eventually(
        &format!("injection in namespace {namespace}"),
        Duration::from_secs(60),
        || async move {
            let out = kubectl_stdin(
                &[
                    "create",
                    "--dry-run=server",
                    "-o",
                    "json",
                    "-n",
                    namespace,
                    "-f",
                    "-",
                ],
                probe,
            )?;
            if !out.status.success() {
                bail!("{}", output_text(&out));
            }
            let pod: Value = serde_json::from_slice(&out.stdout)?;
            let injected = pod["spec"]["initContainers"]
                .as_array()
                .is_some_and(|init| init.iter().any(|c| c["name"] == "agentnet-sidecar"));
            Ok(injected.then_some(()))
        },
    )
    .await
}

async fn create_namespace(name: &str) -> Result<()> {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match Api::<Namespace>::all(client().await?)
        .create(&PostParams::default(), &ns)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating namespace {name}")),
    }
}

// === impl Replica ===

impl Replica {
    /// The chart installed as release `release` in `namespace` of a private control
    /// plane (CRDs apart: `PrivateControlPlane::install_crds`), and its webhook
    /// started against it, so a test may kill that control plane's API server.
    pub fn on_private(
        cp: &PrivateControlPlane,
        release: &str,
        namespace: &str,
        values: &[(&str, &str)],
    ) -> Result<Self> {
        cp.kubectl(&["create", "namespace", namespace], None)?;
        let ports = process::Ports::free()?;
        let url = format!("https://127.0.0.1:{}", ports.webhook);
        let manifest = chart::render(release, namespace, &url, values, false)?;
        cp.kubectl(&["apply", "-f", "-"], Some(&manifest))?;
        let replica = Replica {
            env: chart::deployment_env(&manifest, namespace)?,
            ports,
            kubeconfig: cp.kubeconfig.clone(),
            log: std::env::temp_dir().join(format!(
                "agentnet-e2e-webhook-{release}-{}.log",
                std::process::id()
            )),
            child: Mutex::new(None),
        };
        replica.start()?;
        Ok(replica)
    }

    /// Starts the process (again), on the replica's ports.
    pub fn start(&self) -> Result<()> {
        let child = process::spawn(&self.env, self.ports, &self.kubeconfig, &self.log)?;
        let pid = child.id();
        *self.child.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(child);
        process::reap_at_exit(pid)
    }

    /// Kills the process (idempotent).
    pub fn kill(&self) {
        if let Ok(mut guard) = self.child.lock()
            && let Some(mut child) = guard.take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The identity listener (`/v1/certify`, `/v1/policy/view`) on 127.0.0.1.
    pub fn identity_port(&self) -> u16 {
        self.ports.identity
    }

    /// The loopback debug listener (`/debug/sidecars`).
    pub fn debug_port(&self) -> u16 {
        self.ports.debug
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
