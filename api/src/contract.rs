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
    /// The XBackend (`name`, or `namespace/name`) whose policies decide calls other
    /// agents make to this pod over mTLS; read from the pod only, with `INBOUND_PORT`.
    pub const INBOUND_BACKEND: &str = "agentnet.dev/inbound-backend";
    /// The app's port in the pod that allowed inbound calls are forwarded to.
    pub const INBOUND_PORT: &str = "agentnet.dev/inbound-port";
    /// How the app's traffic reaches the sidecar: `iptables` (the default: an init
    /// container redirects every outbound TCP connection) or `proxy-env` (only
    /// `HTTP_PROXY` and `/backends/`, for clusters that forbid `NET_ADMIN`).
    pub const CAPTURE: &str = "agentnet.dev/capture";
    /// Comma-separated CIDRs the capture rules never redirect.
    pub const EXCLUDE_OUTBOUND_CIDRS: &str = "agentnet.dev/exclude-outbound-cidrs";

    /// Written by the webhook: `true` once the sidecar is injected.
    pub const INJECTED: &str = "agentnet.dev/injected";
    /// Written by the webhook: the injected sidecar's version.
    pub const SIDECAR_VERSION: &str = "agentnet.dev/sidecar-version";
}

/// Name of the injected sidecar container.
pub const SIDECAR_CONTAINER: &str = "agentnet-sidecar";
/// Name of the init container that installs the capture rules (`agentnet-sidecar init`).
pub const INIT_CONTAINER: &str = "agentnet-init";
/// The sidecar's UID. The capture rules exempt its connections (that is how its own
/// upstream calls are not redirected back to it), so no app container may run as it.
pub const PROXY_UID: u32 = 15000;
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
    /// Set only in PodCertificate mode: the kubelet-maintained credential bundle (PKCS#8
    /// key, then leaf and intermediates) the sidecar uses instead of calling the
    /// identity service.
    pub const POD_CERTIFICATE_FILE: &str = "AGENTNET_POD_CERTIFICATE_FILE";
    /// `namespace/name` of the XBackend whose policies the inbound (mTLS) listener
    /// enforces: the backend whose Service selects this pod.
    pub const INBOUND_BACKEND: &str = "AGENTNET_INBOUND_BACKEND";
    /// `ip:port` of the app in the pod that the inbound listener forwards allowed calls to.
    pub const INBOUND_FORWARD: &str = "AGENTNET_INBOUND_FORWARD";
    /// `iptables` when the pod's capture rules redirect connections to the outbound
    /// listener (which then reads their original destination), `proxy-env` otherwise.
    pub const CAPTURE: &str = "AGENTNET_CAPTURE";
    /// URL of the control plane's policy service (agentnet-webhook, the identity
    /// listener): the sidecar's policy comes from `GET <url>/v1/policy/view`.
    pub const POLICY_URL: &str = "AGENTNET_POLICY_URL";
}

/// Service annotations: the pods behind the Service run an agentnet sidecar, so callers'
/// sidecars reach them over mTLS on its inbound port and check their SPIFFE ID.
pub mod service_annotation {
    /// The identity the Service's pods must present: a SPIFFE ID, or the name of a
    /// ServiceAccount in the Service's namespace (in the sidecar's trust domain).
    pub const PEER_IDENTITY: &str = "agentnet.dev/peer-identity";
    /// The peers' inbound (mTLS) port, when not `INBOUND_PORT`.
    pub const PEER_PORT: &str = "agentnet.dev/peer-port";
}

/// Paths inside the pod where the webhook mounts the sidecar's inputs.
pub mod mount {
    pub const TOKEN_DIR: &str = "/var/run/secrets/agentnet.dev/token";
    pub const TOKEN_FILE: &str = "/var/run/secrets/agentnet.dev/token/token";
    pub const TRUST_BUNDLE_DIR: &str = "/var/run/secrets/agentnet.dev/trust";
    pub const TRUST_BUNDLE_FILE: &str = "/var/run/secrets/agentnet.dev/trust/ca-bundle.pem";
    /// PodCertificate mode only: the `podCertificate` projected volume.
    pub const POD_CERTIFICATE_DIR: &str = "/var/run/secrets/agentnet.dev/pod-certificate";
    pub const POD_CERTIFICATE_FILE: &str =
        "/var/run/secrets/agentnet.dev/pod-certificate/credentials.pem";
}

/// ConfigMap (in each opted-in namespace) carrying the trust bundle, and its key.
pub const TRUST_BUNDLE_CONFIGMAP: &str = "agentnet-trust-bundle";
pub const TRUST_BUNDLE_KEY: &str = "ca-bundle.pem";

/// The identity protocol between the sidecar and the identity service of
/// agentnet-webhook (docs/identity.md describes it in full).
///
/// `POST <AGENTNET_IDENTITY_URL>/v1/certify` over HTTPS; the server certificate is issued
/// by the identity CA, so it verifies against the trust bundle. Headers:
/// `Authorization: Bearer <projected token, audience agentnet>`,
/// `Content-Type: application/json`. Body: `{"csr": "<PEM PKCS#10>", "lifetimeSeconds":
/// <optional u64>}`. The CSR has an empty subject and requests either nothing or exactly
/// one URI SAN equal to the caller's SPIFFE ID.
///
/// 200: `{"spiffeId", "certificateChain" (PEM, leaf first, then intermediates),
/// "trustBundle" (PEM roots), "notBefore", "notAfter" (RFC 3339)}`. Errors: `{"error":
/// <code>, "message"}` with 400 `bad_request`, 401 `unauthenticated`, 403 `forbidden`,
/// 503 `unavailable` (retry with backoff).
pub mod identity {
    /// The certify endpoint, relative to the identity URL.
    pub const CERTIFY_PATH: &str = "/v1/certify";
    /// The identity listener's default port, in the pod and on the Service.
    pub const PORT: u16 = 8444;
    /// Signer of the PodCertificateRequests (and ClusterTrustBundle) agentnet answers.
    pub const SIGNER_NAME: &str = "agentnet.dev/identity";
    /// The only key type agentnet signs (podCertificate `keyType`).
    pub const POD_CERTIFICATE_KEY_TYPE: &str = "ECDSAP256";
    /// Shortest lifetime a client may ask for, in seconds (longer ones are capped by
    /// the install's maximum, never refused).
    pub const MIN_LIFETIME_SECONDS: u64 = 60;

    /// JSON field names of the request and responses.
    pub mod field {
        pub const CSR: &str = "csr";
        pub const LIFETIME_SECONDS: &str = "lifetimeSeconds";
        pub const SPIFFE_ID: &str = "spiffeId";
        pub const CERTIFICATE_CHAIN: &str = "certificateChain";
        pub const TRUST_BUNDLE: &str = "trustBundle";
        pub const NOT_BEFORE: &str = "notBefore";
        pub const NOT_AFTER: &str = "notAfter";
        pub const ERROR: &str = "error";
        pub const MESSAGE: &str = "message";
    }

    /// Values of the `error` field.
    pub mod error {
        pub const BAD_REQUEST: &str = "bad_request";
        pub const UNAUTHENTICATED: &str = "unauthenticated";
        pub const FORBIDDEN: &str = "forbidden";
        pub const UNAVAILABLE: &str = "unavailable";
    }
}

/// The policy protocol between the sidecar and the control plane's policy service
/// (docs/policy-distribution.md describes it in full).
///
/// `GET <AGENTNET_POLICY_URL>/v1/policy/view` over HTTPS on the identity listener (its
/// certificate verifies against the trust bundle), with `Authorization: Bearer
/// <projected token, audience agentnet>`. The view is the token's ServiceAccount's;
/// an optional `identity=<SPIFFE ID>` query parameter must name that same identity, or
/// the request is refused (403). 200: `application/x-ndjson`, one JSON object per line,
/// for as long as the connection lasts: `{"type": "view", "version", "generation",
/// "snapshot"}` whenever the caller's view changes (the first line is always a view),
/// and `{"type": "heartbeat", "version", "generation"}` every `HEARTBEAT_SECONDS`.
/// Errors are the identity service's: `{"error": <code>, "message"}` with 401
/// `unauthenticated`, 403 `forbidden`, 503 `unavailable` (the control plane has not
/// synced yet: retry).
///
/// Acknowledgements: the 200 answer carries `SESSION_HEADER`, a random session id.
/// After each view the sidecar posts `{"session", "version", "applied": bool,
/// "error"?}` to `ACK_PATH` on the same (HTTP/2) connection, so the replica that sent
/// the view learns whether it is in force (`applied`) or was refused (`error` says
/// why). The session id is the only credential an acknowledgement needs: it was sent
/// over TLS to the authenticated stream's holder alone, and an acknowledgement changes
/// nothing but that session's reported state. 204: recorded; 404: no such session on
/// this replica.
pub mod policy {
    /// The view stream, relative to the policy URL.
    pub const VIEW_PATH: &str = "/v1/policy/view";
    /// Query parameter: the SPIFFE ID the caller expects its view for.
    pub const IDENTITY_PARAM: &str = "identity";
    /// Content type of the stream.
    pub const CONTENT_TYPE: &str = "application/x-ndjson";
    /// The server sends a heartbeat this often; a client that hears nothing for three
    /// times as long reconnects.
    pub const HEARTBEAT_SECONDS: u64 = 10;
    /// Acknowledgements of views, relative to the policy URL.
    pub const ACK_PATH: &str = "/v1/policy/ack";
    /// Response header of the view stream: the session id acknowledgements name.
    pub const SESSION_HEADER: &str = "agentnet-policy-session";

    /// What a sidecar did with a view.
    #[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct Ack {
        pub session: String,
        pub version: String,
        pub applied: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub error: Option<String>,
    }
}
