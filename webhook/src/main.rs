use clap::Parser;

use agentnet_webhook::config::{CaCli, Config};
use agentnet_webhook::{app, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `agentnet-webhook ca …` manages the identity CAs instead of serving.
    if let Some(cli) = CaCli::from_args() {
        return app::run_ca(cli).await;
    }
    let config = Config::parse();
    telemetry::init(&config.log)?;
    config.validate()?;
    app::run(config).await
}
