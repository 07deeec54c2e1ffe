//! The contract between the webhook and the sidecar: labels and annotations users set,
//! annotations the webhook writes, and the `AGENTNET_*` variables the webhook passes to
//! the sidecar. Both binaries use these names and nothing else.

/// Label: `enabled` on a namespace opts its pods in; `disabled` on a pod opts it out.
pub const INJECT_LABEL: &str = "agentnet.dev/inject";
pub const INJECT_ENABLED: &str = "enabled";
pub const INJECT_DISABLED: &str = "disabled";

/// Pod annotations that tune the injected sidecar. Namespace annotations with the same
/// keys apply to pods that do not set them.
pub mod annotation {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter directive).
    pub const LOG_LEVEL: &str = "agentnet.dev/log-level";
    /// `allow` or `deny`: destinations that are no XBackend.
    pub const OUTBOUND_DEFAULT: &str = "agentnet.dev/outbound-default";
    /// `allow` (upstream's default) or `deny`: XBackends with no accepted Allow policy.
    pub const BACKEND_DEFAULT: &str = "agentnet.dev/backend-default";
    /// Comma-separated hosts added to `NO_PROXY`, so the app reaches them directly.
    pub const EXCLUDE_OUTBOUND_HOSTS: &str = "agentnet.dev/exclude-outbound-hosts";
    /// Comma-separated ports the sidecar passes through without inspection.
    pub const EXCLUDE_OUTBOUND_PORTS: &str = "agentnet.dev/exclude-outbound-ports";
    /// Lifetime of the workload certificate, e.g. `1h`, `30m`.
    pub const CERT_LIFETIME: &str = "agentnet.dev/cert-lifetime";
    pub const PROXY_CPU_REQUEST: &str = "agentnet.dev/proxy-cpu-request";
    pub const PROXY_CPU_LIMIT: &str = "agentnet.dev/proxy-cpu-limit";
    pub const PROXY_MEMORY_REQUEST: &str = "agentnet.dev/proxy-memory-request";
    pub const PROXY_MEMORY_LIMIT: &str = "agentnet.dev/proxy-memory-limit";

    /// Written by the webhook: `true` once the sidecar is injected.
    pub const INJECTED: &str = "agentnet.dev/injected";
    /// Written by the webhook: the injected sidecar's version.
    pub const SIDECAR_VERSION: &str = "agentnet.dev/sidecar-version";
}

/// Name of the injected sidecar container.
pub const SIDECAR_CONTAINER: &str = "agentnet-sidecar";
/// Audience of the projected ServiceAccount token the sidecar presents.
pub const TOKEN_AUDIENCE: &str = "agentnet";
/// Default SPIFFE trust domain.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// Default listeners of the sidecar.
pub const OUTBOUND_PORT: u16 = 15001;
pub const ADMIN_PORT: u16 = 15000;
pub const INBOUND_PORT: u16 = 15006;

/// Environment variables the webhook sets on the sidecar (and the sidecar's flags read).
pub mod env {
    pub const LOG: &str = "AGENTNET_LOG";
    pub const LOG_FORMAT: &str = "AGENTNET_LOG_FORMAT";
    pub const OUTBOUND_ADDR: &str = "AGENTNET_OUTBOUND_ADDR";
    pub const INBOUND_ADDR: &str = "AGENTNET_INBOUND_ADDR";
    pub const ADMIN_ADDR: &str = "AGENTNET_ADMIN_ADDR";
    pub const OUTBOUND_DEFAULT: &str = "AGENTNET_OUTBOUND_DEFAULT";
    pub const BACKEND_DEFAULT: &str = "AGENTNET_BACKEND_DEFAULT";
    pub const EXCLUDE_OUTBOUND_PORTS: &str = "AGENTNET_EXCLUDE_OUTBOUND_PORTS";
    pub const POD_NAME: &str = "AGENTNET_POD_NAME";
    pub const POD_NAMESPACE: &str = "AGENTNET_POD_NAMESPACE";
    pub const SERVICE_ACCOUNT: &str = "AGENTNET_SERVICE_ACCOUNT";
    pub const TRUST_DOMAIN: &str = "AGENTNET_TRUST_DOMAIN";
    pub const CLUSTER_DOMAIN: &str = "AGENTNET_CLUSTER_DOMAIN";
    /// URL of the identity service (agentnet-webhook) that signs CSRs.
    pub const IDENTITY_URL: &str = "AGENTNET_IDENTITY_URL";
    /// File holding the projected ServiceAccount token (audience `agentnet`).
    pub const TOKEN_FILE: &str = "AGENTNET_TOKEN_FILE";
    /// File holding the PEM trust bundle (one or more roots).
    pub const TRUST_BUNDLE_FILE: &str = "AGENTNET_TRUST_BUNDLE_FILE";
    pub const CERT_LIFETIME: &str = "AGENTNET_CERT_LIFETIME";
}

/// Paths inside the pod where the webhook mounts the sidecar's inputs.
pub mod mount {
    pub const TOKEN_DIR: &str = "/var/run/secrets/agentnet.dev/token";
    pub const TOKEN_FILE: &str = "/var/run/secrets/agentnet.dev/token/token";
    pub const TRUST_BUNDLE_DIR: &str = "/var/run/secrets/agentnet.dev/trust";
    pub const TRUST_BUNDLE_FILE: &str = "/var/run/secrets/agentnet.dev/trust/ca-bundle.pem";
}

/// ConfigMap (in each opted-in namespace) carrying the trust bundle, and its key.
pub const TRUST_BUNDLE_CONFIGMAP: &str = "agentnet-trust-bundle";
pub const TRUST_BUNDLE_KEY: &str = "ca-bundle.pem";
