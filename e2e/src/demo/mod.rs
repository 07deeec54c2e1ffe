//! agentnet's whole job on the real node, with real parts only: the chart installed from
//! the images, an agent Pod whose injected sidecar mediates the calls the official MCP
//! and A2A SDK clients make from inside it to real servers, allowed and denied, a live
//! policy edit, `explain`, the audit lines and the metrics.
//!
//! `run` is the demo on a node cluster that is already up with agentnet installed (the
//! `agentnet-demo` binary starts one, so does the e2e suite); each check becomes a typed
//! [`Outcome`] in the [`Report`], which `hack/demo.sh` prints and the e2e quickstart
//! test asserts on.

mod audit;
mod servers;
pub mod transcript;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde::Serialize;
use serde_json::Value;

use crate::node::Install;
use crate::pods::{self, container_pid, container_status, exec};
use crate::{ControlPlane, eventually, output_text, repo_root};

pub use transcript::{Checked, Outcome, Transcript};

const AGENT: &str = "spiffe://cluster.local/ns/agents/sa/demo-agent";
const SIDECAR: &str = "agentnet-sidecar";

/// What a run found: every check, and the evidence the e2e test reads again.
#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub outcomes: Vec<Checked>,
    /// The sidecar's Prometheus text after the calls.
    pub metrics: String,
    /// Its audit lines (JSON), one per decision.
    pub audit: Vec<Value>,
    /// `agentnet-sidecar explain` output for the denied calls.
    pub explain: String,
    /// The sidecar's resident memory in the Pod (kB, from /proc): idle, after the calls.
    pub sidecar_rss_kb: (u64, u64),
    pub transcript: String,
}

/// The running demo: the cluster, the transcript and what the steps learned.
pub struct Demo<'a> {
    cp: &'static ControlPlane,
    install: &'a Install,
    pub t: Transcript,
    servers: Option<servers::Servers>,
    metrics: String,
    audit: Vec<Value>,
    explain: String,
    rss: (u64, u64),
}

/// Runs the demo on `cp`, where agentnet is `install`ed: shows the node and the chart
/// (steps 1-2; the caller started them), runs steps 3-10, then removes what it created
/// (step 11).
pub async fn run(demo: &mut Demo<'_>) -> Report {
    if let Err(e) = demo.steps().await {
        demo.t.failure(&format!("  the demo stopped: {e:#}"));
    }
    demo.teardown().await;
    demo.report()
}

// === impl Demo ===

impl<'a> Demo<'a> {
    pub fn new(cp: &'static ControlPlane, install: &'a Install, t: Transcript) -> Self {
        Demo {
            cp,
            install,
            t,
            servers: None,
            metrics: String::new(),
            audit: Vec::new(),
            explain: String::new(),
            rss: (0, 0),
        }
    }

    async fn steps(&mut self) -> Result<()> {
        self.node().await?;
        self.chart().await?;
        self.servers().await?;
        self.policies().await?;
        let pod = self.agent_pod().await?;
        self.identity(&pod)?;
        self.rss.0 = sidecar_rss_kb(self.cp, &pod).unwrap_or(0);
        self.mcp_calls()?;
        self.live_edit().await?;
        self.a2a_calls().await?;
        self.evidence(&pod).await?;
        self.rss.1 = sidecar_rss_kb(self.cp, &pod).unwrap_or(0);
        self.t.say(&format!(
            "the sidecar's memory in the Pod (VmRSS of its process): {:.1} MB idle, {:.1} MB after these calls",
            self.rss.0 as f64 / 1024.0,
            self.rss.1 as f64 / 1024.0
        ));
        Ok(())
    }

    /// `kubectl …` that must succeed; its stdout.
    fn kubectl(&self, args: &[&str]) -> Result<String> {
        self.cp.kubectl_ok(args)
    }

    fn apply(&self, yaml: &str) -> Result<()> {
        let out = self.cp.kubectl_stdin(&["apply", "-f", "-"], yaml)?;
        if !out.status.success() {
            bail!("kubectl apply failed: {}", output_text(&out));
        }
        Ok(())
    }

    /// A manifest of hack/demo with its `${VAR}` placeholders filled in.
    fn manifest(&self, file: &str, vars: &[(&str, &str)]) -> Result<String> {
        let path = repo_root().join("hack/demo").join(file);
        let mut text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for (name, value) in vars {
            text = text.replace(&format!("${{{name}}}"), value);
        }
        Ok(text)
    }

    // --- 1-2. the node and the chart ---------------------------------------------------

    async fn node(&mut self) -> Result<()> {
        self.t.step("1. A development cluster with a real node");
        self.t.shows("kubectl get nodes -o wide");
        let nodes = self.kubectl(&["get", "nodes", "-o", "wide"])?;
        self.t.indent(&nodes);
        self.t.shows("kubectl get pods -n kube-system");
        let system = self.kubectl(&["get", "pods", "-n", "kube-system"])?;
        self.t.indent(&system);
        let ready = self.kubectl(&[
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}",
        ])?;
        self.t.check(
            Outcome::NodeReady,
            ready.split_whitespace().any(|s| s == "True"),
            "a Ready node: kubelet, containerd, runc, the CNI bridge, kube-proxy and CoreDNS, with kube-controller-manager and kube-scheduler",
        );
        Ok(())
    }

    async fn chart(&mut self) -> Result<()> {
        let ns = self.install.namespace;
        self.t
            .step("2. agentnet from its images, installed with Helm");
        self.t.shows("hack/images.sh import agentnet peers     # buildah bud of images/*.Containerfile, then into the node's containerd");
        self.t.say(&format!(
            "{}  {}",
            self.install.webhook_image, self.install.sidecar_image
        ));
        self.t.shows(&format!(
            "helm install {} charts/agentnet -n {ns} --create-namespace --set sidecar.tokenExpiration=10m --wait",
            self.install.release
        ));
        self.t.shows(&format!(
            "kubectl -n {ns} get deployments,pods,poddisruptionbudgets"
        ));
        let listing = self.kubectl(&["-n", ns, "get", "deployments,pods,poddisruptionbudgets"])?;
        self.t.indent(&listing);
        let available = self.kubectl(&[
            "-n",
            ns,
            "get",
            "deployment",
            crate::node::WEBHOOK_DEPLOYMENT,
            "-o",
            "jsonpath={.status.availableReplicas}",
        ])?;
        self.t.check(
            Outcome::ChartInstalled,
            available.trim() == "2",
            format!("agentnet-webhook runs as a Deployment from its image: {} of 2 replicas available, behind its Service", available.trim()),
        );
        Ok(())
    }

    // --- 3. servers -------------------------------------------------------------------

    async fn servers(&mut self) -> Result<()> {
        self.t.step("3. Real MCP servers and an A2A agent");
        for ns in ["agents", "tools"] {
            let _ = self.cp.kubectl(&["create", "namespace", ns]);
        }
        let servers = servers::Servers::start(self.cp)?;
        let port = servers.everything_port.to_string();
        let yaml = self.manifest(
            "servers.yaml",
            &[
                ("PEERS_IMAGE", &self.install.peers_image),
                ("HOST_IP", &servers.host_ip),
                ("EVERYTHING_PORT", &port),
            ],
        )?;
        self.t.shows("kubectl apply -f hack/demo/servers.yaml");
        self.apply(&yaml)?;
        for deploy in ["py-tools", "summarizer"] {
            self.kubectl(&[
                "-n",
                "tools",
                "rollout",
                "status",
                &format!("deployment/{deploy}"),
                "--timeout=120s",
            ])?;
        }
        self.t.shows("kubectl -n tools get pods,services");
        let listing = self.kubectl(&["-n", "tools", "get", "pods,services", "-o", "wide"])?;
        self.t.indent(&listing);
        self.t.say(&format!(
            "@modelcontextprotocol/server-everything (Node.js, streamableHttp) on the node at {}:{}, behind Service tools/mcp-everything:3001",
            servers.host_ip, servers.everything_port
        ));
        self.t.check(
            Outcome::ServersRunning,
            true,
            "Python mcp SDK server (py-tools) and a2a-sdk agent (summarizer) Running as Pods; server-everything on the node",
        );
        self.servers = Some(servers);
        Ok(())
    }

    // --- 4. policies ------------------------------------------------------------------

    async fn policies(&mut self) -> Result<()> {
        self.t
            .step("4. XBackends and XAccessPolicies, applied with kubectl");
        self.t.shows("kubectl apply -f hack/demo/policies.yaml");
        let yaml = self.manifest("policies.yaml", &[])?;
        self.apply(&yaml)?;
        self.t.say("ServiceAccount agents/demo-agent may call: everything get-sum, get-tiny-image (not echo) + the MCP base");
        self.t
            .say("protocol; py-tools add; summarizer skill summarize (not translate)");
        let cp = self.cp;
        let accepted = eventually("three Accepted policies", Duration::from_secs(60), || async {
            let out = cp.kubectl_ok(&[
                "-n",
                "tools",
                "get",
                "xaccesspolicies",
                "-o",
                "jsonpath={range .items[*]}{.status.ancestors[0].conditions[0].status}{\"\\n\"}{end}",
            ])?;
            Ok((out.lines().filter(|l| *l == "True").count() == 3).then_some(()))
        })
        .await;
        self.t
            .shows("kubectl -n tools get xbackends,xaccesspolicies");
        let listing = self.kubectl(&["-n", "tools", "get", "xbackends,xaccesspolicies"])?;
        self.t.indent(&listing);
        self.t.check(
            Outcome::PoliciesAccepted,
            accepted.is_ok(),
            "the webhook's status controller reports the three policies Accepted",
        );
        Ok(())
    }

    // --- 5. the agent Pod -------------------------------------------------------------

    async fn agent_pod(&mut self) -> Result<Pod> {
        self.t
            .step("5. Opt a namespace in and create the agent Pod");
        self.t
            .shows("kubectl label namespace agents agentnet.dev/inject=enabled");
        self.kubectl(&[
            "label",
            "namespace",
            "agents",
            "agentnet.dev/inject=enabled",
            "--overwrite",
        ])?;
        self.t.shows("kubectl apply -f hack/demo/agent-pod.yaml     # ServiceAccount demo-agent, Pod demo-agent");
        let yaml = self.manifest(
            "agent-pod.yaml",
            &[("PEERS_IMAGE", &self.install.peers_image)],
        )?;
        self.apply(&yaml)?;
        let api: Api<Pod> = Api::namespaced(self.cp.client().await?, "agents");
        let pod = pods::wait_ready(&api, "demo-agent", crate::node::POD_START).await?;
        let init: Vec<(String, Option<String>)> = pod
            .spec
            .as_ref()
            .and_then(|s| s.init_containers.as_ref())
            .into_iter()
            .flatten()
            .map(|c| (c.name.clone(), c.restart_policy.clone()))
            .collect();
        let injected = matches!(init.as_slice(),
            [(capture, None), (sidecar, Some(always)), ..]
                if capture == "agentnet-init" && sidecar == SIDECAR && always == "Always");
        self.t.check(
            Outcome::Injected,
            injected,
            "the webhook injected agentnet-init (the pod's capture rules) and agentnet-sidecar, a native sidecar (restartPolicy Always)",
        );
        self.t.shows("kubectl -n agents get pod demo-agent -o wide");
        let listing = self.kubectl(&["-n", "agents", "get", "pod", "demo-agent", "-o", "wide"])?;
        self.t.indent(&listing);
        let (sidecar, app) = (
            container_status(&pod, SIDECAR),
            container_status(&pod, "agent"),
        );
        let ready =
            |c: Option<&k8s_openapi::api::core::v1::ContainerStatus>| c.is_some_and(|c| c.ready);
        self.t.check(
            Outcome::PodRunning,
            ready(sidecar) && ready(app),
            "Pod agents/demo-agent Running: the sidecar and the agent container both ready (2/2)",
        );
        let started = |c: Option<&k8s_openapi::api::core::v1::ContainerStatus>| {
            c.and_then(|c| c.state.as_ref()?.running.as_ref()?.started_at.clone())
        };
        let order = match (started(sidecar), started(app)) {
            (Some(s), Some(a)) => s.0 <= a.0,
            _ => false,
        };
        self.t.check(
            Outcome::SidecarFirst,
            order,
            "the kubelet started the sidecar first and the agent container only once its startup probe passed",
        );
        Ok(pod)
    }

    fn identity(&mut self, pod: &Pod) -> Result<()> {
        self.t.step("6. The sidecar's identity and policy");
        self.t.shows(
            "kubectl -n agents exec demo-agent -c agentnet-sidecar -- agentnet-sidecar status",
        );
        let text = pods::exec_ok(
            self.cp,
            "agents",
            "demo-agent",
            SIDECAR,
            &["agentnet-sidecar", "status"],
        )?;
        self.t.indent(&text);
        let status: Value = serde_json::from_str(&pods::exec_ok(
            self.cp,
            "agents",
            "demo-agent",
            SIDECAR,
            &["agentnet-sidecar", "status", "--json"],
        )?)?;
        let spiffe = status["certificate"]["spiffeId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.t.check(
            Outcome::Certified,
            spiffe == AGENT,
            format!("the sidecar holds an X.509-SVID for {spiffe} from the identity service (TokenReview of its projected token)"),
        );
        let synced = status["policy"]["synced"] == true;
        self.t.check(
            Outcome::Synced,
            synced && status["ready"] == true,
            format!(
                "its policy has synced (generation {}) and it is ready",
                status["policy"]["generation"]
            ),
        );
        let _ = pod;
        Ok(())
    }

    /// Runs a command in the agent container; its stdout parsed as JSON.
    fn agent_json(&self, cmd: &[&str]) -> Result<Value> {
        let out = exec(self.cp, "agents", "demo-agent", "agent", cmd)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim())
            .with_context(|| format!("{cmd:?} printed no JSON: {}", output_text(&out)))
    }

    // --- 7. MCP -----------------------------------------------------------------------

    fn mcp_calls(&mut self) -> Result<()> {
        self.t
            .step("7. The official MCP Python SDK client, inside the agent container");
        let everything = "http://mcp-everything.tools:3001/mcp";
        self.t.shows(&format!(
            "kubectl -n agents exec demo-agent -c agent -- mcp_client.py {everything} list-tools call:get-sum call:echo"
        ));
        self.t
            .say("(the app container's HTTP_PROXY, set by the webhook, is the sidecar)");
        let res = self.agent_json(&[
            "mcp_client.py",
            everything,
            "list-tools",
            r#"call:get-sum:{"a":2,"b":3}"#,
            r#"call:echo:{"message":"hello"}"#,
        ])?;
        let tools = at(&res, "results.0.result.tools");
        self.t.check(
            Outcome::ToolsListFiltered,
            tools == serde_json::json!(["get-sum", "get-tiny-image"]),
            format!("tools/list filtered: demo-agent sees {tools} of server-everything's tools"),
        );
        let sum = at(&res, "results.1.result.text.0");
        self.t.check(
            Outcome::GetSumAllowed,
            sum == "The sum of 2 and 3 is 5.",
            format!("get-sum {{a: 2, b: 3}} answered: {}", plain(&sum)),
        );
        let (code, policy) = (
            at(&res, "results.2.error.code"),
            at(&res, "results.2.error.data.policy"),
        );
        self.t.check(
            Outcome::EchoDenied,
            code == 403 && policy == "tools/everything-tools",
            format!(
                "echo denied: JSON-RPC error {code} \"{}\" data.policy {}",
                plain(&at(&res, "results.2.error.message")),
                plain(&policy)
            ),
        );
        let why = pods::exec_ok(
            self.cp,
            "agents",
            "demo-agent",
            SIDECAR,
            &[
                "agentnet-sidecar",
                "explain",
                "--backend",
                "tools/everything",
                "--tool",
                "echo",
                "--json",
            ],
        )?;
        let why: Value = serde_json::from_str(&why)?;
        let rule = at(&why, "steps.0.rule");
        self.t.check(
            Outcome::EchoRuleNamed,
            rule == "demo-agent-tools",
            format!(
                "the rule that did not admit it (explain): {}: {}",
                plain(&rule),
                plain(&at(&why, "steps.0.outcome"))
            ),
        );
        let py_tools = "http://127.0.0.1:15001/backends/tools/py-tools/mcp";
        self.t.shows(&format!(
            "kubectl -n agents exec demo-agent -c agent -- mcp_client.py {py_tools} list-tools call:add call:get-secret"
        ));
        let res = self.agent_json(&[
            "mcp_client.py",
            py_tools,
            "list-tools",
            r#"call:add:{"a":2,"b":3}"#,
            "call:get-secret",
        ])?;
        let tools = at(&res, "results.0.result.tools");
        self.t.check(
            Outcome::PyToolsFiltered,
            tools == serde_json::json!(["add"]),
            format!("via the sidecar's /backends/ path: tools/list shows {tools}"),
        );
        let added = at(&res, "results.1.result.text.0");
        self.t.check(
            Outcome::PyAddAllowed,
            added == "5",
            format!("add {{a: 2, b: 3}} answered: {}", plain(&added)),
        );
        let (code, policy) = (
            at(&res, "results.2.error.code"),
            at(&res, "results.2.error.data.policy"),
        );
        self.t.check(
            Outcome::PySecretDenied,
            code == 403 && policy == "tools/py-tools",
            format!("get-secret denied: error {code}, policy {}", plain(&policy)),
        );
        Ok(())
    }

    // --- 8. live edit -----------------------------------------------------------------

    async fn live_edit(&mut self) -> Result<()> {
        self.t.step("8. Edit the policy live: allow echo too");
        let patch = r#"[{"op": "add", "path": "/spec/rules/0/authorization/mcp/methods/0/params/-", "value": "echo"}]"#;
        self.t.shows(&format!(
            "kubectl -n tools patch xaccesspolicy everything-tools --type=json -p '{patch}'"
        ));
        let edited = Instant::now();
        self.kubectl(&[
            "-n",
            "tools",
            "patch",
            "xaccesspolicy",
            "everything-tools",
            "--type=json",
            "-p",
            patch,
        ])?;
        let cp = self.cp;
        eventually(
            "the sidecar to enforce the edit",
            Duration::from_secs(30),
            || async {
                let why = pods::exec_ok(
                    cp,
                    "agents",
                    "demo-agent",
                    SIDECAR,
                    &[
                        "agentnet-sidecar",
                        "explain",
                        "--backend",
                        "tools/everything",
                        "--tool",
                        "echo",
                        "--json",
                    ],
                )?;
                let why: Value = serde_json::from_str(&why)?;
                Ok((why["decision"] == "allow").then_some(()))
            },
        )
        .await?;
        self.t.say(&format!(
            "the sidecar enforces the edited policy within {:.1}s of the patch (as seen through kubectl exec)",
            edited.elapsed().as_secs_f64()
        ));
        let res = self.agent_json(&[
            "mcp_client.py",
            "http://mcp-everything.tools:3001/mcp",
            r#"call:echo:{"message":"hello"}"#,
        ])?;
        let echoed = at(&res, "results.0.result.text.0");
        self.t.check(
            Outcome::EchoAllowedAfterEdit,
            echoed == "Echo: hello",
            format!("echo {{message: hello}} now answered: {}", plain(&echoed)),
        );
        Ok(())
    }

    // --- 9. A2A -----------------------------------------------------------------------

    async fn a2a_calls(&mut self) -> Result<()> {
        self.t
            .step("9. An A2A exchange with a2a-sdk: one skill allowed, one denied");
        let url = "http://summarizer.tools:9999/";
        self.t.shows(&format!(
            "kubectl -n agents exec demo-agent -c agent -- a2a_client.py {url} --skill summarize"
        ));
        let res = self.agent_json(&[
            "a2a_client.py",
            url,
            "--skill",
            "summarize",
            "--text",
            "agentnet mediates agent calls",
        ])?;
        let skills = at(&res, "card.skills");
        self.t.check(
            Outcome::A2aCard,
            skills == serde_json::json!(["summarize", "translate"]),
            format!(
                "agent card fetched through the sidecar: {}, skills {skills}",
                plain(&at(&res, "card.name"))
            ),
        );
        let text = at(&res, "texts.-1");
        self.t.check(
            Outcome::A2aSummarizeAllowed,
            res["ok"] == true && text == "skill=summarize text=agentnet mediates agent calls",
            format!(
                "SendMessage, skill summarize: answered \"{}\"",
                plain(&text)
            ),
        );
        let before = self.summarizer_requests().await?;
        self.t.shows(&format!(
            "kubectl -n agents exec demo-agent -c agent -- a2a_client.py {url} --skill translate"
        ));
        let res = self.agent_json(&["a2a_client.py", url, "--skill", "translate"])?;
        let error = res["error"].as_str().unwrap_or_default().to_owned();
        self.t.check(
            Outcome::A2aTranslateDenied,
            res["ok"] == false && error.contains("forbidden"),
            format!(
                "SendMessage, skill translate: denied: {}",
                truncate(&error, 110)
            ),
        );
        let after = self.summarizer_requests().await?;
        self.t.check(
            Outcome::A2aTranslateNotForwarded,
            before == after,
            format!("the denied message never reached the agent (it counted {before} JSON-RPC requests before and {after} after)"),
        );
        Ok(())
    }

    /// The summarizer's own count of JSON-RPC requests (its /stats, from the node).
    async fn summarizer_requests(&self) -> Result<u64> {
        let ip = self.kubectl(&[
            "-n",
            "tools",
            "get",
            "pods",
            "-l",
            "app=summarizer",
            "-o",
            "jsonpath={.items[0].status.podIP}",
        ])?;
        let reply = crate::http_get(&format!("{ip}:9999"), "/stats").await?;
        let stats: Value = serde_json::from_str(&reply)?;
        stats["rpc_requests"]
            .as_u64()
            .context("no rpc_requests in /stats")
    }

    // --- 10. explain, audit, metrics --------------------------------------------------

    async fn evidence(&mut self, pod: &Pod) -> Result<()> {
        self.t
            .step("10. Why was it denied? explain, the audit log and the metrics");
        let mut explained = String::new();
        for query in [
            [
                "--backend",
                "tools/summarizer",
                "--method",
                "SendMessage",
                "--skill",
                "translate",
            ]
            .as_slice(),
            ["--backend", "tools/py-tools", "--tool", "get-secret"].as_slice(),
        ] {
            self.t.shows(&format!(
                "kubectl -n agents exec demo-agent -c agentnet-sidecar -- agentnet-sidecar explain {}",
                query.join(" ")
            ));
            let mut cmd = vec!["agentnet-sidecar", "explain"];
            cmd.extend_from_slice(query);
            let text = pods::exec_ok(self.cp, "agents", "demo-agent", SIDECAR, &cmd)?;
            self.t.indent(&text);
            explained.push_str(&text);
        }
        self.t.check(
            Outcome::ExplainNamesRules,
            explained.contains("policy tools/summarizer-skills rule demo-agent-summarize")
                && explained.contains("skill is not one the rule lists")
                && explained.contains("DENY"),
            "explain names the deciding policies and the rules that did not match (DENY)",
        );
        self.explain = explained;
        self.t.shows("kubectl -n agents logs demo-agent -c agentnet-sidecar | grep '\"message\":\"decision\"'");
        let logs = pods::logs(self.cp, "agents", "demo-agent", SIDECAR, false)?;
        self.audit = audit::decisions(&logs);
        self.t.indent(&audit::table(&self.audit));
        let has = |pairs: &[(&str, Option<&str>)]| audit::has(&self.audit, pairs);
        let ok = has(&[
            ("target", Some("get-sum")),
            ("decision", Some("allow")),
            ("policy", Some("tools/everything-tools")),
            ("rule", Some("demo-agent-tools")),
        ]) && has(&[
            ("target", Some("echo")),
            ("decision", Some("deny")),
            ("policy", Some("tools/everything-tools")),
            ("rule", None),
        ]) && has(&[
            ("target", Some("echo")),
            ("decision", Some("allow")),
            ("rule", Some("demo-agent-tools")),
        ]) && has(&[
            ("backend", Some("tools/summarizer")),
            ("target", Some("summarize")),
            ("decision", Some("allow")),
            ("rule", Some("demo-agent-summarize")),
        ]) && has(&[
            ("backend", Some("tools/summarizer")),
            ("target", Some("translate")),
            ("decision", Some("deny")),
            ("policy", Some("tools/summarizer-skills")),
        ]);
        self.t.check(
            Outcome::AuditLines,
            ok,
            "audit lines for every decision: get-sum allowed and echo denied by tools/everything-tools, echo allowed after the edit, summarize allowed and translate denied",
        );
        let ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .context("the agent Pod has no IP")?;
        self.t.shows(&format!(
            "curl http://{ip}:15000/metrics     # the sidecar's Prometheus endpoint"
        ));
        self.metrics = crate::http_get(&format!("{ip}:15000"), "/metrics").await?;
        let samples: Vec<&str> = self
            .metrics
            .lines()
            .filter(|l| l.starts_with("agentnet_requests_total{") && !l.ends_with(" 0"))
            .collect();
        self.t.indent(&samples.join("\n"));
        let series = |b: &str, p: &str, m: &str, d: &str| {
            let key = format!(
                "agentnet_requests_total{{backend=\"{b}\",protocol=\"{p}\",method=\"{m}\",decision=\"{d}\"}}"
            );
            self.metrics.contains(&key)
        };
        self.t.check(
            Outcome::Metrics,
            series("tools/everything", "mcp", "tools/call", "allow")
                && series("tools/everything", "mcp", "tools/call", "deny")
                && series("tools/summarizer", "a2a", "SendMessage", "allow")
                && series("tools/summarizer", "a2a", "SendMessage", "deny"),
            "the counters match: tools/call allowed and denied on tools/everything, SendMessage allowed and denied on tools/summarizer",
        );
        Ok(())
    }

    // --- 11. teardown -----------------------------------------------------------------

    async fn teardown(&mut self) {
        self.t.step("11. Teardown");
        self.t.shows("kubectl delete namespace agents tools");
        let deleted = self.cp.kubectl(&[
            "delete",
            "namespace",
            "agents",
            "tools",
            "--ignore-not-found",
            "--timeout=90s",
        ]);
        let port = self
            .servers
            .as_ref()
            .map(|s| (s.host_ip.clone(), s.everything_port));
        if let Some(servers) = self.servers.take() {
            servers.stop();
        }
        let gone = deleted.is_ok_and(|o| o.status.success());
        let closed = match port {
            Some((ip, port)) => std::net::TcpStream::connect((ip.as_str(), port)).is_err(),
            None => true,
        };
        self.t.check(
            Outcome::Teardown,
            gone && closed,
            "the demo's namespaces (and their Pods) are deleted and server-everything is stopped",
        );
    }

    fn report(&mut self) -> Report {
        let ok = self.t.failed() == 0
            && Outcome::ALL
                .iter()
                .all(|o| self.t.checks.iter().any(|c| c.outcome == *o));
        Report {
            ok,
            outcomes: self.t.checks.clone(),
            metrics: std::mem::take(&mut self.metrics),
            audit: std::mem::take(&mut self.audit),
            explain: std::mem::take(&mut self.explain),
            sidecar_rss_kb: self.rss,
            transcript: self.t.plain().to_owned(),
        }
    }
}

/// The sidecar process's VmRSS in kB, read from /proc on the node.
pub fn sidecar_rss_kb(cp: &ControlPlane, pod: &Pod) -> Result<u64> {
    let pid = container_pid(cp, pod, SIDECAR)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// The value at a dotted path (`a.0.b`, `-1` for the last element); `null` if none.
pub fn at(value: &Value, path: &str) -> Value {
    let mut v = value;
    for part in path.split('.') {
        v = match (v, part.parse::<i64>()) {
            (Value::Array(items), Ok(i)) => {
                let index = if i < 0 { items.len() as i64 + i } else { i };
                match usize::try_from(index).ok().and_then(|i| items.get(i)) {
                    Some(item) => item,
                    None => return Value::Null,
                }
            }
            _ => match v.get(part) {
                Some(next) => next,
                None => return Value::Null,
            },
        };
    }
    v.clone()
}

/// A JSON value for the transcript: strings without their quotes.
fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
