//! agentnet-sidecar: run the proxy (default) or `explain` a decision.

use std::process::ExitCode;

use agentnet_sidecar::config::{Cli, Command, Config};
use agentnet_sidecar::{app, capture, explain, memory, status, telemetry};
use anyhow::{Context, Result};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    memory::tune_allocator();
    let cli = Cli::parse();
    // The init container's job runs to completion before anything async exists.
    if let Some(Command::Init(args)) = cli.command {
        return match capture::run(args) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "agentnet-sidecar init: {e}; the pod must not start without its capture rules"
                );
                ExitCode::FAILURE
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.run.workers)
        .enable_all()
        .build();
    let outcome = runtime
        .context("starting the async runtime")
        .and_then(|rt| {
            rt.block_on(async {
                match cli.command {
                    Some(Command::Explain(args)) => explain::run(*args)
                        .await
                        .map(|out| println!("{out}"))
                        .map_err(Into::into),
                    Some(Command::Status(args)) => status::run(args)
                        .await
                        .map(|out| println!("{out}"))
                        .map_err(Into::into),
                    Some(Command::Init(_)) => Ok(()),
                    None => run(cli.run).await,
                }
            })
        });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agentnet-sidecar: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<()> {
    telemetry::init(&config.log).context("--log")?;
    // The one TLS provider, for both the upstream client and the Kubernetes client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing::info!(config = %serde_json::to_string(&config)?, "starting");
    let running = app::start(config).await?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    running.shutdown().await
}
