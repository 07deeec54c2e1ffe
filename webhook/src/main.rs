use clap::Parser;

use agentnet_webhook::{app, config::Config, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(&config.log)?;
    config.validate()?;
    app::run(config).await
}
