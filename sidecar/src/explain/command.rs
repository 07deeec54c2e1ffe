//! The `explain` command: asks a running sidecar's `/explain`, or compiles a
//! `--config-dir` and evaluates the query itself.

use std::path::PathBuf;

use agentnet_policy::{Settings, Source, compile};
use http::StatusCode;

use super::{ExplainArgs, ExplainError, ExplainQuery, request, to_json};
use crate::listeners::admin::client::AdminError;
use crate::policy_source::dir::DirSource;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Explain(#[from] ExplainError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error("reading {dir}: {message}")]
    ConfigDir { dir: String, message: String },
}

const JSON: &str = "application/json";
const TEXT: &str = "text/plain";

/// The explanation, as text or JSON.
pub async fn run(args: ExplainArgs) -> Result<String, CommandError> {
    match &args.config_dir {
        Some(_) => local(args).await,
        None => remote(&args).await,
    }
}

async fn remote(args: &ExplainArgs) -> Result<String, CommandError> {
    let path = format!("/explain?{}", query_string(&args.query));
    let accept = if args.json { JSON } else { TEXT };
    let (status, text) =
        crate::listeners::admin::client::get(args.admin_addr, &path, accept).await?;
    match status {
        StatusCode::OK => Ok(text),
        _ => Err(CommandError::Admin(AdminError {
            addr: args.admin_addr.to_string(),
            message: format!("{status}: {text}"),
        })),
    }
}

async fn local(args: ExplainArgs) -> Result<String, CommandError> {
    let dir = args.config_dir.clone().unwrap_or_default();
    let source = scan(dir).await?;
    let skipped = source.problems().into_iter();
    let warnings = skipped.map(|p| format!("warning: skipped {}: {}", p.source, p.message));
    let (trust_domain, cluster_domain) = (args.trust_domain.clone(), args.cluster_domain.clone());
    let backend_default = args.backend_default;
    let settings = Settings {
        trust_domain,
        cluster_domain,
        backend_default,
    };
    let index = compile(&source.snapshot(), &settings);
    let explanation = index.explain(&request(&index, &args.query, &Source::anonymous())?);
    let out = match args.json {
        true => to_json(&explanation).to_string(),
        false => explanation.to_string(),
    };
    Ok(warnings.chain([out]).collect::<Vec<_>>().join("\n"))
}

/// Reads the directory off the async threads.
async fn scan(dir: PathBuf) -> Result<DirSource, CommandError> {
    let failed = |message: String| CommandError::ConfigDir {
        dir: dir.display().to_string(),
        message,
    };
    let mut source = DirSource::new(dir.clone());
    let scanned = tokio::task::spawn_blocking(move || source.scan().map(|_| source));
    scanned
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e| failed(e.to_string()))
}

/// `key=value&…` of the query's set fields, percent-encoded.
fn query_string(q: &ExplainQuery) -> String {
    let fields = [
        ("backend", Some(&q.backend)),
        ("source", q.source.as_ref()),
        ("method", q.method.as_ref()),
        ("tool", q.tool.as_ref()),
        ("prompt", q.prompt.as_ref()),
        ("uri", q.uri.as_ref()),
        ("skill", q.skill.as_ref()),
        ("http_method", q.http_method.as_ref()),
        ("path", q.path.as_ref()),
    ];
    let pairs = fields
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v))));
    pairs.collect::<Vec<_>>().join("&")
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        let q = ExplainQuery {
            backend: "tools/mcp".into(),
            tool: Some("get sum&x".into()),
            ..Default::default()
        };
        assert_eq!(query_string(&q), "backend=tools%2Fmcp&tool=get%20sum%26x");
    }
}
