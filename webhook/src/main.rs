use clap::Parser;

use agentnet_webhook::config::{CaCli, Config};
use agentnet_webhook::{app, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `agentnet-webhook ca …` manages the identity CAs instead of serving.
    if let Some(cli) = CaCli::from_args() {
        return app::run_ca(cli).await;
    }
    // `agentnet-webhook proxy-status` lists the sidecars this replica serves.
    if let Some(cli) = agentnet_webhook::proxy_status::ProxyStatusCli::from_args() {
        print!("{}", agentnet_webhook::proxy_status::run(cli).await?);
        return Ok(());
    }
    let config = Config::parse();
    telemetry::init(&config.log)?;
    config.validate()?;
    app::run(config).await
}
